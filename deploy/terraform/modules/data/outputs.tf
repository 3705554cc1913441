# ARNs only: the values themselves reach tasks as ECS secrets, never as outputs.

output "security_group_id" {
  description = "Security group of the database; callers are admitted by the environment root."
  value       = aws_security_group.db.id
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed secret with the master user name and password (JSON keys username, password)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "connection_secret_arns" {
  description = "Per service: ARN of the secret with host, port, dbname and password_secret (the master user secret's ARN) as JSON keys."
  value       = { for name, secret in aws_secretsmanager_secret.connection : name => secret.arn }
}

output "instance_identifier" {
  description = "DB instance identifier (for the console, CLI and alarms)."
  value       = aws_db_instance.this.identifier
}
