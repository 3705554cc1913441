variable "name" {
  type        = string
  description = "Prefix of every resource (the bucket name gets a unique suffix)."

  validation {
    # S3 allows a bucket_prefix of 37 characters; "-web-" takes five.
    condition     = can(regex("^[a-z][a-z0-9-]{1,31}$", var.name))
    error_message = "name must be 2-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "api_domain_name" {
  type        = string
  description = "Host name of the HTTP API (API Gateway, $default stage at the root): the origin of var.api_path_patterns."

  validation {
    condition     = can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", var.api_domain_name))
    error_message = "api_domain_name must be a bare host name (no scheme, port or path)."
  }
}

variable "api_path_patterns" {
  type        = list(string)
  description = "CloudFront path patterns served by the API instead of the bucket."
  default     = ["/v1/*"]

  validation {
    condition     = length(var.api_path_patterns) > 0 && alltrue([for p in var.api_path_patterns : can(regex("^/[A-Za-z0-9_.:/*?-]+$", p))])
    error_message = "api_path_patterns must list at least one pattern starting with / (letters, digits, _ . : / * ? -)."
  }
}

variable "stream_origin" {
  type = object({
    domain_name = string
    path        = string
  })
  description = "The REST API with response streaming (module stream_api): host name and stage path (\"/stream\"); null: streams go through the HTTP API like any route."
  default     = null

  validation {
    condition     = var.stream_origin == null || (can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", try(var.stream_origin.domain_name, ""))) && can(regex("^(/[A-Za-z0-9_-]+)+$", try(var.stream_origin.path, ""))))
    error_message = "stream_origin needs a bare host name and a stage path such as /stream."
  }
}

variable "stream_path_patterns" {
  type        = list(string)
  description = "Path patterns of the server-streaming routes (from access.json), sent to var.stream_origin before the API's patterns are tried."
  default     = []

  validation {
    condition     = alltrue([for p in var.stream_path_patterns : can(regex("^/[A-Za-z0-9_.:/*?-]+$", p))])
    error_message = "stream_path_patterns must start with / (letters, digits, _ . : / * ? -)."
  }
}

variable "connect_sources" {
  type        = list(string)
  description = "Origins besides the site itself the app may fetch from (Content-Security-Policy connect-src): the sign-in provider's token endpoint origin."
  default     = []

  validation {
    condition     = alltrue([for s in var.connect_sources : can(regex("^https://[a-z0-9.-]+(:[0-9]+)?$", s))])
    error_message = "connect_sources must be https:// origins without a path."
  }
}

variable "content_security_policy" {
  type        = string
  description = "Content-Security-Policy of every response; null: the strict default (same origin only, plus var.connect_sources for fetch)."
  default     = null

  validation {
    condition     = var.content_security_policy == null || can(regex("^[ -~]{10,1783}$", coalesce(var.content_security_policy, "x")))
    error_message = "content_security_policy must be printable ASCII, 10-1783 characters (CloudFront's limit)."
  }
}

variable "price_class" {
  type        = string
  description = "Edge locations CloudFront serves from: PriceClass_100 (North America, Europe), PriceClass_200 or PriceClass_All."
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "aliases" {
  type        = list(string)
  description = "Your own host names for the site (need var.certificate_arn); empty: the distribution's *.cloudfront.net name only."
  default     = []

  validation {
    condition     = alltrue([for a in var.aliases : can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", a))])
    error_message = "aliases must be host names."
  }
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate (in us-east-1) for var.aliases; null: CloudFront's default certificate."
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/", coalesce(var.certificate_arn, "x")))
    error_message = "certificate_arn must be an ACM certificate ARN in us-east-1 (CloudFront reads certificates only there)."
  }
}

variable "waf_rate_limit" {
  type        = number
  description = "Requests one client IP may send in 5 minutes before the web ACL blocks it for a while."
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 100 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 100 and 2,000,000,000."
  }
}

variable "log_bucket_domain_name" {
  type        = string
  description = "CloudFront standard access logs go to this bucket (BUCKET.s3.amazonaws.com, ACLs enabled); null: none (the web ACL logs every request already)."
  default     = null

  validation {
    condition     = var.log_bucket_domain_name == null || can(regex("^[a-z0-9.-]+\\.s3(\\.[a-z0-9-]+)?\\.amazonaws\\.com$", coalesce(var.log_bucket_domain_name, "x")))
    error_message = "log_bucket_domain_name must be a bucket's domain name (BUCKET.s3.amazonaws.com)."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days the web ACL's logs are kept."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days a replaced or deleted file of the site stays in the bucket as an old version (for rolling back by hand)."
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 3650
    error_message = "noncurrent_version_days must be between 1 and 3650."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy empty the bucket (every version of the site's files) instead of refusing."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource that takes them."
  default     = {}
}
