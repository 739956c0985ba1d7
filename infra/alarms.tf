locals {
  queues = {
    fetch-failures  = aws_sqs_queue.fetch_failures.name
    fanout-failures = aws_sqs_queue.fanout_failures.name
    schedule-dlq    = aws_sqs_queue.schedule_dlq.name
  }
  metrics_namespace = "DigipostEbox"
}

resource "aws_cloudwatch_metric_alarm" "queue_not_empty" {
  for_each            = local.queues
  alarm_name          = "${var.name_prefix}-${each.key}-not-empty"
  alarm_description   = "Something could not be done and waits in ${each.value}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each            = { for pair in setproduct(tolist(local.functions), ["Errors", "Throttles"]) : "${pair[0]}-${lower(pair[1])}" => pair }
  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = "${each.value[0]}: ${each.value[1]}"
  namespace           = "AWS/Lambda"
  metric_name         = each.value[1]
  dimensions          = { FunctionName = "${var.name_prefix}-${each.value[0]}" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}

# Published by fetch in embedded metric format, one value per run.
resource "aws_cloudwatch_metric_alarm" "entity_without_success" {
  alarm_name          = "${var.name_prefix}-entity-without-successful-run"
  alarm_description   = "An entity has had no successful run for ${var.stale_after_hours} hours: its mail may expire undelivered"
  namespace           = local.metrics_namespace
  metric_name         = "SecondsSinceLastSuccess"
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.stale_after_hours * 3600
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "certificate_expiring" {
  alarm_name          = "${var.name_prefix}-certificate-expiring"
  alarm_description   = "A certificate in use expires within 30 days: renew it before every entity using it stops"
  namespace           = local.metrics_namespace
  metric_name         = "CertificateDaysToExpiry"
  statistic           = "Minimum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = 30
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "undelivered_expiring" {
  alarm_name          = "${var.name_prefix}-undelivered-mail-expiring"
  alarm_description   = "A message that could not be delivered expires within 7 days"
  namespace           = local.metrics_namespace
  metric_name         = "UndeliveredSecondsToExpiry"
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 7 * 86400
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "unreadable_items" {
  alarm_name          = "${var.name_prefix}-unreadable-list-items"
  alarm_description   = "e-Box listed an item that is not a readable message: its JSON is kept under <prefix>_unreadable/ in the verdeelbak; read it there and in the web UI"
  namespace           = local.metrics_namespace
  metric_name         = "Unreadable"
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "reconcile_found_missing" {
  alarm_name          = "${var.name_prefix}-reconcile-found-missing"
  alarm_description   = "A daily reconcile found e-Box messages the walk from the cursor had missed (delivered now): look at the entity's log lines with \"reconcile\""
  namespace           = local.metrics_namespace
  metric_name         = "ReconcileFoundMissing"
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}
