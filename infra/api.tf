# The connections API that DigiPost's "connecties" tab calls: an HTTP API, every route
# IAM-authorised (SigV4), in front of the connections function. Only the platform's role
# is given the right to call it; requests are bounded in rate (here) and size (64 kB, in
# the function).

resource "aws_lambda_function" "connections" {
  #checkov:skip=CKV_AWS_117:No VPC: it reaches e-Box (to test a connection) on the internet and AWS through public endpoints
  #checkov:skip=CKV_AWS_272:Code signing is not used: zips are built by cargo-lambda from a reviewed commit and shipped by the deploy role only
  #checkov:skip=CKV_AWS_116:Called synchronously by API Gateway: a failure is answered to the caller, there is nothing to dead-letter
  function_name    = "${var.name_prefix}-connections"
  role             = aws_iam_role.function["connections"].arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = "${var.lambda_zip_dir}/connections/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/connections/bootstrap.zip")
  memory_size      = 256
  # Below the integration's 29 s: a slow test of e-Box is answered by the function, not
  # cut off by the gateway.
  timeout                        = 25
  reserved_concurrent_executions = var.api_reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = local.connections_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function["connections"].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = "Active"
  }

  lifecycle {
    ignore_changes = [filename, source_code_hash]
  }
}

locals {
  # Every variable the connections function reads (a test checks this against the code).
  connections_environment = {
    CONNECTIONS_TABLE           = aws_dynamodb_table.connections.name
    STATE_TABLE                 = aws_dynamodb_table.state.name
    SECRETS_PREFIX              = var.secrets_prefix
    EBOX_TOKEN_URL              = var.ebox_token_url
    EBOX_AUDIENCE               = var.ebox_audience
    EBOX_PROVIDER_REGISTRY_URL  = var.ebox_provider_registry_url
    EBOX_SCOPES                 = var.ebox_scopes
    ONBOARDING_STUCK_AFTER_DAYS = tostring(var.onboarding_stuck_after_days)
  }
}

resource "aws_apigatewayv2_api" "connections" {
  name          = "${var.name_prefix}-connections"
  protocol_type = "HTTP"
  description   = "The connections API of DigiPost's connecties tab (IAM-authorised)"
}

resource "aws_apigatewayv2_integration" "connections" {
  api_id                 = aws_apigatewayv2_api.connections.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.connections.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

# One route for every path: the function routes, and answers a path it does not serve
# with a problem. Every request must be signed (SigV4) by a principal allowed to invoke.
resource "aws_apigatewayv2_route" "connections" {
  api_id             = aws_apigatewayv2_api.connections.id
  route_key          = "$default"
  target             = "integrations/${aws_apigatewayv2_integration.connections.id}"
  authorization_type = "AWS_IAM"
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${var.name_prefix}-connections"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_apigatewayv2_stage" "connections" {
  api_id      = aws_apigatewayv2_api.connections.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.api_rate_limit
    throttling_burst_limit = var.api_burst_limit
  }

  # Who called what and how it ended; never a body (bodies carry key material).
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId = "$context.requestId"
      caller    = "$context.identity.userArn"
      method    = "$context.httpMethod"
      path      = "$context.path"
      status    = "$context.status"
      latencyMs = "$context.responseLatency"
      error     = "$context.integrationErrorMessage"
    })
  }
}

resource "aws_lambda_permission" "api" {
  statement_id  = "InvokeFromTheConnectionsApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.connections.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.connections.execution_arn}/*/*"
}

# The platform's role (in this account) may call the API; no one else is given the right.
data "aws_iam_policy_document" "platform_calls_api" {
  statement {
    sid       = "CallTheConnectionsApi"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_apigatewayv2_api.connections.execution_arn}/$default/*"]
  }
}

resource "aws_iam_role_policy" "platform_calls_api" {
  count  = var.platform_role_name == "" ? 0 : 1
  name   = "${var.name_prefix}-connections-api"
  role   = var.platform_role_name
  policy = data.aws_iam_policy_document.platform_calls_api.json
}

resource "aws_cloudwatch_metric_alarm" "api_server_errors" {
  alarm_name          = "${var.name_prefix}-connections-api-5xx"
  alarm_description   = "The connections API answered with server errors: the function's log names the entity and the step"
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = { ApiId = aws_apigatewayv2_api.connections.id, Stage = "$default" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}
