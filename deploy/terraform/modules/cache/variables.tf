variable "name" {
  type        = string
  description = "Prefix of the replication groups (<name>-<service>), the subnet group and the other resources."

  validation {
    # A replication group id is at most 40 characters; leave room for the service name.
    condition     = can(regex("^[a-z][a-z0-9-]{1,24}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3-26 lowercase letters, digits and single hyphens, starting with a letter."
  }
}

variable "caches" {
  type        = list(string)
  description = "Names of the services with store: redis; each gets a replication group of its own."

  validation {
    condition     = alltrue([for c in var.caches : can(regex("^[a-z][a-z0-9]{0,12}$", c))])
    error_message = "Each service name must be 1-13 lowercase letters and digits (it ends the replication group id)."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the caches' security groups."

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets (at least two availability zones, for a replica in another zone)."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "The cache subnet group needs subnets in at least two availability zones."
  }
}

variable "engine_version" {
  type        = string
  description = "Valkey version, major.minor (the default parameter group of its major is used)."
  default     = "8.0"

  validation {
    condition     = can(regex("^[78]\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be a Valkey 7.x or 8.x version such as \"8.0\"."
  }
}

variable "node_type" {
  type        = string
  description = "ElastiCache node type of every node."
  default     = "cache.t4g.micro"

  validation {
    condition     = startswith(var.node_type, "cache.")
    error_message = "node_type must be an ElastiCache node type such as cache.t4g.micro."
  }
}

variable "replicas" {
  type        = number
  description = "Read replicas beside the primary; with one or more, a failed primary fails over to a replica (automatic failover)."
  default     = 0

  validation {
    condition     = var.replicas >= 0 && var.replicas <= 5 && floor(var.replicas) == var.replicas
    error_message = "replicas must be a whole number from 0 to 5."
  }
}

variable "multi_az" {
  type        = bool
  description = "Place the replicas in other availability zones than the primary (needs replicas >= 1)."
  default     = false

  validation {
    condition     = !var.multi_az || var.replicas >= 1
    error_message = "multi_az needs replicas >= 1."
  }
}

variable "snapshot_retention_days" {
  type        = number
  description = "Days of daily snapshots (0: none)."
  default     = 0

  validation {
    condition     = var.snapshot_retention_days >= 0 && var.snapshot_retention_days <= 35
    error_message = "snapshot_retention_days must be between 0 and 35."
  }
}

variable "auth_token_version" {
  type        = number
  description = "Version of the AUTH tokens: raise it to write new random tokens (ROTATE: the old one stays valid until the next change)."
  default     = 1

  validation {
    condition     = var.auth_token_version >= 1 && floor(var.auth_token_version) == var.auth_token_version
    error_message = "auth_token_version must be a positive integer."
  }
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted AUTH token secret can still be restored (0 deletes at once)."
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the slow-log groups, in days."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for the caches' storage and snapshots, the AUTH token secrets and the slow-log groups."

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
