# The verdeelbak bucket: what DigiPost's downstream systems read.
resource "aws_s3_bucket" "verdeelbak" {
  #checkov:skip=CKV_AWS_18:Access is logged by CloudTrail data events at the organisation level, not per bucket
  #checkov:skip=CKV_AWS_144:Cross-region replication is a DigiPost-wide backup decision, not this stack's
  #checkov:skip=CKV2_AWS_62:Downstream reads message.json by listing; no event consumer exists to notify
  bucket = "${var.name_prefix}-verdeelbak-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket_public_access_block" "verdeelbak" {
  bucket                  = aws_s3_bucket.verdeelbak.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "verdeelbak" {
  bucket = aws_s3_bucket.verdeelbak.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "verdeelbak" {
  bucket = aws_s3_bucket.verdeelbak.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "verdeelbak" {
  bucket = aws_s3_bucket.verdeelbak.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "verdeelbak" {
  bucket = aws_s3_bucket.verdeelbak.id
  rule {
    id     = "old-versions-and-unfinished-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

resource "aws_s3_bucket_policy" "verdeelbak" {
  bucket = aws_s3_bucket.verdeelbak.id
  policy = data.aws_iam_policy_document.verdeelbak_tls_only.json
}

data "aws_iam_policy_document" "verdeelbak_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.verdeelbak.arn, "${aws_s3_bucket.verdeelbak.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# Key names match crates/delivery/src/schema.rs (a test checks it).
resource "aws_dynamodb_table" "connections" {
  name         = "${var.name_prefix}-connections"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "entity_id"

  attribute {
    name = "entity_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}

resource "aws_dynamodb_table" "state" {
  name         = "${var.name_prefix}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}

# Where what could not be done ends up: failed asynchronous fetches, undeliverable
# schedule ticks, failed fanout invocations.
resource "aws_sqs_queue" "fetch_failures" {
  name                      = "${var.name_prefix}-fetch-failures"
  kms_master_key_id         = aws_kms_key.main.arn
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue" "fanout_failures" {
  name                      = "${var.name_prefix}-fanout-failures"
  kms_master_key_id         = aws_kms_key.main.arn
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue" "schedule_dlq" {
  name                      = "${var.name_prefix}-schedule-dlq"
  kms_master_key_id         = aws_kms_key.main.arn
  message_retention_seconds = 1209600
}
