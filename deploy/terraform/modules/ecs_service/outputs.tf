output "security_group_id" {
  description = "Security group of the tasks; the caller adds the ingress and mesh egress rules."
  value       = aws_security_group.this.id
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.this.name
}

output "discovery_service_arn" {
  description = "ARN of the Cloud Map service the tasks register in (API Gateway integrates with it)."
  value       = aws_service_discovery_service.this.arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the containers."
  value       = aws_cloudwatch_log_group.this.name
}

output "task_role_arn" {
  description = "Role the application runs as."
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "Name of the role the application runs as (the workflow module adds orders' Step Functions calls to it)."
  value       = aws_iam_role.task.name
}
