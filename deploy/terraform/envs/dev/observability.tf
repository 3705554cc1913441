# Observability on AWS: an ADOT collector sidecar in every task (spans to X-Ray,
# metrics to CloudWatch through EMF), a dashboard, alarms and their SNS topic.
# Kept in its own file: the settings below, the module call and its outputs.

variable "observability" {
  type        = bool
  description = "Run the ADOT collector sidecar in every task (traces to X-Ray, metrics to CloudWatch), with the dashboard and alarms. Off: no sidecar, tracing off, the metrics only counted in-process."
  default     = true
}

variable "adot_collector_image" {
  type        = string
  description = "Image of the AWS Distro for OpenTelemetry collector sidecar (pin a version; mirror it into your ECR where tasks have no internet)."
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"

  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.adot_collector_image))
    error_message = "adot_collector_image must be an image reference with a tag or digest."
  }
}

variable "trace_sample_ratio" {
  type        = number
  description = "Share of new traces recorded and sent to X-Ray (MESH_TRACES_SAMPLE_RATIO); the gateway decides, every hop after it follows."
  default     = 0.1

  validation {
    condition     = var.trace_sample_ratio >= 0 && var.trace_sample_ratio <= 1
    error_message = "trace_sample_ratio must be from 0 to 1."
  }
}

variable "alarm_email" {
  type        = string
  description = "E-mail address subscribed to the alarm topic (confirm the subscription mail); empty: subscribe something yourself."
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or empty."
  }
}

variable "alarm_p99_latency_ms" {
  type        = number
  description = "p99 latency (ms) above which the API and per-service alarms fire."
  default     = 1000

  validation {
    condition     = var.alarm_p99_latency_ms >= 10 && var.alarm_p99_latency_ms <= 30000
    error_message = "alarm_p99_latency_ms must be 10 to 30000."
  }
}

module "observability" {
  source = "../../modules/observability"
  count  = var.observability ? 1 : 0

  name                   = var.name
  cluster_name           = aws_ecs_cluster.this.name
  services               = { for name, svc in local.services : name => { protocol = svc.protocol, replicas = svc.replicas } }
  api_id                 = module.api_gateway.api_id
  db_instance_identifier = length(local.stores) > 0 ? module.data.instance_identifier : ""
  alarm_email            = var.alarm_email
  p99_latency_ms         = var.alarm_p99_latency_ms
  region                 = var.aws_region
  kms_key_arn            = aws_kms_key.this.arn
}

locals {
  # What modules/ecs_service runs beside each service (null: no sidecar).
  observability = var.observability ? {
    collector_image  = var.adot_collector_image
    collector_config = module.observability[0].collector_config
    sample_ratio     = var.trace_sample_ratio
  } : null
}

output "dashboard_url" {
  description = "The mesh's CloudWatch dashboard (empty with observability = false)."
  value       = var.observability ? "https://${var.aws_region}.console.aws.amazon.com/cloudwatch/home?region=${var.aws_region}#dashboards/dashboard/${module.observability[0].dashboard_name}" : ""
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify (empty with observability = false)."
  value       = var.observability ? module.observability[0].alarm_topic_arn : ""
}
