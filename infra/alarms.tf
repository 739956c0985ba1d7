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

# Published by fanout on each scheduled tick, counted over the whole fleet without a
# dimension per entity: an entity that is not run at all is counted too.
resource "aws_cloudwatch_metric_alarm" "connections_stale" {
  alarm_name          = "${var.name_prefix}-connections-stale"
  alarm_description   = "A connection has had ${var.stale_after_missed_runs} scheduled runs in a row without a successful one: `digipost-ebox status` says which and why; until it runs again its mail must be read in the e-Box web UI"
  namespace           = local.metrics_namespace
  metric_name         = "ConnectionsStale"
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "onboardings_stuck" {
  alarm_name          = "${var.name_prefix}-onboardings-stuck"
  alarm_description   = "An entity's onboarding has been on one step for more than ${var.onboarding_stuck_after_days} days: `digipost-ebox status` names the entity, the step and who acts next"
  namespace           = local.metrics_namespace
  metric_name         = "OnboardingsStuck"
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "connections_needing_action" {
  alarm_name          = "${var.name_prefix}-connections-needing-action"
  alarm_description   = "e-Box refuses a connection's credentials: `digipost-ebox status --needs-action` names the entity and the step it must redo; until then its mail must be read in the e-Box web UI"
  namespace           = local.metrics_namespace
  metric_name         = "ConnectionsNeedingAction"
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
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

# From fanout's count: also for an entity whose runs stopped after they failed to deliver.
resource "aws_cloudwatch_metric_alarm" "undelivered_expiring" {
  alarm_name          = "${var.name_prefix}-undelivered-mail-expiring"
  alarm_description   = "A message that could not be delivered expires within 7 days: `digipost-ebox status` shows the entity (undelivered exp.); read it in the e-Box web UI before it is gone"
  namespace           = local.metrics_namespace
  metric_name         = "ConnectionsWithMailExpiring"
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
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
