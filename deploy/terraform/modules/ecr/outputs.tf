output "repository_url" {
  description = "URL to tag and push images to (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN of the repository (execution roles may pull from it)."
  value       = aws_ecr_repository.this.arn
}
