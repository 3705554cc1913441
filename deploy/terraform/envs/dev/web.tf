# The storefront (module web): the app's private bucket, a CloudFront
# distribution serving it and the API from one origin, and AWS WAF on it.
# scripts/deploy-web uploads web/dist and writes /config.json from the `web`
# output; the browser client signs in through Cognito's hosted UI and comes
# back to the distribution's /callback.

locals {
  # "GET /v1/orders/{name}:watch" -> "/v1/orders/*:watch": the contracts'
  # server-streaming routes go to the REST API that streams (stream_api).
  web_stream_path_patterns = distinct([
    for r in local.access.streaming_routes : replace(split(" ", r.route)[1], "/\\{[^}]*\\}/", "*")
  ])
  # https://ID.execute-api.REGION.amazonaws.com/stream -> host and stage path.
  web_stream_origin = var.streaming_api ? regex("^https://(?P<domain_name>[^/]+)(?P<path>/.*)$", module.stream_api[0].stream_url) : null

  web_url           = var.web ? module.web[0].url : null
  web_callback_urls = var.web ? ["${module.web[0].url}/callback"] : []
  web_logout_urls   = var.web ? ["${module.web[0].url}/"] : []
}

module "web" {
  source = "../../modules/web"
  count  = var.web ? 1 : 0

  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                 = var.name
  api_domain_name      = replace(module.api_gateway.api_url, "https://", "")
  stream_origin        = local.web_stream_origin
  stream_path_patterns = local.web_stream_path_patterns
  # The one request the app makes to another origin: the code-for-token exchange.
  connect_sources = (
    var.auth == "cognito" ? [module.identity[0].hosted_ui_url] :
    var.auth == "jwt" ? [regex("^https://[^/]+", var.jwt_authorizer.issuer)] : []
  )
  price_class        = var.web_price_class
  waf_rate_limit     = var.web_waf_rate_limit
  log_retention_days = var.log_retention_days
  force_destroy      = var.web_force_destroy
}
