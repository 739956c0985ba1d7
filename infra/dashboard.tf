# The dashboard for the people on duty: deliveries and failures, connections by health,
# undelivered mail by days to its expiry, and the certificate's days left. Every metric on
# our namespace here is one fetch or fanout emits (a test checks the names).
locals {
  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title   = "Deliveries and failures per hour"
        region  = var.region
        stat    = "Sum"
        period  = 3600
        view    = "timeSeries"
        stacked = false
        metrics = [
          [local.metrics_namespace, "Delivered", { label = "delivered" }],
          [local.metrics_namespace, "RegisteredDelivered", { label = "registered mail delivered" }],
          [local.metrics_namespace, "Failed", { label = "messages failed" }],
          [local.metrics_namespace, "Unreadable", { label = "unreadable list items" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title   = "Connections by health (each scheduled tick)"
        region  = var.region
        stat    = "Maximum"
        period  = 3600
        view    = "timeSeries"
        stacked = true
        metrics = [
          [local.metrics_namespace, "ConnectionsOk", { label = "ok" }],
          [local.metrics_namespace, "ConnectionsDegraded", { label = "degraded" }],
          [local.metrics_namespace, "ConnectionsNeedingAction", { label = "needs action" }],
          [local.metrics_namespace, "ConnectionsStale", { label = "stale (missed scheduled runs)" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 8, height = 6
      properties = {
        title  = "Undelivered mail: days to the earliest expiry"
        region = var.region
        stat   = "Minimum"
        period = 3600
        view   = "timeSeries"
        metrics = [
          [local.metrics_namespace, "UndeliveredSecondsToExpiry", { id = "seconds", visible = false }],
          [{ expression = "seconds / 86400", label = "days", id = "days" }],
        ]
        annotations = { horizontal = [{ label = "alarm", value = 7 }] }
      }
    },
    {
      type = "metric", x = 8, y = 6, width = 8, height = 6
      properties = {
        title  = "Connections with undelivered mail expiring within 7 days"
        region = var.region
        stat   = "Maximum"
        period = 3600
        view   = "singleValue"
        metrics = [
          [local.metrics_namespace, "ConnectionsWithMailExpiring"],
          [local.metrics_namespace, "ConnectionsEnabled"],
        ]
      }
    },
    {
      type = "metric", x = 16, y = 6, width = 8, height = 6
      properties = {
        title  = "Certificate: days left"
        region = var.region
        stat   = "Minimum"
        period = 86400
        view   = "singleValue"
        metrics = [
          [local.metrics_namespace, "CertificateDaysToExpiry"],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title  = "Events pending and reconcile findings"
        region = var.region
        stat   = "Maximum"
        period = 3600
        view   = "timeSeries"
        metrics = [
          [local.metrics_namespace, "EventsPending"],
          [local.metrics_namespace, "ReconcileFoundMissing"],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "on_duty" {
  dashboard_name = "${var.name_prefix}-on-duty"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
