variable "name" {
  type        = string
  description = "Prefix for every resource name and the Name tag."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "cidr_block" {
  type        = string
  description = "IPv4 CIDR of the VPC; split into one public and one private /20 (for a /16) per availability zone."

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be a valid IPv4 CIDR of size /20 or larger."
  }
}

variable "az_count" {
  type        = number
  description = "How many availability zones to span (RDS subnet groups need at least two)."
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "egress_mode" {
  type        = string
  description = "How private subnets reach AWS APIs: \"nat\" (NAT gateway, also reaches the internet) or \"endpoints\" (VPC interface endpoints only, no internet)."
  default     = "nat"

  validation {
    condition     = contains(["nat", "endpoints"], var.egress_mode)
    error_message = "egress_mode must be \"nat\" or \"endpoints\"."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "With egress_mode = \"nat\": one NAT gateway for all zones (cheaper) instead of one per zone (survives a zone outage)."
  default     = true
}

variable "flow_log_retention_days" {
  type        = number
  description = "Retention of the VPC flow log group, in days."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention period CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the flow log group."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "dynamodb_table_arns" {
  type        = list(string)
  description = "The DynamoDB tables of the mesh (store: dynamodb). When there are any, a DynamoDB gateway endpoint admits exactly these and their indexes."
  default     = []

  validation {
    condition     = alltrue([for arn in var.dynamodb_table_arns : can(regex("^arn:aws[a-z-]*:dynamodb:[^:]+:[0-9]{12}:table/[A-Za-z0-9_.-]+$", arn))])
    error_message = "Each entry must be a DynamoDB table ARN (arn:...:dynamodb:REGION:ACCOUNT:table/NAME)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
