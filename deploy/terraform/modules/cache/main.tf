# One ElastiCache (Valkey) replication group per service with store: redis, the
# cache that service alone owns. TLS only, encrypted at rest with the
# environment's key, an AUTH token from Secrets Manager. Callers are admitted
# by the environment root (security.tf), like the database's.
#
# The AUTH token: Secrets Manager makes it during apply and Terraform writes it
# into the secret through a write-only argument. The provider (5.x) has no
# write-only auth_token on the replication group, so Terraform reads the secret
# back (data source) to pass it: the token is in the state, twice (the data
# source's secret_string and the group's auth_token), both marked sensitive,
# never in the plan's output. Keep the state where only operators can read it
# (the S3 backend, docs/deploy.md).

locals {
  port = 6379
}

resource "aws_elasticache_subnet_group" "this" {
  name        = var.name
  description = "Private subnets of ${var.name}'s caches"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_security_group" "cache" {
  for_each    = toset(var.caches)
  name        = "${var.name}-${each.key}-cache"
  description = "Cache of ${each.key}: ingress only from the ${each.key} tasks"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-${each.key}-cache", Service = each.key })
}

ephemeral "aws_secretsmanager_random_password" "auth_token" {
  for_each = toset(var.caches)
  # ElastiCache takes 16-128 printable characters without @, " or /: letters and digits.
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "auth_token" {
  #checkov:skip=CKV2_AWS_57:Replaced on demand (auth_token_version: a new token, ElastiCache's ROTATE strategy keeps the old one valid until the next change, tasks pick it up at start) instead of by a rotation Lambda.
  for_each                = toset(var.caches)
  name_prefix             = "${var.name}/${each.key}/cache-auth-"
  description             = "AUTH token of the ${each.key} service's cache (JSON key auth_token)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = merge(var.tags, { Service = each.key })
}

resource "aws_secretsmanager_secret_version" "auth_token" {
  for_each                 = toset(var.caches)
  secret_id                = aws_secretsmanager_secret.auth_token[each.key].id
  secret_string_wo         = jsonencode({ auth_token = ephemeral.aws_secretsmanager_random_password.auth_token[each.key].random_password })
  secret_string_wo_version = var.auth_token_version
}

# Read back for the replication group (see the note at the top). It depends on
# the version above, so a new auth_token_version is read during apply.
data "aws_secretsmanager_secret_version" "auth_token" {
  for_each   = toset(var.caches)
  secret_id  = aws_secretsmanager_secret_version.auth_token[each.key].secret_id
  version_id = aws_secretsmanager_secret_version.auth_token[each.key].version_id
}

# ElastiCache would not create these itself; made here, they have our
# retention and key, and destroy removes them.
resource "aws_cloudwatch_log_group" "slow_log" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  for_each          = toset(var.caches)
  name              = "/aws/elasticache/${var.name}/${each.key}/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = merge(var.tags, { Service = each.key })
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV2_AWS_50:Automatic failover and Multi-AZ need a replica (var.replicas, var.multi_az), off by default in dev for cost; a lost node loses the carts in it (they are a convenience, orders are in PostgreSQL).
  for_each             = toset(var.caches)
  replication_group_id = "${var.name}-${each.key}"
  description          = "${each.key} service's store (services.yaml store: redis)"

  engine               = "valkey"
  engine_version       = var.engine_version
  parameter_group_name = "default.valkey${split(".", var.engine_version)[0]}"
  node_type            = var.node_type
  num_cache_clusters   = 1 + var.replicas
  port                 = local.port

  automatic_failover_enabled = var.replicas > 0
  multi_az_enabled           = var.multi_az

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.cache[each.key].id]

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = jsondecode(data.aws_secretsmanager_secret_version.auth_token[each.key].secret_string).auth_token
  # A new token is accepted beside the old one, so running tasks keep working
  # until they are replaced (they read the secret at start).
  auth_token_update_strategy = "ROTATE"
  apply_immediately          = true

  auto_minor_version_upgrade = true
  maintenance_window         = "sun:05:30-sun:06:30"
  # No backups by default: a cart is two weeks of convenience, not a record.
  snapshot_retention_limit = var.snapshot_retention_days
  snapshot_window          = "03:00-04:00"

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow_log[each.key].name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = merge(var.tags, { Service = each.key })
}
