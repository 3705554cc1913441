# The streaming front door: a regional REST API whose integrations stream the
# response (responseTransferMode STREAM), for the routes the HTTP API cannot
# carry: server-streaming RPCs (WatchOrder). An HTTP API buffers a response
# whole and gives up after 30 s; a REST API streams for up to 15 minutes and
# closes a stream idle for 5 minutes (regional endpoint), which the gateway's
# heartbeat (MESH_GATEWAY_STREAM_HEARTBEAT_SECONDS) prevents.
#
# A REST API reaches a VPC through a VPC link to a Network Load Balancer (it
# cannot integrate with Cloud Map as the HTTP API does), so the REST gateway's
# tasks are also targets of an internal NLB. Its routes come from access.json
# (scripts/access_manifest.py, from the contracts' server-streaming RPCs); the
# API is described as OpenAPI, the one way to set the integration's transfer
# mode on every provider version this configuration accepts.

locals {
  # The integration's path: the resource with its greedy variable filled in.
  routes = {
    for r in var.routes : "${r.method} ${r.resource}" => merge(r, {
      backend_path = replace(r.resource, "{proxy+}", "{proxy}")
      greedy       = endswith(r.resource, "{proxy+}")
    })
  }
  paths = distinct([for r in var.routes : r.resource])

  authorizer = var.cognito_user_pool_arn == null ? {} : {
    cognito = {
      type                           = "apiKey"
      name                           = "Authorization"
      in                             = "header"
      "x-amazon-apigateway-authtype" = "cognito_user_pools"
      "x-amazon-apigateway-authorizer" = {
        type         = "cognito_user_pools"
        providerARNs = [var.cognito_user_pool_arn]
      }
    }
  }

  openapi = {
    openapi = "3.0.1"
    info    = { title = "${var.name}-stream", version = "1" }
    paths = {
      for path in local.paths : path => {
        for key, r in local.routes : lower(r.method) => merge(
          {
            parameters = r.greedy ? [{ name = "proxy", in = "path", required = true, schema = { type = "string" } }] : []
            responses  = {}
            # With a Cognito pool, access tokens are checked for the route's
            # scopes (a COGNITO_USER_POOLS authorizer with scopes takes access
            # tokens, not ID tokens). The gateway verifies the token again.
            security = r.anonymous || var.cognito_user_pool_arn == null ? [] : [
              { cognito = [for s in r.scopes : "${var.scope_prefix}${s}"] }
            ]
            "x-amazon-apigateway-integration" = {
              type                 = "http_proxy"
              httpMethod           = r.method
              uri                  = "http://${aws_lb.this.dns_name}:${var.target_port}${r.backend_path}"
              connectionType       = "VPC_LINK"
              connectionId         = aws_api_gateway_vpc_link.this.id
              timeoutInMillis      = var.stream_timeout_seconds * 1000
              responseTransferMode = "STREAM"
              passthroughBehavior  = "when_no_match"
              requestParameters    = r.greedy ? { "integration.request.path.proxy" = "method.request.path.proxy" } : {}
            }
          }
        ) if r.resource == path
      }
    }
    components = { securitySchemes = local.authorizer }
  }
}

# -- the load balancer the VPC link reaches ------------------------------------

# Internal, in the private subnets. Only API Gateway's VPC link reaches it: its
# security group admits nothing from the VPC, and traffic arriving over
# PrivateLink (the VPC link) is not subject to inbound rules.
resource "aws_security_group" "nlb" {
  name        = "${var.name}-stream-nlb"
  description = "Streaming NLB: reached only through the API Gateway VPC link, egress to the REST gateway"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-stream-nlb" })
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:Access logs would need an S3 bucket per environment; API Gateway's access log (this module) and the gateway's own log record every request already.
  #checkov:skip=CKV_AWS_150:A dev environment must go with terraform destroy; turn deletion protection on for production.
  name                             = "${var.name}-stream"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  # PrivateLink traffic (the VPC link) bypasses the inbound rules, which admit nothing else.
  enforce_security_group_inbound_rules_on_private_link_traffic = "off"
  tags                                                         = var.tags
}

resource "aws_lb_target_group" "gateway" {
  name                 = "${var.name}-stream"
  port                 = var.target_port
  protocol             = "TCP"
  target_type          = "ip" # Fargate tasks (awsvpc)
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay_seconds
  # When a task leaves, its open streams are closed after the delay instead of
  # hanging until the NLB's idle timeout; clients watch again.
  connection_termination = true

  # /readyz turns 503 while the gateway drains, so the NLB stops first.
  health_check {
    protocol            = "HTTP"
    path                = "/readyz"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "gateway" {
  #checkov:skip=CKV2_AWS_74:TCP inside the VPC from API Gateway's VPC link to the gateway; TLS ends at API Gateway, as on the HTTP API's VPC link.
  load_balancer_arn = aws_lb.this.arn
  port              = var.target_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "to_gateway" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "TCP to the REST gateway tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.target_port
  to_port                      = var.target_port
  referenced_security_group_id = var.target_security_group_id
}

resource "aws_api_gateway_vpc_link" "this" {
  name        = "${var.name}-stream"
  description = "REST API streaming routes to the REST gateway's NLB"
  target_arns = [aws_lb.this.arn]
  tags        = var.tags
}

# -- the REST API ------------------------------------------------------------

resource "aws_api_gateway_rest_api" "this" {
  name              = "${var.name}-stream"
  description       = "Streaming routes of the ${var.name} mesh (server-streaming RPCs), from access.json"
  body              = jsonencode(local.openapi)
  put_rest_api_mode = "overwrite"

  # Regional: an edge-optimized endpoint closes a stream idle for 30 s.
  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  triggers = {
    redeployment = sha1(aws_api_gateway_rest_api.this.body)
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  name              = "/${var.name}/api-gateway-stream-access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# API Gateway writes execution logs here, making the group itself (never
# expiring) if it is missing and leaving it behind on destroy.
resource "aws_cloudwatch_log_group" "execution" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.this.id}/${local.stage}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

locals {
  stage = "stream"
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Response streaming does not support caching, and a watch must never be served from a cache.
  #checkov:skip=CKV2_AWS_29:No WAF in dev (per-request cost); every route needs a Cognito token, the stage throttles, and the gateway limits each client.
  #checkov:skip=CKV2_AWS_51:A public API for browsers and scripts with bearer tokens; client certificates would shut them out.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = local.stage
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId         = "$context.requestId"
      ip                = "$context.identity.sourceIp"
      requestTime       = "$context.requestTime"
      httpMethod        = "$context.httpMethod"
      path              = "$context.path"
      status            = "$context.status"
      responseLength    = "$context.responseLength"
      latencyMs         = "$context.responseLatency"
      integrationStatus = "$context.integration.status"
      integrationError  = "$context.integration.error"
      authorizerError   = "$context.authorizer.error"
    })
  }

  tags = var.tags

  depends_on = [aws_api_gateway_account.this, aws_cloudwatch_log_group.execution]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Response streaming does not support caching, and a watch must never be served from a cache.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false # would log bodies and headers, tokens included
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }
}

# REST APIs log to CloudWatch through one role per account and Region (HTTP
# APIs do not need it). Without it the stage above cannot be created with
# access logging. Set manage_account_logging_role = false where the account
# already has one (another environment in the same Region, for instance).
resource "aws_iam_role" "cloudwatch" {
  count = var.manage_account_logging_role ? 1 : 0
  name  = "${var.name}-apigateway-cloudwatch"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cloudwatch" {
  count      = var.manage_account_logging_role ? 1 : 0
  role       = aws_iam_role.cloudwatch[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count               = var.manage_account_logging_role ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.cloudwatch[0].arn

  depends_on = [aws_iam_role_policy_attachment.cloudwatch]
}

data "aws_partition" "current" {}
