# What the mesh looks like from CloudWatch and X-Ray: the ADOT collector's
# configuration (every task runs one as a sidecar, see modules/ecs_service),
# a dashboard, alarms and the SNS topic they notify.
#
# Each process serves Prometheus text on its side port (MESH_METRICS_PORT) and
# sends spans over OTLP/HTTP to 127.0.0.1:4318; the collector scrapes the one
# and receives the other, and exports metrics as CloudWatch Embedded Metric
# Format log events (awsemf: no agent, no PutMetricData) and spans to X-Ray
# (awsxray; the mesh's trace ids carry the epoch seconds X-Ray needs).

locals {
  # The collector reads its settings from its own environment (${env:...}),
  # which modules/ecs_service sets per task: one configuration for every service.
  collector_config = yamlencode({
    extensions = {
      health_check = { endpoint = "127.0.0.1:13133" }
    }
    receivers = {
      otlp = {
        protocols = {
          http = { endpoint = "127.0.0.1:4318" }
          grpc = { endpoint = "127.0.0.1:4317" } # for MESH_TRACES_EXPORTER=otlp-grpc
        }
      }
      prometheus = {
        config = {
          scrape_configs = [{
            job_name        = "mesh"
            scrape_interval = "30s"
            static_configs = [{
              targets = ["127.0.0.1:$${env:MESH_METRICS_PORT}"]
              labels  = { Service = "$${env:MESH_SERVICE}" }
            }]
          }]
        }
      }
    }
    processors = {
      batch = { timeout = "5s" }
      "resourcedetection" = { detectors = ["env", "ecs"], timeout = "2s", override = false }
    }
    exporters = {
      awsxray = { region = var.region }
      awsemf = {
        region                  = var.region
        namespace               = var.metrics_namespace
        log_group_name          = "$${env:MESH_METRICS_LOG_GROUP}"
        log_stream_name         = "{TaskId}"
        dimension_rollup_option = "NoDimensionRollup"
        # Only the series the dashboard and the alarms read become metrics; the
        # rest stays in the log events (queryable with Logs Insights).
        metric_declarations = [
          {
            dimensions             = [["Service"], ["Service", "code"], ["Service", "rpc"]]
            metric_name_selectors  = ["^mesh_rpc_server_duration_seconds$", "^mesh_rpc_client_duration_seconds$"]
          },
          {
            dimensions            = [["Service"], ["Service", "status"], ["Service", "route"]]
            metric_name_selectors = ["^mesh_http_server_duration_seconds$"]
          },
          {
            dimensions            = [["Service"], ["Service", "target"], ["Service", "state"]]
            metric_name_selectors = ["^mesh_rpc_server_in_flight$", "^mesh_http_server_in_flight$", "^mesh_discovery_endpoints$", "^mesh_discovery_cache_age_seconds$", "^mesh_db_pool_connections$", "^mesh_serving$"]
          },
        ]
      }
    }
    service = {
      extensions = ["health_check"]
      pipelines = {
        traces  = { receivers = ["otlp"], processors = ["resourcedetection", "batch"], exporters = ["awsxray"] }
        metrics = { receivers = ["prometheus"], processors = ["resourcedetection", "batch"], exporters = ["awsemf"] }
      }
    }
  })

  latency_metric = { for name, svc in var.services : name => svc.protocol == "http" ? "mesh_http_server_duration_seconds" : "mesh_rpc_server_duration_seconds" }
  error_dimension = { for name, svc in var.services : name => svc.protocol == "http" ? "status" : "code" }
  # Server faults only: a caller's NOT_FOUND or 400 is not the service's error.
  error_filter = { for name, svc in var.services : name => svc.protocol == "http" ? "status=5*" : "(code=INTERNAL OR code=UNKNOWN OR code=UNAVAILABLE OR code=DEADLINE_EXCEEDED OR code=DATA_LOSS)" }

  service_rows = flatten([
    for i, name in sort(keys(var.services)) : [
      {
        type = "metric", x = 0, y = 6 + i * 6, width = 6, height = 6
        properties = {
          title   = "${name}: requests / min"
          region  = var.region
          stat    = "SampleCount"
          period  = 60
          metrics = [[var.metrics_namespace, local.latency_metric[name], "Service", name]]
        }
      },
      {
        type = "metric", x = 6, y = 6 + i * 6, width = 6, height = 6
        properties = {
          title  = "${name}: errors / min (server faults)"
          region = var.region
          period = 60
          metrics = [[{
            expression = "SEARCH('{${var.metrics_namespace},Service,${local.error_dimension[name]}} MetricName=\"${local.latency_metric[name]}\" Service=\"${name}\" ${local.error_filter[name]}', 'SampleCount', 60)"
            id         = "errors"
          }]]
        }
      },
      {
        type = "metric", x = 12, y = 6 + i * 6, width = 6, height = 6
        properties = {
          title   = "${name}: p99 latency (s)"
          region  = var.region
          stat    = "p99"
          period  = 60
          metrics = [[var.metrics_namespace, local.latency_metric[name], "Service", name]]
        }
      },
      {
        type = "metric", x = 18, y = 6 + i * 6, width = 6, height = 6
        properties = {
          title  = "${name}: CPU, memory (%), running tasks"
          region = var.region
          period = 60
          metrics = [
            ["AWS/ECS", "CPUUtilization", "ClusterName", var.cluster_name, "ServiceName", name],
            ["AWS/ECS", "MemoryUtilization", "ClusterName", var.cluster_name, "ServiceName", name],
            ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", var.cluster_name, "ServiceName", name, { yAxis = "right" }],
          ]
        }
      },
    ]
  ])

  front_row = [
    {
      type = "metric", x = 0, y = 0, width = 8, height = 6
      properties = {
        title  = "API Gateway: requests, 4xx, 5xx"
        region = var.region
        stat   = "Sum"
        period = 60
        metrics = [
          ["AWS/ApiGateway", "Count", "ApiId", var.api_id],
          ["AWS/ApiGateway", "4xx", "ApiId", var.api_id],
          ["AWS/ApiGateway", "5xx", "ApiId", var.api_id],
        ]
      }
    },
    {
      type = "metric", x = 8, y = 0, width = 8, height = 6
      properties = {
        title  = "API Gateway: latency (ms)"
        region = var.region
        period = 60
        metrics = [
          ["AWS/ApiGateway", "Latency", "ApiId", var.api_id, { stat = "p50" }],
          ["AWS/ApiGateway", "Latency", "ApiId", var.api_id, { stat = "p99" }],
        ]
      }
    },
    {
      type = "metric", x = 16, y = 0, width = 8, height = 6
      properties = {
        title  = "RDS: CPU (%), connections, free storage (bytes)"
        region = var.region
        period = 300
        metrics = var.db_instance_identifier == "" ? [] : [
          ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", var.db_instance_identifier],
          ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", var.db_instance_identifier],
          ["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", var.db_instance_identifier, { yAxis = "right" }],
        ]
      }
    },
  ]
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_dashboard" "mesh" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = concat(local.front_row, local.service_rows) })
}

# 5xx share of the API's requests: what a client sees failing.
resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "More than ${var.error_rate_percent}% of API requests answered 5xx over 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.error_rate_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = var.api_id }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiId = var.api_id }
      period      = 300
      stat        = "Sum"
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_p99" {
  alarm_name          = "${var.name}-api-p99"
  alarm_description   = "The API's p99 latency stayed above ${var.p99_latency_ms} ms for 15 minutes."
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  dimensions          = { ApiId = var.api_id }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.p99_latency_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

# Per service, from the collectors' EMF metrics (seconds).
resource "aws_cloudwatch_metric_alarm" "service_p99" {
  for_each            = var.services
  alarm_name          = "${var.name}-${each.key}-p99"
  alarm_description   = "${each.key}: p99 latency above ${var.p99_latency_ms} ms for 15 minutes."
  namespace           = var.metrics_namespace
  metric_name         = local.latency_metric[each.key]
  dimensions          = { Service = each.key }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.p99_latency_ms / 1000
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

# Fewer running tasks than desired for 5 minutes: crashing, failing health checks
# or not placed.
resource "aws_cloudwatch_metric_alarm" "unhealthy_tasks" {
  for_each            = var.services
  alarm_name          = "${var.name}-${each.key}-tasks"
  alarm_description   = "${each.key}: fewer than ${each.value.replicas} running task(s) for 5 minutes."
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = each.key }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "LessThanThreshold"
  threshold           = each.value.replicas
  treat_missing_data  = "breaching" # no data at all: no task reports
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  count               = var.db_instance_identifier == "" ? 0 : 1
  alarm_name          = "${var.name}-db-cpu"
  alarm_description   = "The database's CPU stayed above ${var.db_cpu_percent}% for 15 minutes."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = var.db_instance_identifier }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.db_cpu_percent
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  count               = var.db_instance_identifier == "" ? 0 : 1
  alarm_name          = "${var.name}-db-free-storage"
  alarm_description   = "The database has less than ${var.db_free_storage_gib} GiB free."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = var.db_instance_identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = var.db_free_storage_gib * 1024 * 1024 * 1024
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}
