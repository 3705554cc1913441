# The workflow's Lambda functions: one per entry of services.yaml's functions,
# all from the one zip scripts/package-functions builds. Each runs in the
# mesh's private subnets with its own security group (egress to exactly the
# services it depends on is added by the caller, which knows the graph), its
# own role and its own log group.

data "aws_partition" "current" {}

locals {
  # What the mesh runtime reads to find services on AWS (mesh/config.py). Lambda
  # sets AWS_REGION itself (reserved); /tmp is the one writable directory.
  function_environment = merge(var.environment, {
    MESH_REGISTRY           = "cloudmap"
    MESH_CLOUDMAP_NAMESPACE = var.namespace_name
    MESH_REGISTER           = "false" # a caller, never a registered instance
    MESH_DATA_DIR           = "/tmp/mesh"
  })
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  for_each          = var.functions
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_security_group" "function" {
  for_each    = var.functions
  name        = "${var.name}-fn-${each.key}"
  description = "Lambda ${each.key}: no ingress; egress to the services it calls and AWS APIs"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-fn-${each.key}" })
}

# Cloud Map's discovery API over HTTPS, through the NAT or the VPC endpoints.
resource "aws_vpc_security_group_egress_rule" "function_https" {
  for_each          = var.functions
  security_group_id = aws_security_group.function[each.key].id
  description       = "HTTPS to AWS APIs (Cloud Map discovery)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_iam_role" "function" {
  for_each = var.functions
  name     = "${var.name}-${each.key}-fn"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

# What a function may do: find the services in this environment's namespace,
# write its own log group and its traces, and the network interfaces Lambda
# places in the VPC for it. Nothing else: it reaches the services over gRPC,
# not through AWS APIs.
data "aws_iam_policy_document" "function" {
  for_each = var.functions

  statement {
    sid       = "DiscoverMeshServices"
    actions   = ["servicediscovery:DiscoverInstances", "servicediscovery:DiscoverInstancesRevision"]
    resources = ["*"] # these actions take no resource; the condition narrows them to the namespace

    condition {
      test     = "StringEquals"
      variable = "servicediscovery:NamespaceName"
      values   = [var.namespace_name]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "SendTracesToXRay"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray's write actions take no resource
  }

  # The network interfaces Lambda places in the VPC for the function: the EC2
  # part of AWS's AWSLambdaVPCAccessExecutionRole (its logs part is the statement
  # above, on this group only). Lambda's guide: DescribeNetworkInterfaces works
  # only on "*", and the others want this account's and Region's EC2 resources.
  # Lambda checks them when it creates the function (depends_on below).
  statement {
    sid       = "DescribeVpcNetworkInterfaces"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"] # EC2's Describe actions take no resource
  }

  statement {
    sid = "ManageVpcNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:ec2:${var.region}:${var.account_id}:*/*"]
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = var.functions
  name     = "function"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:The state machine invokes the functions synchronously and retries and catches failures itself (Retry/Catch on every task); a dead-letter queue only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_272:The zip is built and applied from the same checkout by scripts/package-functions; add a Signer profile (code_signing_config_arn) where a separate build system signs artifacts.
  for_each      = var.functions
  function_name = "${var.name}-${each.key}"
  description   = "Order fulfilment workflow task ${each.key} (functions/${each.key}.py)"
  role          = aws_iam_role.function[each.key].arn
  runtime       = "python3.12"
  architectures = ["x86_64"] # the wheels in the zip are manylinux2014_x86_64
  handler       = "functions.${each.key}.handler"
  filename      = var.package_file
  # A new zip publishes a new version, and the state machine (which names the
  # version) moves to it in the same apply.
  source_code_hash               = filebase64sha256(var.package_file)
  publish                        = true
  timeout                        = each.value.timeout_seconds
  memory_size                    = each.value.memory_mb
  reserved_concurrent_executions = each.value.reserved_concurrency == null ? -1 : each.value.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.function[each.key].id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text" # the mesh writes its own JSON lines
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  environment {
    variables = local.function_environment
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.function]
}
