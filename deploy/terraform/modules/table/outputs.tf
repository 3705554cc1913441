output "name" {
  description = "Name of the table (the service's <SERVICE>_DYNAMODB_TABLE)."
  value       = aws_dynamodb_table.this.name
}

output "arn" {
  description = "ARN of the table (its indexes are <arn>/index/<name>)."
  value       = aws_dynamodb_table.this.arn
}
