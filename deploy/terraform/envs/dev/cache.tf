# store: redis gets an ElastiCache (Valkey) cache of its own (modules/cache):
# TLS only, encrypted at rest with the environment's key, an AUTH token from
# Secrets Manager. The task finds it through MESH_REDIS_URL (a rediss:// URL:
# host, port and TLS, nothing secret, so plain environment) and authenticates
# with MESH_REDIS_PASSWORD (an ECS secret). security.tf admits the owning
# service's tasks only. store: dynamodb: see dynamodb.tf.

locals {
  caches = sort([for name, svc in local.services : name if svc.store == "redis"])

  # Plain environment of each service with a cache (mesh/config.py reads MESH_REDIS_URL).
  cache_env = {
    for name in local.caches : name => {
      MESH_REDIS_URL = "rediss://${module.cache.primary_endpoints[name]}:${module.cache.port}/0"
    }
  }
}

module "cache" {
  source = "../../modules/cache"

  name                    = var.name
  caches                  = local.caches
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids
  node_type               = var.cache_node_type
  replicas                = var.cache_replicas
  multi_az                = var.cache_multi_az
  snapshot_retention_days = var.cache_snapshot_retention_days
  auth_token_version      = var.cache_auth_token_version
  log_retention_days      = var.log_retention_days
  kms_key_arn             = aws_kms_key.this.arn
}
