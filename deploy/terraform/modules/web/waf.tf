# AWS WAF on the distribution. AWS Shield Standard needs nothing here: it
# protects every CloudFront distribution (layer 3 and 4 attacks) at no cost.
#
# Rules, in order: a per-IP rate limit (cheapest, and it keeps a flood away
# from the other rules), then AWS's managed common rule set (OWASP-style
# probes, oversized bodies, bad user agents) and known bad inputs (Log4j-style
# payloads, exploit paths). Managed groups keep their own actions
# (override_action none).

resource "aws_wafv2_web_acl" "this" {
  provider    = aws.us_east_1
  name        = "${var.name}-web"
  description = "Storefront and API behind CloudFront"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        # Counted over the last 5 minutes (WAF's default evaluation window).
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-web-rate-per-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-web-aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-web-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-web"
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

# WAF logs to a log group named aws-waf-logs-*, in the web ACL's Region.
resource "aws_cloudwatch_log_group" "waf" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  #checkov:skip=CKV_AWS_158:The environment's KMS key lives in its own Region and this group must be in us-east-1; CloudWatch Logs encrypts it at rest, and the Authorization header is redacted before it is written.
  provider          = aws.us_east_1
  name              = "aws-waf-logs-${var.name}-web"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# Who may write there: log delivery, for this account only. Left to itself
# WAF would add this group to one shared policy (AWSWAF-LOGS) per Region,
# which grows past its size limit in an account with many web ACLs.
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_cloudwatch_log_resource_policy" "waf" {
  provider    = aws.us_east_1
  policy_name = "${var.name}-web-waf-logs"
  policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "WafLogDelivery"
      Effect    = "Allow"
      Principal = { Service = "delivery.logs.amazonaws.com" }
      Action    = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource  = "${aws_cloudwatch_log_group.waf.arn}:*"
      Condition = {
        StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${data.aws_partition.current.partition}:logs:us-east-1:${data.aws_caller_identity.current.account_id}:*" }
      }
    }]
  })
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  provider                = aws.us_east_1
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  # Bearer tokens never reach the log.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  depends_on = [aws_cloudwatch_log_resource_policy.waf]
}
