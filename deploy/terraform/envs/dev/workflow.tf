# The order fulfilment workflow (Step Functions and Lambda): the functions come
# from services.yaml's functions map, the definition from
# workflows/order_fulfilment.asl.json, the code from the zip
# scripts/package-functions builds. orders starts the executions itself (it
# knows when an order is placed, inside the transaction that reserves its
# stock) and completes the payment wait; no EventBridge rule is involved.

variable "functions_package" {
  type        = string
  description = "The functions' zip (scripts/package-functions); empty: dist/functions/functions.zip in this checkout."
  default     = ""

  validation {
    condition     = var.functions_package == "" || endswith(var.functions_package, ".zip")
    error_message = "functions_package must be a .zip file or empty."
  }
}

variable "workflow_log_level" {
  type        = string
  description = "Step Functions execution log level: ALL (every transition; never execution data), ERROR or FATAL."
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL"], var.workflow_log_level)
    error_message = "workflow_log_level must be ALL, ERROR or FATAL."
  }
}

locals {
  # Defaults as in mesh/topology.py.
  functions = {
    for name, fn in try(local.topology.functions, {}) : name => {
      depends_on           = fn.depends_on
      timeout_seconds      = try(fn.timeout_seconds, 10)
      memory_mb            = try(fn.memory_mb, 256)
      reserved_concurrency = try(fn.reserved_concurrency, null)
    }
  }

  # One entry per depends_on edge of a function: it may open the service's port.
  function_calls = merge([
    for fn, spec in local.functions : {
      for callee in spec.depends_on : "${fn}-${callee}" => { function = fn, callee = callee }
    }
  ]...)

  # The service that starts executions and answers the payment wait.
  workflow_starter = "orders"
  workflow_env = {
    (local.workflow_starter) = {
      MESH_WORKFLOW                   = "stepfunctions"
      MESH_WORKFLOW_STATE_MACHINE_ARN = module.workflow.state_machine_arn
    }
  }
}

module "workflow" {
  source = "../../modules/workflow"

  name            = var.name
  definition_file = "${path.module}/../../../../workflows/order_fulfilment.asl.json"
  functions       = local.functions
  package_file    = var.functions_package != "" ? var.functions_package : "${path.module}/../../../../dist/functions/functions.zip"

  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.private_subnet_ids
  namespace_name      = module.discovery.name
  execution_log_level = var.workflow_log_level
  starter_role_name   = module.service[local.workflow_starter].task_role_name
  alarm_topic_arn     = var.observability ? module.observability[0].alarm_topic_arn : ""
  log_retention_days  = var.log_retention_days
  kms_key_arn         = aws_kms_key.this.arn
  region              = var.aws_region
  account_id          = local.account_id
}

# A function reaches exactly the services in its depends_on, on their ports;
# those services admit it. (security.tf does the same for services.)
resource "aws_vpc_security_group_ingress_rule" "function" {
  for_each = local.function_calls

  security_group_id            = module.service[each.value.callee].security_group_id
  referenced_security_group_id = module.workflow.function_security_group_ids[each.value.function]
  description                  = "function ${each.value.function} calls ${each.value.callee}"
  ip_protocol                  = "tcp"
  from_port                    = local.services[each.value.callee].port
  to_port                      = local.services[each.value.callee].port
}

resource "aws_vpc_security_group_egress_rule" "function" {
  for_each = local.function_calls

  security_group_id            = module.workflow.function_security_group_ids[each.value.function]
  referenced_security_group_id = module.service[each.value.callee].security_group_id
  description                  = "function ${each.value.function} calls ${each.value.callee}"
  ip_protocol                  = "tcp"
  from_port                    = local.services[each.value.callee].port
  to_port                      = local.services[each.value.callee].port
}

output "state_machine_arn" {
  description = "The order fulfilment state machine (orders starts one execution per order)."
  value       = module.workflow.state_machine_arn
}

output "workflow_functions" {
  description = "Lambda function name per services.yaml function."
  value       = module.workflow.function_names
}
