output "user_pool_id" {
  description = "ID of the user pool (admin-create-user, initiate-auth)."
  value       = aws_cognito_user_pool.this.id
}

output "issuer" {
  description = "Issuer of the pool's tokens (the `iss` claim), for the JWT authorizer and the gateway."
  value       = local.issuer
}

output "jwks_url" {
  description = "Where the pool publishes its signing keys."
  value       = "${local.issuer}/.well-known/jwks.json"
}

output "web_client_id" {
  description = "App client of browser apps (authorization code with PKCE, no secret)."
  value       = aws_cognito_user_pool_client.web.id
}

output "machine_client_id" {
  description = "App client for the client-credentials grant; null unless machine_client is on."
  value       = var.machine_client ? aws_cognito_user_pool_client.machine[0].id : null
}

output "audiences" {
  description = "Client ids the API accepts (Cognito access tokens name theirs in `client_id`)."
  value       = concat([aws_cognito_user_pool_client.web.id], aws_cognito_user_pool_client.machine[*].id)
}

output "scope_prefix" {
  description = "What Cognito puts before each scope in a token (\"shop/\")."
  value       = "${aws_cognito_resource_server.this.identifier}/"
}

output "token_scopes" {
  description = "Scope name -> the scope as it appears in tokens and in a token request."
  value       = local.token_scope
}

output "hosted_ui_url" {
  description = "Base URL of the hosted sign-in pages and the OAuth 2.0 endpoints."
  value       = local.hosted_ui
}

output "authorize_endpoint" {
  description = "OAuth 2.0 authorization endpoint (authorization code with PKCE)."
  value       = "${local.hosted_ui}/oauth2/authorize"
}

output "token_endpoint" {
  description = "OAuth 2.0 token endpoint (code exchange, client credentials, refresh)."
  value       = "${local.hosted_ui}/oauth2/token"
}

output "user_pool_arn" {
  description = "ARN of the user pool (a REST API's COGNITO_USER_POOLS authorizer names it)."
  value       = aws_cognito_user_pool.this.arn
}
