variable "name" {
  type        = string
  description = "Service name from services.yaml; also the container, Cloud Map service and ECS service name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must match services.yaml's rule: ^[a-z][a-z0-9-]{0,30}$."
  }
}

variable "module" {
  type        = string
  description = "Python module the container runs (python -m MODULE)."

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$", var.module))
    error_message = "module must be a dotted Python module name."
  }
}

variable "port" {
  type        = number
  description = "Port the process listens on (services.yaml)."

  validation {
    condition     = var.port >= 1 && var.port <= 65535 && floor(var.port) == var.port
    error_message = "port must be an integer in 1..65535."
  }
}

variable "protocol" {
  type        = string
  description = "grpc (health checked over grpc.health.v1) or http (health checked on /healthz)."

  validation {
    condition     = contains(["grpc", "http"], var.protocol)
    error_message = "protocol must be grpc or http."
  }
}

variable "image" {
  type        = string
  description = "Container image (REPOSITORY_URL:TAG); the same image for every service."

  validation {
    condition     = can(regex("^[^\\s]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image)) || can(regex("^[^\\s]+@sha256:[a-f0-9]{64}$", var.image))
    error_message = "image must be REPOSITORY:TAG or REPOSITORY@sha256:DIGEST."
  }
}

variable "repository_arn" {
  type        = string
  description = "ECR repository the execution role may pull from."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecr:", var.repository_arn))
    error_message = "repository_arn must be an ECR repository ARN."
  }
}

variable "cpu" {
  type        = number
  description = "Fargate task CPU units."
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  type        = number
  description = "Fargate task memory in MiB: a size Fargate accepts with var.cpu."
  default     = 512

  # Fargate's table (Linux, platform 1.4.0): CPU units -> memory sizes in MiB.
  # Referring to var.cpu here needs Terraform 1.9+.
  validation {
    condition = contains(lookup({
      "256"   = tolist([512, 1024, 2048])
      "512"   = range(1024, 4097, 1024)
      "1024"  = range(2048, 8193, 1024)
      "2048"  = range(4096, 16385, 1024)
      "4096"  = range(8192, 30721, 1024)
      "8192"  = range(16384, 61441, 4096)
      "16384" = range(32768, 122881, 8192)
    }, tostring(var.cpu), []), var.memory)
    error_message = "memory must be a size Fargate accepts with cpu: 256 CPU takes 512, 1024 or 2048 MiB; 512 takes 1024-4096; 1024 takes 2048-8192; 2048 takes 4096-16384; 4096 takes 8192-30720 (1024 MiB steps); 8192 takes 16384-61440 (4096 steps); 16384 takes 32768-122880 (8192 steps)."
  }
}

variable "cpu_architecture" {
  type        = string
  description = "X86_64 or ARM64; must match the image that was pushed."
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "desired_count" {
  type        = number
  description = "Tasks to start with, and the autoscaling minimum (services.yaml replicas)."
  default     = 1

  validation {
    condition     = var.desired_count >= 1 && var.desired_count <= 16
    error_message = "desired_count must be between 1 and 16."
  }
}

variable "max_count" {
  type        = number
  description = "Autoscaling maximum."
  default     = 4

  validation {
    condition     = var.max_count >= 1 && var.max_count <= 100
    error_message = "max_count must be between 1 and 100."
  }
}

variable "cpu_target_percent" {
  type        = number
  description = "Average CPU utilisation the autoscaling policy aims for."
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "shutdown_grace_seconds" {
  type        = number
  description = "The application's drain grace (MESH_SHUTDOWN_GRACE_SECONDS); stopTimeout is this plus 5 s, at most 120."
  default     = 10

  validation {
    condition     = var.shutdown_grace_seconds >= 1 && var.shutdown_grace_seconds <= 115
    error_message = "shutdown_grace_seconds must be between 1 and 115 (Fargate stops a task after 120 s at most)."
  }
}

variable "drain_seconds" {
  type        = number
  description = "Seconds the process keeps serving but reports not ready after SIGTERM (MESH_GATEWAY_DRAIN_SECONDS; the HTTP gateway uses it so the load balancer stops first); added to stopTimeout."
  default     = 0

  validation {
    condition     = var.drain_seconds >= 0 && var.drain_seconds <= 60
    error_message = "drain_seconds must be between 0 and 60."
  }
}

variable "health_start_period_seconds" {
  type        = number
  description = "Grace before failed health checks count (start-up, first migrations)."
  default     = 30

  validation {
    condition     = var.health_start_period_seconds >= 0 && var.health_start_period_seconds <= 300
    error_message = "health_start_period_seconds must be between 0 and 300."
  }
}

variable "environment" {
  type        = map(string)
  description = "Extra plain environment variables (never secrets). MESH_HOST, MESH_PORT, MESH_REGISTRY and the Cloud Map settings are set by the module."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : !can(regex("(PASSWORD|SECRET|TOKEN|DATABASE_URL|_DB_)", k))])
    error_message = "Pass credentials and database settings through secrets, not environment."
  }
}

variable "secrets" {
  type        = map(string)
  description = "Environment variable name => Secrets Manager valueFrom: SECRET_ARN:JSON_KEY:: for one key of a JSON secret, or the bare SECRET_ARN for a plain-string secret (the page-token key); injected by ECS at start."
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.secrets) : can(regex("^arn:aws[a-z-]*:secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+(:[^:]+::)?$", v))])
    error_message = "Each secret must be a Secrets Manager ARN, whole (arn:...:secret:NAME) or with a JSON key (arn:...:secret:NAME:KEY::)."
  }
}

variable "runtime_secret_arns" {
  type        = list(string)
  description = "Secrets Manager secrets the application reads itself while it runs (the RDS-managed database password, re-read after rotation). The task role may GetSecretValue on exactly these and decrypt them with kms_key_arn through Secrets Manager."
  default     = []

  validation {
    condition     = alltrue([for arn in var.runtime_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+$", arn))])
    error_message = "Each runtime secret must be a whole Secrets Manager secret ARN (arn:...:secret:NAME), without a JSON key."
  }
}

variable "dynamodb_table_arns" {
  type        = list(string)
  description = "DynamoDB tables the application keeps its state in (store: dynamodb). The task role may read and write items in exactly these and query their indexes."
  default     = []

  validation {
    condition     = alltrue([for arn in var.dynamodb_table_arns : can(regex("^arn:aws[a-z-]*:dynamodb:[^:]+:[0-9]{12}:table/[A-Za-z0-9_.-]+$", arn))])
    error_message = "Each entry must be a DynamoDB table ARN (arn:...:dynamodb:REGION:ACCOUNT:table/NAME)."
  }
}

variable "target_group_arn" {
  type        = string
  description = "Load balancer target group the tasks also register in (the REST gateway's, for the streaming API); null for none."
  default     = null

  validation {
    condition     = var.target_group_arn == null || can(regex("^arn:aws[a-z-]*:elasticloadbalancing:", var.target_group_arn))
    error_message = "target_group_arn must be an Elastic Load Balancing target group ARN."
  }
}

variable "discovers" {
  type        = bool
  description = "The service calls others through Cloud Map, so its task role may call DiscoverInstances(Revision)."
  default     = false
}

variable "enable_execute_command" {
  type        = bool
  description = "Allow ECS Exec into the tasks (for grpcurl from inside the VPC)."
  default     = false
}

variable "exec_log_group_arn" {
  type        = string
  description = "Log group that records ECS Exec sessions (required when enable_execute_command)."
  default     = null

  validation {
    condition     = var.exec_log_group_arn == null || can(regex("^arn:aws[a-z-]*:logs:", var.exec_log_group_arn))
    error_message = "exec_log_group_arn must be a CloudWatch Logs log group ARN."
  }
}

variable "cluster_arn" {
  type        = string
  description = "ECS cluster the service runs in."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN."
  }
}

variable "cluster_name" {
  type        = string
  description = "Name of that cluster (autoscaling resource id, name prefix)."

  validation {
    condition     = length(var.cluster_name) > 0
    error_message = "cluster_name must not be empty."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the service's security group."

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the tasks."

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "At least one subnet is needed."
  }
}

variable "namespace_id" {
  type        = string
  description = "Cloud Map namespace the service registers in."

  validation {
    condition     = startswith(var.namespace_id, "ns-")
    error_message = "namespace_id must be a Cloud Map namespace ID (ns-...)."
  }
}

variable "namespace_name" {
  type        = string
  description = "Name of that namespace (MESH_CLOUDMAP_NAMESPACE)."

  validation {
    condition     = length(var.namespace_name) > 0
    error_message = "namespace_name must not be empty."
  }
}

variable "dns_ttl" {
  type        = number
  description = "TTL of the A and SRV records, in seconds (short: tasks come and go)."
  default     = 10

  validation {
    condition     = var.dns_ttl >= 0 && var.dns_ttl <= 300
    error_message = "dns_ttl must be between 0 and 300."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the service's log group, in days."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the log groups and secrets (the execution role may decrypt with it; the task role only for runtime_secret_arns, through Secrets Manager)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "region" {
  type        = string
  description = "AWS Region (AWS_REGION in the container, awslogs region)."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "account_id" {
  type        = string
  description = "AWS account ID (scopes the task role's trust policy to this account's ECS)."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}

variable "observability" {
  type = object({
    collector_image  = string
    collector_config = string
    sample_ratio     = number
  })
  description = "An ADOT collector sidecar (image, its YAML configuration from modules/observability) receiving the task's OTLP spans for X-Ray and scraping its Prometheus side port for CloudWatch (EMF), and the share of traces recorded; null: no sidecar, tracing off."
  default     = null

  validation {
    condition     = var.observability == null || (try(var.observability.sample_ratio >= 0 && var.observability.sample_ratio <= 1, false) && try(length(var.observability.collector_image) > 0 && length(var.observability.collector_config) > 0, false))
    error_message = "observability needs a collector image and configuration, and a sample_ratio from 0 to 1."
  }
}
