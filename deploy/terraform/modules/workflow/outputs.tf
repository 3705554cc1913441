output "state_machine_arn" {
  description = "ARN of the order fulfilment state machine (orders' MESH_WORKFLOW_STATE_MACHINE_ARN)."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_log_group_name" {
  description = "CloudWatch Logs group of the executions' transitions (no execution data)."
  value       = aws_cloudwatch_log_group.state_machine.name
}

output "function_names" {
  description = "Lambda function name per services.yaml function."
  value       = { for name, fn in aws_lambda_function.this : name => fn.function_name }
}

output "function_security_group_ids" {
  description = "Security group per function; the caller adds the egress to, and ingress on, the services it calls."
  value       = { for name, sg in aws_security_group.function : name => sg.id }
}

output "alarm_names" {
  description = "The failed and timed-out execution alarms."
  value       = [for a in aws_cloudwatch_metric_alarm.executions : a.alarm_name]
}
