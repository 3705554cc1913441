variable "name" {
  type        = string
  description = "Name of the API, VPC link and related resources."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the VPC link's security group."

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets the VPC link's network interfaces go in."

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "At least one subnet is needed."
  }
}

variable "cloudmap_service_arn" {
  type        = string
  description = "ARN of the REST gateway's Cloud Map service (needs SRV records)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:servicediscovery:", var.cloudmap_service_arn))
    error_message = "cloudmap_service_arn must be a Cloud Map service ARN."
  }
}

variable "target_security_group_id" {
  type        = string
  description = "Security group of the REST gateway tasks (the VPC link may reach only them)."

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

variable "integration_timeout_ms" {
  type        = number
  description = "How long API Gateway waits for the gateway, in milliseconds (HTTP APIs allow 30 s at most)."
  default     = 29000

  validation {
    condition     = var.integration_timeout_ms >= 50 && var.integration_timeout_ms <= 30000
    error_message = "integration_timeout_ms must be between 50 and 30000."
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

variable "jwt" {
  type = object({
    issuer   = string
    audience = list(string)
  })
  description = "Optional JWT authorizer (an OIDC issuer URL and accepted audiences); null leaves the API open."
  default     = null

  validation {
    condition     = var.jwt == null || (startswith(try(var.jwt.issuer, ""), "https://") && length(try(var.jwt.audience, [])) > 0)
    error_message = "jwt.issuer must be an https URL and jwt.audience must name at least one audience."
  }
}

variable "anonymous_routes" {
  type        = list(string)
  description = "Route keys (\"GET /v1/products/{name}\") that skip the JWT authorizer; only used with jwt. Everything else needs a token."
  default     = []

  validation {
    condition     = alltrue([for r in var.anonymous_routes : can(regex("^(GET|HEAD|OPTIONS|POST|PUT|PATCH|DELETE|ANY) /[^\\s]*$", r))])
    error_message = "anonymous_routes must be HTTP API route keys such as \"GET /v1/products/{name}\"."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the access log group, in days."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the access log group."

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
