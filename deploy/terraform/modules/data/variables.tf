variable "name" {
  type        = string
  description = "Identifier of the DB instance and prefix of related resources."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,50}$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the database security group."

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets in at least two availability zones."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "databases" {
  type        = list(string)
  description = "Names of the services that own a database; each gets a connection secret and a database of its own name."

  validation {
    condition     = alltrue([for d in var.databases : can(regex("^[a-z][a-z0-9_]{0,62}$", replace(d, "-", "_")))])
    error_message = "Each database name must be a valid PostgreSQL identifier once hyphens become underscores."
  }
}

variable "engine_version" {
  type        = string
  description = "PostgreSQL version (a major version such as \"16\" takes the default minor)."
  default     = "16"

  validation {
    condition     = can(regex("^1[4-9](\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 14 or newer, e.g. \"16\" or \"16.4\"."
  }
}

variable "instance_class" {
  type        = string
  description = "RDS instance class."
  default     = "db.t4g.micro"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class such as db.t4g.micro."
  }
}

variable "allocated_storage" {
  type        = number
  description = "Initial storage in GiB."
  default     = 20

  validation {
    condition     = var.allocated_storage >= 20 && var.allocated_storage <= 65536
    error_message = "allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "max_allocated_storage" {
  type        = number
  description = "Ceiling for storage autoscaling in GiB (must exceed allocated_storage)."
  default     = 100

  validation {
    condition     = var.max_allocated_storage >= 20 && var.max_allocated_storage <= 65536
    error_message = "max_allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "master_username" {
  type        = string
  description = "Master user name; its password is generated and kept in Secrets Manager by RDS."
  default     = "mesh_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.master_username)) && var.master_username != "postgres"
    error_message = "master_username must be 1-16 lowercase letters, digits or underscores, and not a reserved name."
  }
}

variable "multi_az" {
  type        = bool
  description = "Keep a synchronous standby in a second availability zone."
  default     = false
}

variable "backup_retention_days" {
  type        = number
  description = "Days of automated backups (point-in-time recovery window)."
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the instance (set false before terraform destroy)."
  default     = true
}

variable "skip_final_snapshot" {
  type        = bool
  description = "Delete without a final snapshot. A final snapshot is encrypted with kms_key_arn: it is only as restorable as that key lives."
  default     = false
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the exported PostgreSQL log groups, in days."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts."
  }
}

variable "performance_insights" {
  type        = bool
  description = "Turn on Performance Insights (7 days, free tier)."
  default     = true
}

variable "log_min_duration_ms" {
  type        = number
  description = "Log statements slower than this many milliseconds."
  default     = 500

  validation {
    condition     = var.log_min_duration_ms >= -1
    error_message = "log_min_duration_ms must be -1 (off) or more."
  }
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted connection secret can still be restored (0 deletes at once)."
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for storage, the master password secret, connection secrets and Performance Insights."

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
