# The dev environment: the same mesh scripts/run starts locally, on ECS Fargate.
#
# The service list, ports and dependencies are read from services.yaml at the
# repository root, the file scripts/run and the mesh read: there is no copy to
# keep in sync. Adding a service there adds its ECS service, Cloud Map service,
# security-group rules and (with store: sql) its database here.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  topology = yamldecode(file("${path.module}/../../../../services.yaml"))

  # Defaults as in mesh/topology.py.
  services = {
    for name, svc in local.topology.services : name => {
      module     = svc.module
      port       = svc.port
      protocol   = try(svc.protocol, "grpc")
      depends_on = try(svc.depends_on, [])
      replicas   = try(svc.replicas, 1)
      store      = try(svc.store, "none")
      env        = try(svc.env, {})
      # Autoscaling from docs/capacity.md (services.yaml `scaling:`); max_replicas
      # and the module's 60 % for a service without one.
      cpu_target = try(svc.scaling.cpu_target, 60)
      max_tasks  = try(svc.scaling.max_tasks, var.max_replicas)
    }
  }

  # One entry per depends_on edge: the caller may open the callee's port.
  calls = merge([
    for caller, svc in local.services : {
      for callee in svc.depends_on : "${caller}-${callee}" => { caller = caller, callee = callee }
    }
  ]...)

  # store: sql gets a database on the RDS instance (redis: a cache, see cache.tf).
  stores = sort([for name, svc in local.services : name if svc.store == "sql"])

  # The REST gateway: the one http entry, which API Gateway forwards to.
  entry = one([for name, svc in local.services : name if svc.protocol == "http"])

  account_id = data.aws_caller_identity.current.account_id
  image      = "${module.ecr.repository_url}:${var.image_tag}"

  # What the contracts say about access (scopes; routes open to anonymous
  # callers), written from protos/ by scripts/access_manifest.py; a test fails
  # when it is stale.
  access = jsondecode(file("${path.module}/access.json"))

  # Who issues the tokens the API accepts: the user pool made here, the issuer
  # in var.jwt_authorizer, or nobody (auth = "none": only anonymous reads answer).
  jwt = var.auth == "none" ? null : {
    issuer       = var.auth == "cognito" ? module.identity[0].issuer : var.jwt_authorizer.issuer
    audience     = var.auth == "cognito" ? module.identity[0].audiences : var.jwt_authorizer.audience
    jwks_url     = var.auth == "cognito" ? module.identity[0].jwks_url : var.jwt_authorizer.jwks_url
    scope_prefix = var.auth == "cognito" ? module.identity[0].scope_prefix : var.jwt_authorizer.scope_prefix
  }

  # The REST gateway verifies every token itself too (API Gateway's authorizer
  # is the first check, not the only one).
  gateway_env = merge(
    {
      MESH_GATEWAY_AUTH = local.jwt == null ? "none" : "jwt"
      # API Gateway is the one proxy in front that appends to X-Forwarded-For.
      MESH_GATEWAY_TRUSTED_PROXIES = "1"
      # A watch ends (with a clean error line, "watch again") a minute before
      # the REST API would cut it; heartbeats keep it under the 5-minute idle limit.
      MESH_GATEWAY_STREAM_TIMEOUT           = tostring(var.stream_max_seconds - 60)
      MESH_GATEWAY_STREAM_HEARTBEAT_SECONDS = "15"
    },
    local.jwt == null ? {} : {
      MESH_GATEWAY_JWT_ISSUER       = local.jwt.issuer
      MESH_GATEWAY_JWKS_URL         = local.jwt.jwks_url
      # The gateway checks one audience (the browser client's id with Cognito).
      MESH_GATEWAY_JWT_AUDIENCE     = one(local.jwt.audience)
      MESH_GATEWAY_JWT_SCOPE_PREFIX = local.jwt.scope_prefix
    },
    # Shown in the gateway's OpenAPI document (the OAuth2 security scheme).
    var.auth == "cognito" ? {
      MESH_GATEWAY_OAUTH_AUTHORIZE_URL = module.identity[0].authorize_endpoint
      MESH_GATEWAY_OAUTH_TOKEN_URL     = module.identity[0].token_endpoint
    } : {},
  )
}

module "network" {
  source = "../../modules/network"

  name               = var.name
  cidr_block         = var.vpc_cidr
  az_count           = var.az_count
  egress_mode        = var.egress_mode
  single_nat_gateway = var.single_nat_gateway
  kms_key_arn        = aws_kms_key.this.arn
  # A DynamoDB gateway endpoint when a service has a table (dynamodb.tf).
  dynamodb_table_arns = [for name in local.tables : module.table[name].arn]
}

module "discovery" {
  source = "../../modules/discovery"

  # Per environment (shop-dev.shop.local): Cloud Map namespace names are unique
  # per account and Region, and the task roles may discover only in their own.
  namespace = "${var.name}.${local.topology.namespace}"
  vpc_id    = module.network.vpc_id
}

module "ecr" {
  source = "../../modules/ecr"

  name         = var.name
  kms_key_arn  = aws_kms_key.this.arn
  force_delete = var.ecr_force_delete
}

module "data" {
  source = "../../modules/data"

  name                  = var.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  databases             = local.stores
  engine_version        = var.db_engine_version
  instance_class        = var.db_instance_class
  allocated_storage     = var.db_allocated_storage
  multi_az              = var.db_multi_az
  backup_retention_days = var.db_backup_retention_days
  deletion_protection   = var.db_deletion_protection
  skip_final_snapshot   = var.db_skip_final_snapshot
  log_retention_days    = var.log_retention_days
  kms_key_arn           = aws_kms_key.this.arn
}

module "identity" {
  source = "../../modules/identity"
  count  = var.auth == "cognito" ? 1 : 0

  name                = var.name
  scopes              = local.access.scopes
  user_scopes         = var.cognito_user_scopes
  # The storefront's address joins the list (web.tf).
  callback_urls       = concat(var.cognito_callback_urls, local.web_callback_urls)
  logout_urls         = concat(var.cognito_logout_urls, local.web_logout_urls)
  threat_protection   = var.cognito_threat_protection
  deletion_protection = var.cognito_deletion_protection
}

module "service" {
  source   = "../../modules/ecs_service"
  for_each = local.services

  name          = each.key
  module        = each.value.module
  port          = each.value.port
  protocol      = each.value.protocol
  desired_count = each.value.replicas
  max_count     = max(each.value.replicas, each.value.max_tasks)
  discovers     = length(each.value.depends_on) > 0

  cpu_target_percent = each.value.cpu_target

  image            = local.image
  repository_arn   = module.ecr.repository_arn
  cpu              = try(var.task_sizes[each.key].cpu, var.task_cpu)
  memory           = try(var.task_sizes[each.key].memory, var.task_memory)
  cpu_architecture = var.cpu_architecture

  shutdown_grace_seconds = var.shutdown_grace_seconds
  drain_seconds          = each.value.protocol == "http" ? var.gateway_drain_seconds : 0
  environment            = merge(each.value.env, { MESH_LOG_LEVEL = var.log_level }, each.key == local.entry ? local.gateway_env : {}, lookup(local.cache_env, each.key, {}), lookup(local.table_env, each.key, {}), lookup(local.workflow_env, each.key, {}))
  # Database settings as ECS secrets: where from the per-service secret,
  # who and the password from the RDS-managed one. Never plain environment.
  # ECS injects them once, at start; RDS rotates the password (every 7 days by
  # default), so MESH_DB_PASSWORD is only the start-up value and the task
  # re-reads the RDS-managed secret (MESH_DB_PASSWORD_SECRET, its ARN) for new
  # connections, which its task role may do (runtime_secret_arns).
  # Every grpc service signs page tokens with MESH_PAGE_TOKEN_KEY (the whole
  # secret string); the version's secret_id makes ECS wait for the value.
  # A service with store: redis gets its cache's AUTH token as MESH_REDIS_PASSWORD.
  secrets = merge(
    each.value.store == "sql" ? {
      MESH_DB_HOST            = "${module.data.connection_secret_arns[each.key]}:host::"
      MESH_DB_PORT            = "${module.data.connection_secret_arns[each.key]}:port::"
      MESH_DB_NAME            = "${module.data.connection_secret_arns[each.key]}:dbname::"
      MESH_DB_PASSWORD_SECRET = "${module.data.connection_secret_arns[each.key]}:password_secret::"
      MESH_DB_USER            = "${module.data.master_user_secret_arn}:username::"
      MESH_DB_PASSWORD        = "${module.data.master_user_secret_arn}:password::"
    } : {},
    each.value.protocol == "grpc" ? {
      MESH_PAGE_TOKEN_KEY = aws_secretsmanager_secret_version.page_token_key.secret_id
    } : {},
    each.value.store == "redis" ? {
      MESH_REDIS_PASSWORD = "${module.cache.auth_token_secret_arns[each.key]}:auth_token::"
    } : {},
  )
  runtime_secret_arns = each.value.store == "sql" ? [module.data.master_user_secret_arn] : []
  # store: dynamodb: its own table and that table's indexes, nothing else.
  dynamodb_table_arns = contains(local.tables, each.key) ? [module.table[each.key].arn] : []
  target_group_arn    = each.key == local.entry && var.streaming_api ? module.stream_api[0].target_group_arn : null

  enable_execute_command = var.enable_execute_command
  exec_log_group_arn     = aws_cloudwatch_log_group.exec.arn
  observability          = local.observability # observability.tf

  cluster_arn        = aws_ecs_cluster.this.arn
  cluster_name       = aws_ecs_cluster.this.name
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids
  namespace_id       = module.discovery.id
  namespace_name     = module.discovery.name
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.this.arn
  region             = var.aws_region
  account_id         = local.account_id
}

module "api_gateway" {
  source = "../../modules/api_gateway"

  name                     = var.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  cloudmap_service_arn     = module.service[local.entry].discovery_service_arn
  target_security_group_id = module.service[local.entry].security_group_id
  target_port              = local.services[local.entry].port
  throttling_rate_limit    = var.api_throttling_rate_limit
  throttling_burst_limit   = var.api_throttling_burst_limit
  jwt                      = local.jwt == null ? null : { issuer = local.jwt.issuer, audience = local.jwt.audience }
  anonymous_routes         = local.access.anonymous_routes
  log_retention_days       = var.log_retention_days
  kms_key_arn              = aws_kms_key.this.arn
}

# Server-streaming routes (WatchOrder): a REST API with response streaming, as
# the HTTP API above buffers responses and stops at 30 s. Routes and scopes
# come from access.json (the contracts' server-streaming RPCs).
module "stream_api" {
  source = "../../modules/stream_api"
  count  = var.streaming_api ? 1 : 0

  name                        = var.name
  routes                      = local.access.streaming_routes
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  target_security_group_id    = module.service[local.entry].security_group_id
  target_port                 = local.services[local.entry].port
  stream_timeout_seconds      = var.stream_max_seconds
  cognito_user_pool_arn       = var.auth == "cognito" ? module.identity[0].user_pool_arn : null
  scope_prefix                = var.auth == "cognito" ? module.identity[0].scope_prefix : ""
  throttling_rate_limit       = var.api_throttling_rate_limit
  throttling_burst_limit      = var.api_throttling_burst_limit
  manage_account_logging_role = var.manage_api_gateway_account_role
  log_retention_days          = var.log_retention_days
  kms_key_arn                 = aws_kms_key.this.arn
}
