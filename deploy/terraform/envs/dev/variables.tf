variable "aws_region" {
  type        = string
  description = "AWS Region to deploy to."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like eu-west-1."
  }
}

variable "name" {
  type        = string
  description = "Name of this deployment: the ECS cluster, ECR repository, API and prefix of every other resource."
  default     = "shop-dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "image_tag" {
  type        = string
  description = "Tag of the image in this deployment's ECR repository that every service runs (scripts/push-image prints it)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid image tag other than latest (tags are immutable; use a commit id or version)."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC."
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid IPv4 CIDR of size /20 or larger."
  }
}

variable "az_count" {
  type        = number
  description = "Availability zones to span (2 or 3)."
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "egress_mode" {
  type        = string
  description = "\"nat\": NAT gateway for AWS APIs and the internet; \"endpoints\": VPC interface endpoints for ECR, Logs, Secrets Manager, Cloud Map and ECS Exec, no internet."
  default     = "nat"

  validation {
    condition     = contains(["nat", "endpoints"], var.egress_mode)
    error_message = "egress_mode must be \"nat\" or \"endpoints\"."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "With egress_mode = \"nat\": one NAT gateway (cheaper) instead of one per zone."
  default     = true
}

# Fargate accepts only these CPU/memory pairs (Linux, platform 1.4.0): CPU
# units -> memory in MiB. The same table is in modules/ecs_service (var.memory);
# tests/deploy checks both against AWS's published table.
variable "task_cpu" {
  type        = number
  description = "Fargate CPU units per task, for services without an entry in task_sizes (256, 512, 1024, 2048, 4096, 8192 or 16384)."
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.task_cpu)
    error_message = "task_cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "task_memory" {
  type        = number
  description = "Fargate memory (MiB) per task, for services without an entry in task_sizes; must be a size Fargate pairs with task_cpu (256: 512, 1024 or 2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384; 4096: 8192-30720, in 1024 steps; 8192: 16384-61440 in 4096 steps; 16384: 32768-122880 in 8192 steps)."
  default     = 512

  validation {
    condition     = contains(lookup({
      "256"   = tolist([512, 1024, 2048])
      "512"   = range(1024, 4097, 1024)
      "1024"  = range(2048, 8193, 1024)
      "2048"  = range(4096, 16385, 1024)
      "4096"  = range(8192, 30721, 1024)
      "8192"  = range(16384, 61441, 4096)
      "16384" = range(32768, 122881, 8192)
    }, tostring(var.task_cpu), []), var.task_memory)
    error_message = "task_memory must be a size Fargate accepts with task_cpu: 256 CPU takes 512, 1024 or 2048 MiB; 512 takes 1024-4096; 1024 takes 2048-8192; 2048 takes 4096-16384; 4096 takes 8192-30720 (1024 MiB steps); 8192 takes 16384-61440 (4096 steps); 16384 takes 32768-122880 (8192 steps)."
  }
}

variable "task_sizes" {
  type = map(object({
    cpu    = number
    memory = number
  }))
  description = "Per-service CPU and memory overrides, keyed by the service name in services.yaml; each pair must be one Fargate accepts (see task_memory)."
  default     = {}

  validation {
    condition     = alltrue([for s in values(var.task_sizes) : contains(lookup({
      "256"   = tolist([512, 1024, 2048])
      "512"   = range(1024, 4097, 1024)
      "1024"  = range(2048, 8193, 1024)
      "2048"  = range(4096, 16385, 1024)
      "4096"  = range(8192, 30721, 1024)
      "8192"  = range(16384, 61441, 4096)
      "16384" = range(32768, 122881, 8192)
    }, tostring(s.cpu), []), s.memory)])
    error_message = "Each task_sizes entry needs a cpu/memory pair Fargate accepts (see task_memory): for example 256/512, 512/1024, 1024/2048, 2048/4096, 4096/8192."
  }
}

variable "cpu_architecture" {
  type        = string
  description = "X86_64 or ARM64: the platform the image was built for (scripts/push-image --platform)."
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "max_replicas" {
  type        = number
  description = "Autoscaling maximum of a service without a scaling block in services.yaml (the minimum is its replicas there)."
  default     = 4

  validation {
    condition     = var.max_replicas >= 1 && var.max_replicas <= 100
    error_message = "max_replicas must be between 1 and 100."
  }
}

variable "shutdown_grace_seconds" {
  type        = number
  description = "Drain grace of every process (MESH_SHUTDOWN_GRACE_SECONDS); ECS stopTimeout is 5 s more."
  default     = 10

  validation {
    condition     = var.shutdown_grace_seconds >= 1 && var.shutdown_grace_seconds <= 115
    error_message = "shutdown_grace_seconds must be between 1 and 115."
  }
}

variable "gateway_drain_seconds" {
  type        = number
  description = "After SIGTERM the gateway answers /readyz with 503 this long while still serving, so API Gateway's VPC link stops sending first (MESH_GATEWAY_DRAIN_SECONDS)."
  default     = 5

  validation {
    condition     = var.gateway_drain_seconds >= 0 && var.gateway_drain_seconds <= 60
    error_message = "gateway_drain_seconds must be between 0 and 60."
  }
}

variable "log_level" {
  type        = string
  description = "MESH_LOG_LEVEL of every process."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the service, API access and ECS Exec log groups, in days."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts."
  }
}

variable "enable_execute_command" {
  type        = bool
  description = "Allow ECS Exec into tasks (grpcurl from inside the VPC, docs/deploy.md section 6). ECS Exec does not work with a read-only root file system, so turning it on also makes every container's root file system writable (and rolls the services); off by default."
  default     = false
}

variable "db_instance_class" {
  type        = string
  description = "RDS instance class of the shared PostgreSQL instance."
  default     = "db.t4g.micro"

  validation {
    condition     = startswith(var.db_instance_class, "db.")
    error_message = "db_instance_class must be an RDS class such as db.t4g.micro."
  }
}

variable "db_engine_version" {
  type        = string
  description = "PostgreSQL version (major, or major.minor)."
  default     = "16"

  validation {
    condition     = can(regex("^1[4-9](\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 14 or newer."
  }
}

variable "db_allocated_storage" {
  type        = number
  description = "Initial database storage in GiB (autoscaling up to 100 GiB)."
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage <= 100
    error_message = "db_allocated_storage must be between 20 and 100 GiB."
  }
}

variable "db_multi_az" {
  type        = bool
  description = "Run a standby database in a second zone (doubles the database cost)."
  default     = false
}

variable "db_backup_retention_days" {
  type        = number
  description = "Days of automated database backups."
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

variable "db_deletion_protection" {
  type        = bool
  description = "Refuse to delete the database; set false and apply before terraform destroy."
  default     = true
}

variable "table_deletion_protection" {
  type        = bool
  description = "Refuse to delete the DynamoDB tables (store: dynamodb); set false and apply before terraform destroy."
  default     = true
}

variable "db_skip_final_snapshot" {
  type        = bool
  description = "Destroy the database without a final snapshot (the default in dev). With false, destroy leaves a snapshot named <name>-final, encrypted with the environment's KMS key, which destroy also schedules for deletion: copy the snapshot with another key, or cancel the key's deletion, before kms_deletion_window_days pass (docs/deploy.md, Tear down)."
  default     = true
}

variable "cache_node_type" {
  type        = string
  description = "ElastiCache node type of the caches of services with store: redis (Valkey)."
  default     = "cache.t4g.micro"

  validation {
    condition     = startswith(var.cache_node_type, "cache.")
    error_message = "cache_node_type must be an ElastiCache node type such as cache.t4g.micro."
  }
}

variable "cache_replicas" {
  type        = number
  description = "Read replicas per cache beside the primary (0 in dev: one node, no failover; a lost node loses the carts in it). Each replica costs as much as the primary."
  default     = 0

  validation {
    condition     = var.cache_replicas >= 0 && var.cache_replicas <= 5 && floor(var.cache_replicas) == var.cache_replicas
    error_message = "cache_replicas must be a whole number from 0 to 5."
  }
}

variable "cache_multi_az" {
  type        = bool
  description = "Put each cache's replicas in other availability zones than its primary (needs cache_replicas >= 1); off in dev."
  default     = false

  validation {
    condition     = !var.cache_multi_az || var.cache_replicas >= 1
    error_message = "cache_multi_az needs cache_replicas >= 1."
  }
}

variable "cache_snapshot_retention_days" {
  type        = number
  description = "Days of daily cache snapshots (0, the default: none; carts expire after two weeks anyway)."
  default     = 0

  validation {
    condition     = var.cache_snapshot_retention_days >= 0 && var.cache_snapshot_retention_days <= 35
    error_message = "cache_snapshot_retention_days must be between 0 and 35."
  }
}

variable "cache_auth_token_version" {
  type        = number
  description = "Version of the caches' AUTH tokens: raise it to write new random tokens; the old one stays valid (ROTATE) until the next change, so roll the services to pick the new one up."
  default     = 1

  validation {
    condition     = var.cache_auth_token_version >= 1 && floor(var.cache_auth_token_version) == var.cache_auth_token_version
    error_message = "cache_auth_token_version must be a positive integer."
  }
}

variable "api_throttling_rate_limit" {
  type        = number
  description = "Requests per second the API admits (steady state)."
  default     = 100

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be positive."
  }
}

variable "api_throttling_burst_limit" {
  type        = number
  description = "Burst of requests the API admits."
  default     = 200

  validation {
    condition     = var.api_throttling_burst_limit > 0
    error_message = "api_throttling_burst_limit must be positive."
  }
}

variable "streaming_api" {
  type        = bool
  description = "Serve the server-streaming routes (WatchOrder) through a REST API with response streaming and an internal NLB (output stream_url). Without it no route streams: the HTTP API waits for a whole response and gives up after 30 s, so a watch through it ends in a 504."
  default     = true
}

variable "stream_max_seconds" {
  type        = number
  description = "Longest stream through the REST API (its integration timeout, 15 minutes at most); the gateway ends a watch 60 s before (MESH_GATEWAY_STREAM_TIMEOUT)."
  default     = 900

  validation {
    condition     = var.stream_max_seconds >= 120 && var.stream_max_seconds <= 900 && floor(var.stream_max_seconds) == var.stream_max_seconds
    error_message = "stream_max_seconds must be a whole number of seconds from 120 to 900."
  }
}

variable "manage_api_gateway_account_role" {
  type        = bool
  description = "With streaming_api: set this account and Region's API Gateway CloudWatch Logs role (REST API logs need it). Set false where the account already has one you manage elsewhere; destroy leaves the setting (pointing at a deleted role)."
  default     = true
}

variable "auth" {
  type        = string
  description = "Who issues the API's tokens. \"cognito\": a user pool made here (module identity); \"jwt\": your own OIDC issuer (jwt_authorizer); \"none\": no tokens at all, so only the anonymous reads answer (API Gateway lets everything through; the gateway runs with MESH_GATEWAY_AUTH=none and refuses the rest)."
  default     = "cognito"

  validation {
    condition     = contains(["cognito", "jwt", "none"], var.auth)
    error_message = "auth must be \"cognito\", \"jwt\" or \"none\"."
  }

  validation {
    condition     = var.auth != "jwt" || var.jwt_authorizer != null
    error_message = "auth = \"jwt\" needs jwt_authorizer (issuer, audience, jwks_url): the gateway verifies tokens itself and refuses to start without an issuer and a JWKS URL. With auth = \"none\" only the anonymous reads answer."
  }

  validation {
    condition     = var.auth == "none" || var.egress_mode == "nat"
    error_message = "With auth = \"cognito\" or \"jwt\" the gateway fetches the issuer's signing keys (JWKS) over HTTPS, which needs egress_mode = \"nat\": egress_mode = \"endpoints\" gives the tasks no route to the internet."
  }
}

variable "jwt_authorizer" {
  type = object({
    issuer       = string
    audience     = list(string)
    jwks_url     = string
    scope_prefix = optional(string, "")
  })
  description = "With auth = \"jwt\": your OIDC issuer URL (the tokens' iss), the one audience (aud, or client_id for Cognito access tokens) the API accepts, the issuer's JWKS URL, and what the issuer puts before each scope name (\"\" for none)."
  default     = null

  validation {
    condition     = var.jwt_authorizer == null || (startswith(try(var.jwt_authorizer.issuer, ""), "https://") && startswith(try(var.jwt_authorizer.jwks_url, ""), "https://") && length(try(var.jwt_authorizer.audience, [])) == 1)
    error_message = "jwt_authorizer.issuer and jwt_authorizer.jwks_url must be https URLs and jwt_authorizer.audience must name exactly one audience (the gateway's MESH_GATEWAY_JWT_AUDIENCE takes one)."
  }
}

variable "cognito_user_scopes" {
  type        = list(string)
  description = "With auth = \"cognito\": scopes a signed-in user may obtain through the browser client. Cognito grants any user every scope the client allows, so add staff scopes (catalog.write, inventory.write, orders.admin) only to a pool of staff."
  # What a customer of the storefront does: orders and the cart.
  default = ["orders.read", "orders.write", "carts.read", "carts.write"]

  validation {
    condition     = length(var.cognito_user_scopes) == length(distinct(var.cognito_user_scopes))
    error_message = "cognito_user_scopes must not repeat a scope."
  }
}

variable "cognito_callback_urls" {
  type        = list(string)
  description = "With auth = \"cognito\": where the hosted UI may send a browser back with an authorization code."
  default     = ["http://localhost:3000/callback"]

  validation {
    condition     = length(var.cognito_callback_urls) > 0 && alltrue([for u in var.cognito_callback_urls : can(regex("^(https://|http://localhost[:/])", u))])
    error_message = "cognito_callback_urls must list at least one https:// (or http://localhost) URL."
  }
}

variable "cognito_logout_urls" {
  type        = list(string)
  description = "With auth = \"cognito\": where the hosted UI may send a browser after sign-out."
  default     = ["http://localhost:3000/"]

  validation {
    condition     = alltrue([for u in var.cognito_logout_urls : can(regex("^(https://|http://localhost[:/])", u))])
    error_message = "cognito_logout_urls must be https:// (or http://localhost) URLs."
  }
}

variable "cognito_threat_protection" {
  type        = string
  description = "With auth = \"cognito\": threat protection (compromised credentials, risky sign-ins) OFF, AUDIT or ENFORCED; anything but OFF needs the Plus feature plan (per monthly active user)."
  default     = "ENFORCED"

  validation {
    condition     = contains(["OFF", "AUDIT", "ENFORCED"], var.cognito_threat_protection)
    error_message = "cognito_threat_protection must be OFF, AUDIT or ENFORCED."
  }
}

variable "cognito_deletion_protection" {
  type        = bool
  description = "With auth = \"cognito\": refuse to delete the user pool and its users (set false and apply before terraform destroy)."
  default     = false
}

variable "page_token_key_version" {
  type        = number
  description = "Version of the page-token signing key: raise it to write a new random key (tasks read it at start; page tokens signed with the old key stop working)."
  default     = 1

  validation {
    condition     = var.page_token_key_version >= 1 && floor(var.page_token_key_version) == var.page_token_key_version
    error_message = "page_token_key_version must be a positive integer."
  }
}

variable "ecr_force_delete" {
  type        = bool
  description = "Let terraform destroy delete the ECR repository with its images."
  default     = false
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Days between scheduling the KMS key's deletion (on destroy) and its deletion."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags on every resource (Project, Environment and ManagedBy are always set)."
  default     = {}
}

variable "web" {
  type        = bool
  description = "Make the storefront: an S3 bucket for web/dist, CloudFront in front of it and the API (one origin for the browser), and AWS WAF on CloudFront (a web ACL costs a monthly fee plus a fee per million requests)."
  default     = true
}

variable "web_price_class" {
  type        = string
  description = "With web: CloudFront's edge locations, PriceClass_100 (North America, Europe), PriceClass_200 or PriceClass_All."
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.web_price_class)
    error_message = "web_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "web_waf_rate_limit" {
  type        = number
  description = "With web: requests one client IP may send to the storefront and API in 5 minutes before AWS WAF blocks it for a while."
  default     = 2000

  validation {
    condition     = var.web_waf_rate_limit >= 100 && var.web_waf_rate_limit <= 2000000000
    error_message = "web_waf_rate_limit must be between 100 and 2,000,000,000."
  }
}

variable "web_force_destroy" {
  type        = bool
  description = "With web: terraform destroy empties the storefront's bucket (every version of the built app; the sources stay in git) instead of refusing."
  default     = true
}
