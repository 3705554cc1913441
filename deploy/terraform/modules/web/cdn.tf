# The distribution: the bucket by default, the API for var.api_path_patterns,
# the streaming REST API for var.stream_path_patterns (tried first: CloudFront
# takes the first ordered behaviour whose pattern matches).

locals {
  csp = coalesce(var.content_security_policy, join("; ", [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    # The app calls /v1 on its own origin; only the token exchange leaves it.
    join(" ", concat(["connect-src 'self'"], var.connect_sources)),
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ]))

  behaviours = concat(
    var.stream_origin == null ? [] : [for p in var.stream_path_patterns : { pattern = p, origin = "stream" }],
    [for p in var.api_path_patterns : { pattern = p, origin = "api" }],
  )
}

# AWS's managed policies, looked up by name rather than copied as magic ids.
# CachingDisabled: TTL 0 and nothing in the cache key, so no API response is
# ever stored, authenticated or not. AllViewerExceptHostHeader: every header
# (Authorization included), cookie and query string reaches API Gateway, but
# not Host, which API Gateway needs to be its own name. An origin request
# policy of our own could not forward Authorization (CloudFront refuses it
# there: it may only come through a cache policy's key, or a managed
# all-viewer policy with caching off, as here).
data "aws_cloudfront_cache_policy" "disabled" {
  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_origin_request_policy" "api" {
  name = "Managed-AllViewerExceptHostHeader"
}

# The app's files: what the deploy says (Cache-Control on every object:
# immutable for hashed assets, no-cache for index.html and config.json) is
# what the edge does, hence a minimum TTL of 0. Compressed at the edge.
resource "aws_cloudfront_cache_policy" "site" {
  name        = "${var.name}-web-site"
  comment     = "Storefront files: the object's Cache-Control decides; gzip and brotli at the edge"
  min_ttl     = 0
  default_ttl = 3600
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "security" {
  #checkov:skip=CKV_AWS_259:HSTS for two years with subdomains, but without the preload directive: preloading commits a whole registrable domain (*.cloudfront.net cannot be preloaded at all), so it is the domain owner's call.
  name    = "${var.name}-web-security"
  comment = "Security headers on every response of the storefront and its API"

  security_headers_config {
    content_security_policy {
      content_security_policy = local.csp
      override                = true
    }
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = false
      override                   = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    content_type_options {
      override = true
    }
    # A page's URL can hold an authorization code (/callback?code=...): other
    # origins get at most the origin, never the path and query.
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
  }

  custom_headers_config {
    items {
      header   = "Permissions-Policy"
      value    = "camera=(), microphone=(), geolocation=(), payment=()"
      override = true
    }
  }
}

resource "aws_cloudfront_origin_access_control" "site" {
  name                              = "${var.name}-web"
  description                       = "CloudFront signs its requests to the storefront bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# SPA routing (spa_fallback.js). Not custom error responses: those apply to
# every origin of the distribution, so an API answer of 404 (no such product)
# or 403 (not your order) would come back as index.html with 200, and the app
# would lose the API's error body.
resource "aws_cloudfront_function" "spa_fallback" {
  name    = "${var.name}-web-spa-fallback"
  runtime = "cloudfront-js-2.0"
  comment = "Routes of the single-page app (paths without a file extension) get /index.html"
  publish = true
  code    = file("${path.module}/spa_fallback.js")
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_86:Access logs are optional (log_bucket_domain_name, a bucket with ACLs); the web ACL logs every request already.
  #checkov:skip=CKV_AWS_174:With CloudFront's default certificate (no aliases) CloudFront fixes the minimum protocol itself; with certificate_arn it is TLSv1.2_2021.
  #checkov:skip=CKV2_AWS_42:The default *.cloudfront.net certificate until you set aliases and certificate_arn (your own domain).
  #checkov:skip=CKV_AWS_310:One bucket and one API: there is no second origin to fail over to; S3 and API Gateway are regional services already.
  #checkov:skip=CKV2_AWS_47:The Log4j rules are in AWSManagedRulesKnownBadInputsRuleSet, which the web ACL has; the check also demands AWSManagedRulesAnonymousIpList, which would block shoppers behind VPNs and hosting providers.
  #checkov:skip=CKV_AWS_374:A shop sells wherever it ships; restrict geography with a web ACL rule or here when the business needs it.
  enabled             = true
  comment             = "${var.name} storefront and API"
  default_root_object = "index.html"
  http_version        = "http2and3"
  is_ipv6_enabled     = true
  price_class         = var.price_class
  aliases             = var.aliases
  web_acl_id          = aws_wafv2_web_acl.this.arn

  origin {
    origin_id                = "site"
    domain_name              = aws_s3_bucket.site.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.site.id
  }

  origin {
    origin_id   = "api"
    domain_name = var.api_domain_name

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      # API Gateway gives up after 30 s and answers 504 itself; wait longer
      # than that so its answer, not CloudFront's, reaches the app.
      origin_read_timeout      = 35
      origin_keepalive_timeout = 5
    }
  }

  dynamic "origin" {
    for_each = var.stream_origin == null ? [] : [var.stream_origin]
    content {
      origin_id   = "stream"
      domain_name = origin.value.domain_name
      origin_path = origin.value.path

      custom_origin_config {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
        # Between two chunks of a stream; the gateway's heartbeat (every 15 s
        # on AWS) keeps a quiet watch well inside it.
        origin_read_timeout      = 60
        origin_keepalive_timeout = 5
      }
    }
  }

  default_cache_behavior {
    target_origin_id           = "site"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.site.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.spa_fallback.arn
    }
  }

  # The API: nothing cached, every method, every header but Host. https-only
  # rather than a redirect: a redirected POST would arrive as a GET.
  dynamic "ordered_cache_behavior" {
    for_each = local.behaviours
    content {
      path_pattern               = ordered_cache_behavior.value.pattern
      target_origin_id           = ordered_cache_behavior.value.origin
      viewer_protocol_policy     = "https-only"
      allowed_methods            = ordered_cache_behavior.value.origin == "stream" ? ["GET", "HEAD"] : ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = data.aws_cloudfront_cache_policy.disabled.id
      origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.api.id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    }
  }

  dynamic "logging_config" {
    for_each = var.log_bucket_domain_name == null ? [] : [var.log_bucket_domain_name]
    content {
      bucket          = logging_config.value
      prefix          = "${var.name}-web/"
      include_cookies = false
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.certificate_arn == null
    acm_certificate_arn            = var.certificate_arn
    ssl_support_method             = var.certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(var.aliases) == 0 || var.certificate_arn != null
      error_message = "aliases need certificate_arn (an ACM certificate in us-east-1 covering them)."
    }
  }
}
