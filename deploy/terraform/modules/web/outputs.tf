output "url" {
  description = "The storefront's address (https, no trailing slash): the app and, under /v1, the API."
  value       = "https://${length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.this.domain_name}"
}

output "domain_name" {
  description = "The distribution's own host name (*.cloudfront.net)."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "distribution_id" {
  description = "ID of the distribution (scripts/deploy-web invalidates it)."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "ARN of the distribution (the bucket policy's AWS:SourceArn)."
  value       = aws_cloudfront_distribution.this.arn
}

output "bucket_name" {
  description = "Bucket holding the app's files (scripts/deploy-web uploads web/dist here)."
  value       = aws_s3_bucket.site.bucket
}

output "web_acl_arn" {
  description = "ARN of the AWS WAF web ACL on the distribution (in us-east-1)."
  value       = aws_wafv2_web_acl.this.arn
}

output "content_security_policy" {
  description = "The Content-Security-Policy every response carries."
  value       = local.csp
}
