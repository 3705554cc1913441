output "api_url" {
  description = "Base URL of the REST/JSON API (API Gateway, $default stage), without a trailing slash: curl \"$API/v1/products\"."
  value       = module.api_gateway.api_url
}

output "stream_url" {
  description = "Base URL of the streaming routes (REST API with response streaming): curl -N \"$STREAM/v1/orders/ID:watch\"; null with streaming_api = false."
  value       = try(module.stream_api[0].stream_url, null)
}

output "cloudmap_namespace" {
  description = "Cloud Map namespace the services register in (MESH_CLOUDMAP_NAMESPACE)."
  value       = module.discovery.name
}

output "cloudmap_namespace_id" {
  description = "ID of that namespace."
  value       = module.discovery.id
}

output "ecs_cluster_name" {
  description = "ECS cluster running every service."
  value       = aws_ecs_cluster.this.name
}

output "ecr_repository_url" {
  description = "Where scripts/push-image pushes the image."
  value       = module.ecr.repository_url
}

output "services" {
  description = "Per service: ECS service name and log group."
  value = {
    for name, svc in module.service : name => {
      ecs_service = svc.service_name
      log_group   = svc.log_group_name
    }
  }
}

output "auth" {
  description = "Who issues the API's tokens (var.auth), the issuer, and the routes open without a token."
  value = {
    mode             = var.auth
    issuer           = try(local.jwt.issuer, null)
    audiences        = try(local.jwt.audience, [])
    anonymous_routes = module.api_gateway.anonymous_route_keys
  }
}

output "cognito_user_pool_id" {
  description = "User pool of the API's users (auth = \"cognito\"); null otherwise."
  value       = try(module.identity[0].user_pool_id, null)
}

output "cognito_web_client_id" {
  description = "App client of browser apps: authorization code with PKCE, no secret."
  value       = try(module.identity[0].web_client_id, null)
}

output "cognito_hosted_ui_url" {
  description = "Base URL of the hosted sign-in pages; /oauth2/authorize and /oauth2/token live under it."
  value       = try(module.identity[0].hosted_ui_url, null)
}

output "cognito_token_endpoint" {
  description = "OAuth 2.0 token endpoint (code exchange, client credentials, refresh)."
  value       = try(module.identity[0].token_endpoint, null)
}

output "cognito_scopes" {
  description = "Scope name -> the scope as tokens carry it and token requests name it (\"shop/orders.read\")."
  value       = try(module.identity[0].token_scopes, {})
}

output "cognito_sign_in_url" {
  description = "Hosted UI sign-in for the browser client, without the PKCE code_challenge (docs/deploy.md, \"Identity (Cognito) and tokens\", adds it)."
  value = try(
    "${module.identity[0].authorize_endpoint}?response_type=code&client_id=${module.identity[0].web_client_id}&redirect_uri=${urlencode(var.cognito_callback_urls[0])}&scope=${urlencode(join(" ", concat(["openid"], [for s in var.cognito_user_scopes : module.identity[0].token_scopes[s]])))}",
    null,
  )
}

output "caches" {
  description = "Per service with store: redis: its cache's primary endpoint and port (TLS; the task's MESH_REDIS_URL), replication group id, and the ARN of the secret holding its AUTH token (JSON key auth_token). No token here."
  value = {
    for name in local.caches : name => {
      endpoint              = module.cache.primary_endpoints[name]
      port                  = module.cache.port
      replication_group_id  = module.cache.replication_group_ids[name]
      auth_token_secret_arn = module.cache.auth_token_secret_arns[name]
    }
  }
}

output "web_url" {
  description = "The storefront (CloudFront): open it in a browser; the API answers under it at /v1. Null with web = false."
  value       = local.web_url
}

output "web" {
  description = "What scripts/deploy-web needs: bucket, distribution, Region, the site's URL and the browser client's sign-in settings (Cognito; null otherwise). Null with web = false."
  value = var.web ? {
    url             = module.web[0].url
    bucket          = module.web[0].bucket_name
    distribution_id = module.web[0].distribution_id
    region          = var.aws_region
    auth = var.auth == "cognito" ? {
      authorize_endpoint = module.identity[0].authorize_endpoint
      token_endpoint     = module.identity[0].token_endpoint
      logout_endpoint    = "${module.identity[0].hosted_ui_url}/logout"
      client_id          = module.identity[0].web_client_id
      scopes             = concat(["openid", "email"], [for s in var.cognito_user_scopes : module.identity[0].token_scopes[s]])
      redirect_uri       = local.web_callback_urls[0]
      logout_uri         = local.web_logout_urls[0]
      scope_prefix       = module.identity[0].scope_prefix
    } : null
  } : null
}
