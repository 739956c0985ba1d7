# The bus downstream systems subscribe to: one event per delivered message (source
# digipost-ebox, detail-type "e-Box message delivered"; the README documents the detail).
# Only fetch publishes on it.
resource "aws_cloudwatch_event_bus" "delivered" {
  name = "${var.name_prefix}-delivered"
}

# Every event is kept for var.event_archive_days, so a consumer can also replay from
# EventBridge (besides `digipost-ebox events replay`, which publishes from the ledger).
resource "aws_cloudwatch_event_archive" "delivered" {
  name             = "${var.name_prefix}-delivered"
  event_source_arn = aws_cloudwatch_event_bus.delivered.arn
  retention_days   = var.event_archive_days
  event_pattern    = jsonencode({ source = ["digipost-ebox"] })
}

# Events still pending through a whole hour: every run in it left some unpublished.
resource "aws_cloudwatch_metric_alarm" "events_pending" {
  alarm_name          = "${var.name_prefix}-events-pending"
  alarm_description   = "Delivered messages whose event has not reached the bus for an hour: downstream does not know of them"
  namespace           = local.metrics_namespace
  metric_name         = "EventsPending"
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}
