terraform {
  # 1.9+: a variable's validation may refer to another variable (multi_az needs replicas).
  # 1.11+: write-only arguments (the AUTH token's secret is written with one).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.88+: secret_string_wo and the aws_secretsmanager_random_password ephemeral resource.
      version = ">= 5.88, < 6.0"
    }
  }
}
