# One PostgreSQL instance; each service with a store owns a database on it
# (database per service). The application creates its database on first start,
# so Terraform needs no postgresql provider and never handles a password: RDS
# keeps the master password in Secrets Manager, and each service gets a secret
# with the non-sensitive rest (host, port, dbname, and the ARN of the password's
# secret).

locals {
  major_version = split(".", var.engine_version)[0]
  log_exports   = ["postgresql", "upgrade"]
}

resource "aws_db_subnet_group" "this" {
  name        = var.name
  description = "Private subnets of ${var.name}"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "PostgreSQL of ${var.name}: ingress only from the services that own a database"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-db" })
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-postgres${local.major_version}-"
  family      = "postgres${local.major_version}"
  description = "TLS only, slow statements and DDL logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_ms)
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role" "monitoring" {
  name = "${var.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

data "aws_partition" "current" {}

# RDS writes its exported logs to /aws/rds/instance/<id>/<log>, creating the
# groups itself (never expiring, not encrypted with our key) if they do not
# exist, and leaving them behind on destroy. Made here first, they have our
# retention and key, and destroy removes them after the instance.
resource "aws_cloudwatch_log_group" "exports" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  for_each          = toset(local.log_exports)
  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is var.multi_az, off by default in dev for cost; turn it on for production.
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  port                   = 5432

  multi_az                            = var.multi_az
  backup_retention_period             = var.backup_retention_days
  backup_window                       = "03:00-04:00"
  maintenance_window                  = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = var.skip_final_snapshot
  final_snapshot_identifier           = "${var.name}-final"
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = local.log_exports

  performance_insights_enabled          = var.performance_insights
  performance_insights_kms_key_id       = var.performance_insights ? var.kms_key_arn : null
  performance_insights_retention_period = var.performance_insights ? 7 : null
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.monitoring, aws_cloudwatch_log_group.exports]
}

# Where each service's database lives. Nothing secret in it (the password is in
# the RDS-managed secret), but ECS injects it the same way so the task sees one
# consistent set of MESH_DB_* variables and no value appears in a task definition.
resource "aws_secretsmanager_secret" "connection" {
  #checkov:skip=CKV2_AWS_57:Holds host, port and database name only; nothing to rotate (the RDS-managed password secret rotates on its own).
  for_each                = toset(var.databases)
  name_prefix             = "${var.name}/${each.key}/connection-"
  description             = "Host, port and database name of the ${each.key} service's database"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = merge(var.tags, { Service = each.key })
}

resource "aws_secretsmanager_secret_version" "connection" {
  for_each  = toset(var.databases)
  secret_id = aws_secretsmanager_secret.connection[each.key].id
  secret_string = jsonencode({
    host   = aws_db_instance.this.address
    port   = tostring(aws_db_instance.this.port)
    dbname = each.key
    # Not the password: the ARN of the RDS-managed secret that holds it. The
    # application re-reads that secret for new connections (MESH_DB_PASSWORD_SECRET),
    # so a rotation needs no task restart.
    password_secret = aws_db_instance.this.master_user_secret[0].secret_arn
  })
}
