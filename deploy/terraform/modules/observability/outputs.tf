output "collector_config" {
  description = "The ADOT collector's configuration (YAML) that every task's sidecar runs."
  value       = local.collector_config
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the mesh's own metrics."
  value       = var.metrics_namespace
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe a pager or chat integration here)."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.mesh.dashboard_name
}

output "alarm_names" {
  description = "Every alarm this module made."
  value = concat(
    [aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name, aws_cloudwatch_metric_alarm.api_p99.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.service_p99 : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.unhealthy_tasks : a.alarm_name],
    aws_cloudwatch_metric_alarm.db_cpu[*].alarm_name,
    aws_cloudwatch_metric_alarm.db_free_storage[*].alarm_name,
  )
}
