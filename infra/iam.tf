data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${var.name_prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# What every function needs from the platform: its own log group, X-Ray, the key that
# encrypts its environment, logs and queues, and its own failure queue.
data "aws_iam_policy_document" "platform" {
  for_each = local.functions
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }
  statement {
    sid = "Tracing"
    # X-Ray has no resource-level permissions: these two actions take no narrower resource.
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  dynamic "statement" {
    for_each = contains(keys(local.failure_queues), each.key) ? [local.failure_queues[each.key]] : []
    content {
      sid       = "FailureQueue"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "platform" {
  for_each = local.functions
  name     = "platform"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.platform[each.key].json
}

# fetch: read connections and secrets, keep state, write the verdeelbak.
data "aws_iam_policy_document" "fetch" {
  statement {
    sid       = "Connections"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.connections.arn]
  }
  statement {
    sid = "State"
    # ConditionCheckItem: every write under a lease checks, in one transaction, that the
    # lease is still the run's.
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.state.arn]
  }
  statement {
    sid       = "Secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:${data.aws_partition.current.partition}:secretsmanager:${var.region}:${data.aws_caller_identity.current.account_id}:secret:${var.secrets_prefix}*"]
  }
  statement {
    sid = "Verdeelbak"
    # GetObject: a rerun reads a message's message.json before it delivers the message
    # again (after a crash between message.json and the ledger row).
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.verdeelbak.arn}/*"]
  }
  statement {
    sid       = "Events"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.delivered.arn]
  }
  statement {
    sid = "VerdeelbakMissingIs404"
    # Only so that a GetObject of a missing key answers 404 rather than 403; fetch lists
    # nothing.
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.verdeelbak.arn]
  }
}

resource "aws_iam_role_policy" "fetch" {
  name   = "fetch"
  role   = aws_iam_role.function["fetch"].id
  policy = data.aws_iam_policy_document.fetch.json
}

# fanout: read the connections and their last runs (to count the fleet), invoke fetch.
# Nothing else.
data "aws_iam_policy_document" "fanout" {
  statement {
    sid       = "Connections"
    actions   = ["dynamodb:Scan", "dynamodb:GetItem"]
    resources = [aws_dynamodb_table.connections.arn]
  }
  statement {
    sid       = "LastRuns"
    actions   = ["dynamodb:BatchGetItem"]
    resources = [aws_dynamodb_table.state.arn]
  }
  statement {
    sid       = "InvokeFetch"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.fetch.arn]
  }
}

resource "aws_iam_role_policy" "fanout" {
  name   = "fanout"
  role   = aws_iam_role.function["fanout"].id
  policy = data.aws_iam_policy_document.fanout.json
}

# connections (the API): administer the connections and their secrets, read the state for
# the views, keep answers under idempotency keys. No S3, no events, no invoke.
data "aws_iam_policy_document" "connections" {
  statement {
    sid       = "Connections"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.connections.arn]
  }
  statement {
    sid       = "StateRead"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"]
    resources = [aws_dynamodb_table.state.arn]
  }
  statement {
    sid = "Answers"
    # Only answers kept under an idempotency key (their own partitions, a day's TTL):
    # never an entity's lease, cursors or ledger.
    actions   = ["dynamodb:PutItem"]
    resources = [aws_dynamodb_table.state.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["IDEMPOTENCY#*"]
    }
  }
  statement {
    sid = "ReadSecrets"
    # A connection's own secret, and the shared certificate secret it may point at.
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:${data.aws_partition.current.partition}:secretsmanager:${var.region}:${data.aws_caller_identity.current.account_id}:secret:${var.secrets_prefix}*"]
  }
  statement {
    sid = "ConnectionSecrets"
    # Made, replaced and removed only under connections/: never the shared certificate.
    actions   = ["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret"]
    resources = ["arn:${data.aws_partition.current.partition}:secretsmanager:${var.region}:${data.aws_caller_identity.current.account_id}:secret:${var.secrets_prefix}connections/*"]
  }
}

resource "aws_iam_role_policy" "connections" {
  name   = "connections"
  role   = aws_iam_role.function["connections"].id
  policy = data.aws_iam_policy_document.connections.json
}

# The schedule's role: invoke fanout, dead-letter into its own queue.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name_prefix}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.fanout.arn]
  }
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.schedule_dlq.arn]
  }
  statement {
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-fanout"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
