variable "name" {
  type        = string
  description = "Environment name: prefix of the dashboard, the alarms and the SNS topic."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "cluster_name" {
  type        = string
  description = "ECS cluster of the mesh (ECS and Container Insights metrics)."

  validation {
    condition     = length(var.cluster_name) > 0
    error_message = "cluster_name must not be empty."
  }
}

variable "services" {
  type = map(object({
    protocol = string
    replicas = number
  }))
  description = "The mesh's services (from services.yaml): protocol (grpc or http) and desired task count."

  validation {
    condition     = alltrue([for s in values(var.services) : contains(["grpc", "http"], s.protocol) && s.replicas >= 1])
    error_message = "Each service needs protocol grpc or http and at least one replica."
  }
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace the collectors' EMF metrics land in."
  default     = "ShopMesh"

  validation {
    condition     = can(regex("^[A-Za-z0-9/_.-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be a custom CloudWatch namespace (not AWS/...)."
  }
}

variable "api_id" {
  type        = string
  description = "ID of the HTTP API in front of the gateway (its 4xx, 5xx and latency)."

  validation {
    condition     = length(var.api_id) > 0
    error_message = "api_id must not be empty."
  }
}

variable "db_instance_identifier" {
  type        = string
  description = "RDS instance to watch (CPU, free storage); empty: no database alarms."
  default     = ""

  validation {
    condition     = var.db_instance_identifier == "" || can(regex("^[a-z][a-z0-9-]{0,62}$", var.db_instance_identifier))
    error_message = "db_instance_identifier must be an RDS identifier or empty."
  }
}

variable "alarm_email" {
  type        = string
  description = "Address subscribed to the alarm topic (it must confirm the subscription); empty: none."
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or empty."
  }
}

variable "error_rate_percent" {
  type        = number
  description = "Alarm when more than this share of API requests answer 5xx over 5 minutes."
  default     = 1

  validation {
    condition     = var.error_rate_percent > 0 && var.error_rate_percent <= 100
    error_message = "error_rate_percent must be in (0, 100]."
  }
}

variable "p99_latency_ms" {
  type        = number
  description = "Alarm when a service's (or the API's) p99 latency stays above this many milliseconds."
  default     = 1000

  validation {
    condition     = var.p99_latency_ms >= 10 && var.p99_latency_ms <= 30000
    error_message = "p99_latency_ms must be 10 to 30000."
  }
}

variable "db_cpu_percent" {
  type        = number
  description = "Alarm when the database's CPU stays above this percentage."
  default     = 80

  validation {
    condition     = var.db_cpu_percent > 0 && var.db_cpu_percent <= 100
    error_message = "db_cpu_percent must be in (0, 100]."
  }
}

variable "db_free_storage_gib" {
  type        = number
  description = "Alarm when the database's free storage falls below this many GiB."
  default     = 2

  validation {
    condition     = var.db_free_storage_gib > 0
    error_message = "db_free_storage_gib must be positive."
  }
}

variable "region" {
  type        = string
  description = "AWS region of the collectors' exporters and the dashboard's widgets."

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-\\d$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the alarm topic."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
