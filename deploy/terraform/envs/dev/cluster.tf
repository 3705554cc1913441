resource "aws_ecs_cluster" "this" {
  name = var.name

  depends_on = [aws_cloudwatch_log_group.container_insights]

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  # ECS Exec sessions (grpcurl from inside the VPC) are encrypted and logged.
  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.this.arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
      }
    }
  }
}

# Container Insights writes here, creating the group itself (never expiring)
# if it does not exist and leaving it behind on destroy; made here first, it
# has our retention and key and goes with the environment.
resource "aws_cloudwatch_log_group" "container_insights" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  name              = "/aws/ecs/containerinsights/${var.name}/performance"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_cloudwatch_log_group" "exec" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  name              = "/${var.name}/ecs-exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

# One customer-managed key for this environment's logs, images, secrets and database.
resource "aws_kms_key" "this" {
  description             = "${var.name}: logs, images, secrets, database and caches"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfThisAccount"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.aws_region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
