# Public HTTPS entry: an HTTP API that proxies everything over a VPC link to
# the REST gateway's Cloud Map service (API Gateway resolves the tasks with
# DiscoverInstances and needs their SRV port).
#
# With var.jwt, the $default route (everything) needs a valid token from that
# issuer, and only var.anonymous_routes (the public reads the contracts mark
# allow_anonymous) are let through without one. API Gateway sends the most
# specific matching route's request on, so those keys must not also match a
# route that needs a token (scripts/access_manifest.py checks this). The
# gateway verifies tokens and scopes again either way.

resource "aws_security_group" "vpc_link" {
  name        = "${var.name}-vpc-link"
  description = "API Gateway VPC link: egress to the REST gateway tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-vpc-link" })
}

resource "aws_vpc_security_group_egress_rule" "to_gateway" {
  security_group_id            = aws_security_group.vpc_link.id
  description                  = "HTTP to the REST gateway tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.target_port
  to_port                      = var.target_port
  referenced_security_group_id = var.target_security_group_id
}

resource "aws_apigatewayv2_vpc_link" "this" {
  name               = var.name
  subnet_ids         = var.subnet_ids
  security_group_ids = [aws_security_group.vpc_link.id]
  tags               = var.tags
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  protocol_type = "HTTP"
  description   = "REST/JSON API of the ${var.name} mesh"
  tags          = var.tags
}

resource "aws_apigatewayv2_integration" "gateway" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "HTTP_PROXY"
  integration_method     = "ANY"
  integration_uri        = var.cloudmap_service_arn
  connection_type        = "VPC_LINK"
  connection_id          = aws_apigatewayv2_vpc_link.this.id
  timeout_milliseconds   = var.integration_timeout_ms
  payload_format_version = "1.0"
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count            = var.jwt == null ? 0 : 1
  api_id           = aws_apigatewayv2_api.this.id
  name             = "${var.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt.issuer
    audience = var.jwt.audience
  }
}

resource "aws_apigatewayv2_route" "default" {
  #checkov:skip=CKV_AWS_309:With var.jwt this route has the JWT authorizer; without it (auth = none) the REST gateway itself refuses every route but the anonymous reads, throttled at the stage.
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "$default"
  target             = "integrations/${aws_apigatewayv2_integration.gateway.id}"
  authorization_type = var.jwt == null ? "NONE" : "JWT"
  authorizer_id      = var.jwt == null ? null : aws_apigatewayv2_authorizer.jwt[0].id
}

resource "aws_apigatewayv2_route" "anonymous" {
  #checkov:skip=CKV_AWS_309:Public reads the contracts open to callers without a token (allow_anonymous); every other route needs the JWT authorizer, and the gateway still verifies any token sent here.
  for_each           = var.jwt == null ? toset([]) : toset(var.anonymous_routes)
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.gateway.id}"
  authorization_type = "NONE"
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  name              = "/${var.name}/api-gateway-access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# The $default stage serves at the API's root, so paths reach the gateway unchanged.
resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      path               = "$context.path"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      latencyMs          = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
    })
  }

  tags = var.tags
}
