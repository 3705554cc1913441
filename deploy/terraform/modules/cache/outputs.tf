# Addresses and ARNs only: the token reaches tasks as an ECS secret, never as an output.

output "port" {
  description = "Port of every cache (TLS)."
  value       = local.port
}

output "security_group_ids" {
  description = "Per service: security group of its cache; the environment root admits the service's tasks."
  value       = { for name, group in aws_security_group.cache : name => group.id }
}

output "primary_endpoints" {
  description = "Per service: host name of its cache's primary (reads and writes; it follows a failover)."
  value       = { for name, group in aws_elasticache_replication_group.this : name => group.primary_endpoint_address }
}

output "auth_token_secret_arns" {
  description = "Per service: ARN of the secret holding its cache's AUTH token (JSON key auth_token)."
  value       = { for name, secret in aws_secretsmanager_secret.auth_token : name => secret.arn }
}

output "replication_group_ids" {
  description = "Per service: replication group id of its cache (for the console, CLI and alarms)."
  value       = { for name, group in aws_elasticache_replication_group.this : name => group.id }
}
