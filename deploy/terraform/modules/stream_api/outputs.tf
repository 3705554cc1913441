output "stream_url" {
  description = "Base URL of the streaming routes (the stage is part of it; no trailing slash)."
  value       = trimsuffix(aws_api_gateway_stage.this.invoke_url, "/")
}

output "rest_api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "target_group_arn" {
  description = "Target group the REST gateway's ECS service registers its tasks in (attached to the listener)."
  value       = aws_lb_target_group.gateway.arn
  # ECS refuses a target group that no load balancer uses yet.
  depends_on = [aws_lb_listener.gateway]
}

output "security_group_id" {
  description = "Security group of the load balancer; the REST gateway admits it."
  value       = aws_security_group.nlb.id
}

output "route_keys" {
  description = "The REST API's streaming routes (METHOD RESOURCE)."
  value       = sort(keys(local.routes))
}
