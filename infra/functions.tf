locals {
  functions = toset(["fetch", "fanout", "connections"])
  # The queue each asynchronously invoked function sends its failures to; the connections
  # API is called synchronously and answers its failures.
  failure_queues = {
    fetch  = aws_sqs_queue.fetch_failures.arn
    fanout = aws_sqs_queue.fanout_failures.arn
  }
  # Every variable the functions read (a test checks this against the code).
  fetch_environment = {
    CONNECTIONS_TABLE          = aws_dynamodb_table.connections.name
    STATE_TABLE                = aws_dynamodb_table.state.name
    VERDEELBAK_BUCKET          = aws_s3_bucket.verdeelbak.bucket
    EVENT_BUS_NAME             = aws_cloudwatch_event_bus.delivered.name
    EBOX_TOKEN_URL             = var.ebox_token_url
    EBOX_AUDIENCE              = var.ebox_audience
    EBOX_PROVIDER_REGISTRY_URL = var.ebox_provider_registry_url
    EBOX_SCOPES                = var.ebox_scopes
    FETCH_CONCURRENCY          = tostring(var.fetch_concurrency)
    LEASE_SECONDS              = tostring(var.lease_seconds)
    TIME_MARGIN_SECONDS        = "30"
    SECRETS_CACHE_SECONDS      = "300"
    UNREADABLE_HOLD_DAYS       = tostring(var.unreadable_hold_days)
    RECONCILE_INTERVAL_HOURS   = tostring(var.reconcile_interval_hours)
    # glibc's allocator with fixed thresholds (delivery::config::FETCH_MALLOC_TUNABLES).
    GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072:glibc.malloc.top_pad=65536"
  }
  fanout_environment = {
    CONNECTIONS_TABLE   = aws_dynamodb_table.connections.name
    STATE_TABLE         = aws_dynamodb_table.state.name
    FETCH_FUNCTION_NAME = aws_lambda_function.fetch.function_name
    FANOUT_CONCURRENCY  = tostring(var.fanout_concurrency)
    # The schedule fanout runs on: "stale" counts scheduled runs missed, not hours.
    SCHEDULE_EXPRESSION         = var.schedule_expression
    SCHEDULE_TIMEZONE           = var.schedule_timezone
    STALE_AFTER_MISSED_RUNS     = tostring(var.stale_after_missed_runs)
    ONBOARDING_STUCK_AFTER_DAYS = tostring(var.onboarding_stuck_after_days)
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# Terraform creates the functions and owns their configuration; after creation the code
# is shipped by `cargo lambda deploy` (make deploy-code), so code changes are ignored here
# and never rolled back by the next apply.
resource "aws_lambda_function" "fetch" {
  #checkov:skip=CKV_AWS_117:No VPC: it reaches e-Box on the internet and AWS through public endpoints; a NAT adds cost and no protection
  #checkov:skip=CKV_AWS_272:Code signing is not used: zips are built by cargo-lambda from a reviewed commit and shipped by the deploy role only
  function_name                  = "${var.name_prefix}-fetch"
  role                           = aws_iam_role.function["fetch"].arn
  runtime                        = "provided.al2023"
  architectures                  = ["arm64"]
  handler                        = "bootstrap"
  filename                       = "${var.lambda_zip_dir}/fetch/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.lambda_zip_dir}/fetch/bootstrap.zip")
  memory_size                    = var.fetch_memory_mb
  timeout                        = var.fetch_timeout_seconds
  reserved_concurrent_executions = var.fetch_reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = local.fetch_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function["fetch"].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.fetch_failures.arn
  }

  lifecycle {
    ignore_changes = [filename, source_code_hash]
  }
}

resource "aws_lambda_function" "fanout" {
  #checkov:skip=CKV_AWS_117:No VPC: it only calls DynamoDB and Lambda through public endpoints
  #checkov:skip=CKV_AWS_272:Code signing is not used: zips are built by cargo-lambda from a reviewed commit and shipped by the deploy role only
  function_name                  = "${var.name_prefix}-fanout"
  role                           = aws_iam_role.function["fanout"].arn
  runtime                        = "provided.al2023"
  architectures                  = ["arm64"]
  handler                        = "bootstrap"
  filename                       = "${var.lambda_zip_dir}/fanout/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.lambda_zip_dir}/fanout/bootstrap.zip")
  memory_size                    = var.fanout_memory_mb
  timeout                        = var.fanout_timeout_seconds
  reserved_concurrent_executions = 1
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = local.fanout_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function["fanout"].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.fanout_failures.arn
  }

  lifecycle {
    ignore_changes = [filename, source_code_hash]
  }
}

resource "aws_lambda_function_event_invoke_config" "fetch" {
  function_name                = aws_lambda_function.fetch.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
  destination_config {
    on_failure {
      destination = aws_sqs_queue.fetch_failures.arn
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "fanout" {
  function_name                = aws_lambda_function.fanout.function_name
  maximum_retry_attempts       = 1
  maximum_event_age_in_seconds = 900
  destination_config {
    on_failure {
      destination = aws_sqs_queue.fanout_failures.arn
    }
  }
}

# The schedule: EventBridge Scheduler, time-zone aware, with its own retry policy,
# dead-letter queue and role (allowed to invoke fanout only).
resource "aws_scheduler_schedule" "fanout" {
  name                         = "${var.name_prefix}-fanout"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.fanout.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ trigger = "schedule", schedule = "${var.name_prefix}-fanout" })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 3
    }

    dead_letter_config {
      arn = aws_sqs_queue.schedule_dlq.arn
    }
  }
}
