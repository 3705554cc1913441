variable "name" {
  type        = string
  description = "Name prefix of the REST API, load balancer, VPC link and related resources."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lowercase letters, digits or hyphens, starting with a letter (the NLB's name is NAME-stream, at most 32 characters)."
  }
}

variable "routes" {
  type = list(object({
    method    = string
    resource  = string
    anonymous = bool
    scopes    = list(string)
  }))
  description = "Streaming routes from access.json (streaming_routes): HTTP method, REST API resource (a literal prefix and {proxy+}), whether it is open to anonymous callers, and the scopes a token needs."

  validation {
    condition     = length(var.routes) > 0 && alltrue([for r in var.routes : contains(["GET", "POST", "PUT", "PATCH", "DELETE"], r.method) && can(regex("^(/[A-Za-z0-9._-]+)+(/\\{proxy\\+\\})?$", r.resource))])
    error_message = "routes must name at least one route; each resource must be literal path parts (REST API path parts allow no ':') optionally ending in /{proxy+}."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the load balancer's security group."

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the internal Network Load Balancer."

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "At least one subnet is needed."
  }
}

variable "target_security_group_id" {
  type        = string
  description = "Security group of the REST gateway tasks (the load balancer may reach only them)."

  validation {
    condition     = startswith(var.target_security_group_id, "sg-")
    error_message = "target_security_group_id must be a security group ID (sg-...)."
  }
}

variable "target_port" {
  type        = number
  description = "Port of the REST gateway (services.yaml)."

  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535
    error_message = "target_port must be in 1..65535."
  }
}

variable "stream_timeout_seconds" {
  type        = number
  description = "How long a stream may last: the integration timeout (a REST API streams for 15 minutes at most). The gateway's own stream deadline must end first."
  default     = 900

  validation {
    condition     = var.stream_timeout_seconds >= 60 && var.stream_timeout_seconds <= 900 && floor(var.stream_timeout_seconds) == var.stream_timeout_seconds
    error_message = "stream_timeout_seconds must be a whole number of seconds from 60 to 900."
  }
}

variable "deregistration_delay_seconds" {
  type        = number
  description = "How long a leaving task keeps its open streams before the NLB closes them (ECS waits this long before SIGTERM)."
  default     = 30

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be between 0 and 3600."
  }
}

variable "cognito_user_pool_arn" {
  type        = string
  description = "User pool whose access tokens the REST API checks (COGNITO_USER_POOLS authorizer with the route's scopes); null: no authorizer at the REST API (auth = jwt or none), the gateway verifies tokens alone."
  default     = null

  validation {
    condition     = var.cognito_user_pool_arn == null || can(regex("^arn:aws[a-z-]*:cognito-idp:", var.cognito_user_pool_arn))
    error_message = "cognito_user_pool_arn must be a Cognito user pool ARN."
  }
}

variable "scope_prefix" {
  type        = string
  description = "What the pool puts before each scope in tokens (\"shop/\")."
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9._:/-]*$", var.scope_prefix))
    error_message = "scope_prefix may hold only letters, digits and . _ : / -."
  }
}

variable "throttling_rate_limit" {
  type        = number
  description = "Steady-state requests per second the stage admits."
  default     = 100

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit must be positive."
  }
}

variable "throttling_burst_limit" {
  type        = number
  description = "Burst of requests the stage admits."
  default     = 200

  validation {
    condition     = var.throttling_burst_limit > 0 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a positive integer."
  }
}

variable "manage_account_logging_role" {
  type        = bool
  description = "Make the account's API Gateway CloudWatch Logs role (one per account and Region, needed for a REST API's logs). False where something else manages it."
  default     = true
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the access and execution log groups, in days."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the log groups."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
