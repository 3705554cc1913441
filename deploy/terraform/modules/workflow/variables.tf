variable "name" {
  type        = string
  description = "Environment name: prefix of the state machine, the functions, their roles, groups and logs."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "definition_file" {
  type        = string
  description = "The States Language definition (workflows/order_fulfilment.asl.json); its $${fn_<name>} placeholders become the functions' version ARNs."

  validation {
    condition     = endswith(var.definition_file, ".asl.json")
    error_message = "definition_file must be a States Language file (*.asl.json)."
  }
}

variable "functions" {
  type = map(object({
    depends_on           = list(string)
    timeout_seconds      = number
    memory_mb            = number
    reserved_concurrency = optional(number)
  }))
  description = "services.yaml's functions: one Lambda function per entry (handler functions.<name>.handler)."

  validation {
    condition     = length(var.functions) >= 1 && alltrue([for name in keys(var.functions) : can(regex("^[a-z][a-z0-9_]{0,28}$", name))])
    error_message = "functions needs at least one entry, each named like a Python module (lower case, digits, underscores, at most 29 characters: role and function names stay within AWS's 64)."
  }

  validation {
    condition = alltrue([for f in values(var.functions) :
      f.timeout_seconds >= 1 && f.timeout_seconds <= 900 && floor(f.timeout_seconds) == f.timeout_seconds &&
      f.memory_mb >= 128 && f.memory_mb <= 10240 && floor(f.memory_mb) == f.memory_mb &&
      (f.reserved_concurrency == null ? true : f.reserved_concurrency >= 1 && floor(f.reserved_concurrency) == f.reserved_concurrency)
    ])
    error_message = "Each function needs timeout_seconds 1..900, memory_mb 128..10240 and reserved_concurrency null or at least 1 (all whole numbers)."
  }
}

variable "package_file" {
  type        = string
  description = "The zip scripts/package-functions builds (every function's handler, the mesh runtime, the stubs and the Linux wheels)."

  validation {
    condition     = endswith(var.package_file, ".zip")
    error_message = "package_file must be a .zip file (scripts/package-functions writes dist/functions/functions.zip)."
  }
}

variable "environment" {
  type        = map(string)
  description = "Extra plain environment of every function (never secrets); the Cloud Map settings are set by the module."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : !can(regex("(PASSWORD|SECRET|TOKEN|DATABASE_URL|_DB_)", k)) && !startswith(k, "AWS_")])
    error_message = "environment must not carry secrets, and AWS_* variables are reserved by Lambda."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the mesh; each function gets a security group in it."

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets the functions' network interfaces are placed in."

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "At least one subnet is required."
  }
}

variable "namespace_name" {
  type        = string
  description = "Cloud Map namespace the functions discover the services in (and only there)."

  validation {
    condition     = length(var.namespace_name) > 0
    error_message = "namespace_name must not be empty."
  }
}

variable "execution_log_level" {
  type        = string
  description = "Step Functions execution logging: ALL (every transition), ERROR or FATAL. Execution data (inputs, outputs, task tokens) is never logged."
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL"], var.execution_log_level)
    error_message = "execution_log_level must be ALL, ERROR or FATAL."
  }
}

variable "starter_role_name" {
  type        = string
  description = "IAM role of the service that starts executions and completes the payment wait (orders' task role)."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.starter_role_name))
    error_message = "starter_role_name must be an IAM role name."
  }
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic that failed and timed-out executions notify; empty: the alarms only show in CloudWatch."
  default     = ""

  validation {
    condition     = var.alarm_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN or empty."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the functions' and the state machine's log groups."

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed key for the log groups and the functions' environment."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "region" {
  type        = string
  description = "Region of the state machine and the functions (ARNs in the policies)."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name."
  }
}

variable "account_id" {
  type        = string
  description = "Account of the state machine and the functions (ARNs in the policies)."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
