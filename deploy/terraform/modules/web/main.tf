# The storefront on AWS: a private S3 bucket holding the single-page app's
# build (web/dist, uploaded by scripts/deploy-web), a CloudFront distribution
# in front of it and of the API, and an AWS WAF web ACL on the distribution.
#
# One origin for the browser: the app's files come from the bucket and /v1/*
# from API Gateway through the same distribution, so the app calls its own
# origin and no CORS is needed (no preflight per call, no
# Access-Control-Allow-Origin to keep right on the gateway).
#
# The bucket is never public: CloudFront reads it with Origin Access Control
# (SigV4-signed requests), and the bucket policy admits the CloudFront service
# only on behalf of this one distribution.

resource "aws_s3_bucket" "site" {
  #checkov:skip=CKV_AWS_18:Only CloudFront reads the bucket; the web ACL logs every request to the site, and CloudFront access logs are optional (log_bucket_domain_name).
  #checkov:skip=CKV_AWS_144:The site is a build of web/ in git: scripts/deploy-web puts it back in minutes, no second Region needed.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to uploads; scripts/deploy-web invalidates CloudFront itself.
  #checkov:skip=CKV_AWS_145:SSE-S3: the files are the public site, served to anyone; a KMS key would add a per-request charge and a key policy for CloudFront and protect nothing secret.
  bucket_prefix = "${var.name}-web-"
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "site" {
  bucket = aws_s3_bucket.site.id
  rule {
    object_ownership = "BucketOwnerEnforced" # no ACLs at all
  }
}

resource "aws_s3_bucket_public_access_block" "site" {
  bucket                  = aws_s3_bucket.site.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Every deploy replaces index.html and config.json and deletes old assets:
# versions keep what was there, for a rollback by hand, for a while.
resource "aws_s3_bucket_versioning" "site" {
  bucket = aws_s3_bucket.site.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "site" {
  bucket = aws_s3_bucket.site.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "site" {
  bucket = aws_s3_bucket.site.id

  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.site]
}

resource "aws_s3_bucket_policy" "site" {
  bucket = aws_s3_bucket.site.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CloudFrontReadsForThisDistribution"
        Effect    = "Allow"
        Principal = { Service = "cloudfront.amazonaws.com" }
        Action    = "s3:GetObject"
        Resource  = "${aws_s3_bucket.site.arn}/*"
        Condition = { StringEquals = { "AWS:SourceArn" = aws_cloudfront_distribution.this.arn } }
      },
      {
        # With ListBucket a missing file is a 404 rather than a 403. Listing
        # itself is never reachable: CloudFront asks S3 only for objects, and
        # "/" becomes /index.html before it gets there.
        Sid       = "CloudFrontSees404s"
        Effect    = "Allow"
        Principal = { Service = "cloudfront.amazonaws.com" }
        Action    = "s3:ListBucket"
        Resource  = aws_s3_bucket.site.arn
        Condition = { StringEquals = { "AWS:SourceArn" = aws_cloudfront_distribution.this.arn } }
      },
      {
        Sid       = "TLSOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.site.arn, "${aws_s3_bucket.site.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.site]
}
