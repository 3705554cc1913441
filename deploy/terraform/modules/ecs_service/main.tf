# One mesh process on Fargate: task definition, ECS service registered in
# Cloud Map (A + SRV, custom health), its security group, roles, logs and
# autoscaling. Ingress rules are added by the caller, which knows the graph.

data "aws_partition" "current" {}

locals {
  # The mesh's own probe: gRPC health for grpc services, /healthz for http.
  probe = var.protocol == "grpc" ? ["CMD", "python", "-m", "mesh.probe", "--addr", "127.0.0.1:${var.port}"] : ["CMD", "python", "-m", "mesh.probe", "--http", "http://127.0.0.1:${var.port}/healthz"]

  environment = merge(var.environment, {
    MESH_HOST                   = "0.0.0.0"
    MESH_PORT                   = tostring(var.port)
    MESH_SHUTDOWN_GRACE_SECONDS = tostring(var.shutdown_grace_seconds)
    MESH_GATEWAY_DRAIN_SECONDS  = tostring(var.drain_seconds)
    MESH_REGISTRY               = "cloudmap"
    MESH_CLOUDMAP_NAMESPACE     = var.namespace_name
    MESH_REGISTER               = "false" # ECS registers the task in Cloud Map itself
    AWS_REGION                  = var.region
    PYTHONUNBUFFERED            = "1"
    PYTHONDONTWRITEBYTECODE     = "1"
  }, local.observe ? local.telemetry_environment : {})

  # The ADOT sidecar (var.observability): spans over OTLP/HTTP on the task's
  # loopback, Prometheus text on a side port (the service's port + 1000) it scrapes.
  observe      = var.observability != null
  metrics_port = var.port + 1000
  telemetry_environment = {
    # OTLP/HTTP rather than gRPC: a gRPC exporter's own channel cost the services
    # more CPU per request (scripts/bench mesh, with nothing sampled).
    MESH_TRACES_EXPORTER     = "otlp-http"
    MESH_TRACES_ENDPOINT     = "http://127.0.0.1:4318/v1/traces"
    MESH_TRACES_SAMPLE_RATIO = tostring(try(var.observability.sample_ratio, 0))
    MESH_METRICS_PORT        = tostring(local.metrics_port)
    MESH_METRICS_HOST        = "127.0.0.1" # the sidecar only; not reachable from the VPC
  }
  sidecars = local.observe ? [{
    name                   = "adot-collector"
    image                  = var.observability.collector_image
    command                = ["--config=env:AOT_CONFIG_CONTENT"]
    essential              = false # the service keeps serving if its collector dies
    readonlyRootFilesystem = true
    privileged             = false
    user                   = "10001:10001"
    environment = [for k, v in {
      AOT_CONFIG_CONTENT     = var.observability.collector_config
      AWS_REGION             = var.region
      MESH_METRICS_PORT      = tostring(local.metrics_port)
      MESH_SERVICE           = var.name
      MESH_METRICS_LOG_GROUP = aws_cloudwatch_log_group.metrics[0].name
    } : { name = k, value = v }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "adot"
      }
    }
  }] : []

  # SIGTERM, then the not-ready drain, then the application's drain grace, then a
  # margin before SIGKILL.
  stop_timeout = min(120, var.drain_seconds + var.shutdown_grace_seconds + 5)
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); set 365 or more where policy asks for a year.
  name              = "/${var.cluster_name}/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# The collector's EMF log events: CloudWatch turns them into metrics.
resource "aws_cloudwatch_log_group" "metrics" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days in dev to keep cost down); the metrics themselves live on in CloudWatch.
  count             = local.observe ? 1 : 0
  name              = "/${var.cluster_name}/${var.name}/metrics"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.cluster_name}-${var.name}"
  description = "${var.name}: ingress from its callers only, egress to its dependencies and AWS APIs"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.cluster_name}-${var.name}" })
}

# AWS APIs (ECR, Logs, Secrets Manager, Cloud Map) over HTTPS, through the NAT or the VPC endpoints.
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_iam_role" "execution" {
  name = "${var.cluster_name}-${var.name}-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

# What ECS needs to start the task: pull the image, write logs, read the secrets.
resource "aws_iam_role_policy" "execution" {
  name = "start-task"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Effect   = "Allow"
          Action   = ["ecr:GetAuthorizationToken"]
          Resource = "*" # registry-wide call with no resource
        },
        {
          Effect   = "Allow"
          Action   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
          Resource = var.repository_arn
        },
        {
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.this.arn}:*"
        },
        {
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = var.kms_key_arn
        },
      ],
      length(var.secrets) > 0 ? [{
        Effect = "Allow"
        Action = ["secretsmanager:GetSecretValue"]
        # valueFrom is SECRET_ARN:JSON_KEY:: ; the policy names the secret itself.
        Resource = distinct([for ref in values(var.secrets) : join(":", slice(split(":", ref), 0, 7))])
      }] : [],
    )
  })
}

resource "aws_iam_role" "task" {
  name = "${var.cluster_name}-${var.name}-task"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        ArnLike = { "aws:SourceArn" = "arn:${data.aws_partition.current.partition}:ecs:${var.region}:${var.account_id}:*" }
      }
    }]
  })
  tags = var.tags
}

# What the application itself may do: discovery only when it calls other
# services, read the secrets it re-reads at run time (the rotating database
# password), use its own DynamoDB table, and the ECS Exec channel when that is
# switched on.
data "aws_iam_policy_document" "task" {
  dynamic "statement" {
    for_each = length(var.runtime_secret_arns) > 0 ? [var.runtime_secret_arns] : []
    content {
      sid       = "ReadRuntimeSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = statement.value
    }
  }

  # Secrets Manager decrypts with the environment's key on the caller's behalf:
  # only through Secrets Manager in this region, and only for these secrets
  # (Secrets Manager puts the secret's ARN in the KMS encryption context).
  dynamic "statement" {
    for_each = length(var.runtime_secret_arns) > 0 ? [var.runtime_secret_arns] : []
    content {
      sid       = "DecryptRuntimeSecrets"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${var.region}.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:SecretARN"
        values   = statement.value
      }
    }
  }

  # store: dynamodb: the item calls its adapter makes, on its own table and that
  # table's indexes only (no Scan, no table management). DynamoDB decrypts with
  # the table's key through the grant it made at creation, so no kms statement.
  dynamic "statement" {
    for_each = length(var.dynamodb_table_arns) > 0 ? [var.dynamodb_table_arns] : []
    content {
      sid = "UseOwnTables"
      actions = [
        "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
        "dynamodb:DeleteItem", "dynamodb:Query",
      ]
      resources = flatten([for arn in statement.value : [arn, "${arn}/index/*"]])
    }
  }

  dynamic "statement" {
    for_each = var.discovers ? [var.namespace_name] : []
    content {
      sid       = "DiscoverMeshServices"
      actions   = ["servicediscovery:DiscoverInstances", "servicediscovery:DiscoverInstancesRevision"]
      resources = ["*"] # these actions take no resource; the condition narrows them

      condition {
        test     = "StringEquals"
        variable = "servicediscovery:NamespaceName"
        values   = [statement.value]
      }
    }
  }

  # The ADOT sidecar: spans to X-Ray (these actions take no resource) and EMF
  # events to this service's metrics log group, nothing else.
  dynamic "statement" {
    for_each = local.observe ? [1] : []
    content {
      sid = "SendTracesToXRay"
      actions = [
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
        "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries",
      ]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.observe ? [aws_cloudwatch_log_group.metrics[0].arn] : []
    content {
      sid       = "WriteMetricEvents"
      actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      resources = ["${statement.value}:*"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_execute_command ? [1] : []
    content {
      sid = "EcsExecChannels"
      actions = [
        "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
      ]
      resources = ["*"] # ssmmessages has no resource-level permissions
    }
  }

  dynamic "statement" {
    for_each = var.enable_execute_command ? [var.exec_log_group_arn] : []
    content {
      sid       = "EcsExecSessionLogs"
      actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      resources = ["${statement.value}:*"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_execute_command ? [1] : []
    content {
      sid       = "EcsExecLogGroups"
      actions   = ["logs:DescribeLogGroups"]
      resources = ["*"] # DescribeLogGroups has no resource-level permissions
    }
  }

  dynamic "statement" {
    for_each = var.enable_execute_command ? [var.kms_key_arn] : []
    content {
      sid       = "EcsExecEncryption"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  count  = var.discovers || var.enable_execute_command || local.observe || length(var.runtime_secret_arns) > 0 || length(var.dynamodb_table_arns) > 0 ? 1 : 0
  name   = "application"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

resource "aws_ecs_task_definition" "this" {
  family                   = "${var.cluster_name}-${var.name}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # The root file system is read-only (unless ECS Exec is on: its agent writes
  # inside the container); the application may write only here.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode(concat([{
    name                   = var.name
    image                  = var.image
    command                = ["python", "-m", var.module]
    essential              = true
    readonlyRootFilesystem = !var.enable_execute_command # ECS Exec does not work with a read-only root
    privileged             = false
    user                   = "10001:10001"
    stopTimeout            = local.stop_timeout
    portMappings = [{
      containerPort = var.port
      protocol      = "tcp"
      name          = var.protocol
    }]
    mountPoints = [{
      sourceVolume  = "tmp"
      containerPath = "/tmp"
      readOnly      = false
    }]
    environment = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    secrets     = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
    healthCheck = {
      command     = local.probe
      interval    = 10
      timeout     = 5
      retries     = 3
      startPeriod = var.health_start_period_seconds
    }
    linuxParameters = {
      initProcessEnabled = var.enable_execute_command # ECS Exec wants an init process
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = var.region
        awslogs-stream-prefix = var.name
      }
    }
  }], local.sidecars))

  tags = var.tags
}

resource "aws_service_discovery_service" "this" {
  name        = var.name
  description = "${var.name} tasks, registered by ECS"
  # Destroy deletes instances ECS has not deregistered yet instead of failing
  # with ResourceInUse.
  force_destroy = true

  dns_config {
    namespace_id   = var.namespace_id
    routing_policy = "MULTIVALUE"

    dns_records {
      ttl  = var.dns_ttl
      type = "A"
    }

    # SRV carries the port: API Gateway's VPC link integration needs it.
    dns_records {
      ttl  = var.dns_ttl
      type = "SRV"
    }
  }

  # ECS reports container health to Cloud Map.
  health_check_custom_config {
    failure_threshold = 1
  }

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name                    = var.name
  cluster                 = var.cluster_arn
  task_definition         = aws_ecs_task_definition.this.arn
  desired_count           = var.desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true
  enable_execute_command  = var.enable_execute_command

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_controller {
    type = "ECS" # rolling update; the circuit breaker needs it
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }

  service_registries {
    registry_arn   = aws_service_discovery_service.this.arn
    container_name = var.name
    container_port = var.port
  }

  # The REST gateway's tasks are also targets of the streaming NLB.
  dynamic "load_balancer" {
    for_each = var.target_group_arn == null ? [] : [var.target_group_arn]
    content {
      target_group_arn = load_balancer.value
      container_name   = var.name
      container_port   = var.port
    }
  }
  health_check_grace_period_seconds = var.target_group_arn == null ? null : var.health_start_period_seconds

  tags = var.tags

  lifecycle {
    ignore_changes = [desired_count] # autoscaling owns it after creation
  }

  depends_on = [aws_iam_role_policy.execution]
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.desired_count
  max_capacity       = max(var.desired_count, var.max_count)
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.cluster_name}-${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 120
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
