# The order fulfilment workflow on Step Functions: a Standard state machine
# (executions wait minutes for a payment, longer than Express allows, and
# each task runs exactly once per transition), its definition the one States
# Language file of the repository with the function ARNs filled in.

locals {
  state_machine_name = "${var.name}-order-fulfilment"
  # The definition names each function's published version: an execution runs
  # the code that was deployed with the definition it started on.
  function_arns = { for name, fn in aws_lambda_function.this : "fn_${name}" => fn.qualified_arn }
  state_machine_arn = "arn:${data.aws_partition.current.partition}:states:${var.region}:${var.account_id}:stateMachine:${local.state_machine_name}"
  executions_arn    = "arn:${data.aws_partition.current.partition}:states:${var.region}:${var.account_id}:execution:${local.state_machine_name}:*"
}

resource "aws_cloudwatch_log_group" "state_machine" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  # Step Functions' vended logs want a group under /aws/vendedlogs/ (its
  # resource policy size stays bounded there).
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "state_machine" {
  name = "${var.name}-order-fulfilment-sfn"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = var.account_id }
        ArnLike      = { "aws:SourceArn" = local.state_machine_arn }
      }
    }]
  })
  tags = var.tags
}

# Invoke these functions (any version: the definition names published ones),
# deliver the execution log and send traces. Nothing else.
data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "InvokeWorkflowFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = flatten([for fn in aws_lambda_function.this : [fn.arn, "${fn.arn}:*"]])
  }

  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"] # CloudWatch Logs' vended-log delivery actions take no resource
  }

  statement {
    sid       = "SendTracesToXRay"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"] # X-Ray's actions take no resource
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "order-fulfilment"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:Execution data (state inputs and outputs: customer and order ids, the payment wait's task token) stays out of the logs on purpose; every transition is logged, and the execution history keeps the data.
  name     = local.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.state_machine.arn
  # The placeholders are exactly the functions (tests/deploy/test_workflow.py):
  # a missing one fails the plan, an extra one is never filled.
  definition = templatefile(var.definition_file, local.function_arns)

  # Every transition, never the data: state inputs and outputs carry customer
  # and order ids and the payment wait's task token. The card number never
  # reaches the workflow (orders hands it to the payment provider and passes
  # on only the outcome), but a log that holds no execution data cannot leak
  # any. The console's execution history keeps the data for its 90 days.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = false
    level                  = var.execution_log_level
  }

  tracing_configuration {
    enabled = true
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.state_machine]
}

# orders starts an execution per order and completes or stops it: exactly these
# calls, on this state machine and its executions.
data "aws_iam_policy_document" "starter" {
  statement {
    sid       = "StartOrderWorkflow"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.this.arn]
  }

  # The task token names the execution; both ARNs of this one state machine are
  # listed as AWS's documentation is not explicit about which one IAM matches.
  statement {
    sid       = "CompletePaymentWait"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure"]
    resources = [aws_sfn_state_machine.this.arn, local.executions_arn]
  }

  statement {
    sid       = "StopOrderWorkflow"
    actions   = ["states:StopExecution"]
    resources = [local.executions_arn]
  }
}

resource "aws_iam_role_policy" "starter" {
  name   = "order-workflow"
  role   = var.starter_role_name
  policy = data.aws_iam_policy_document.starter.json
}

# A failed or timed-out execution is an order stuck or compensated: someone looks.
resource "aws_cloudwatch_metric_alarm" "executions" {
  for_each            = toset(["ExecutionsFailed", "ExecutionsTimedOut"])
  alarm_name          = "${local.state_machine_name}-${lower(trimprefix(each.key, "Executions"))}"
  alarm_description   = "Order fulfilment: at least one execution ${lower(trimprefix(each.key, "Executions"))} in 5 minutes (see the execution history and ${aws_cloudwatch_log_group.state_machine.name})."
  namespace           = "AWS/States"
  metric_name         = each.key
  dimensions          = { StateMachineArn = aws_sfn_state_machine.this.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching" # no executions: nothing failed
  alarm_actions       = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
  ok_actions          = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
  tags                = var.tags
}
