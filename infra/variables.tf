variable "name_prefix" {
  description = "Prefix of every resource name"
  type        = string
  default     = "digipost-ebox"
}

variable "region" {
  description = "AWS region"
  type        = string
  default     = "eu-west-1"
}

variable "schedule_expression" {
  description = "When fanout runs (EventBridge Scheduler expression: cron(...) with six fields, or rate(...))"
  type        = string
  default     = "cron(0 6-20 ? * MON-FRI *)"
  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.schedule_expression))
    error_message = "A recurring schedule: cron(...) or rate(...)."
  }
}

variable "schedule_timezone" {
  description = "Time zone of the schedule expression"
  type        = string
  default     = "Europe/Brussels"
}

variable "ebox_token_url" {
  description = "e-Box OAuth token endpoint"
  type        = string
  default     = "https://services.socialsecurity.be/REST/oauth/v5/token"
}

variable "ebox_audience" {
  description = "aud of client assertions (v5: the token URL)"
  type        = string
  default     = "https://services.socialsecurity.be/REST/oauth/v5/token"
}

variable "ebox_provider_registry_url" {
  description = "Provider discovery: the Document Provider Registry (current), or the older .../federation/v1/messageProviders; both answers are read"
  type        = string
  default     = "https://services.socialsecurity.be/REST/ebox/enterprise/federation/documentProviderRegistry/v1/messageRegistries"
}

variable "ebox_scopes" {
  description = "Scopes token requests name, space separated. Empty (the default): none is named, and each token carries every scope its client was granted, whether the older or the newer ones"
  type        = string
  default     = ""
}

variable "unreadable_hold_days" {
  description = "Days the cursor waits for a list item that is not a readable message before moving past it (its raw copy stays under _unreadable/)"
  type        = number
  default     = 3
}

variable "secrets_prefix" {
  description = "Name prefix of the connections' secrets and the shared certificate secret"
  type        = string
  default     = "digipost/ebox/"
}

variable "fetch_memory_mb" {
  type    = number
  default = 256
}

variable "fetch_timeout_seconds" {
  type    = number
  default = 900
}

variable "lease_seconds" {
  description = "How long a run's lease holds. Runs renew it every quarter of this while they work, so it is how long a run that died blocks its entity."
  type        = number
  default     = 120
  validation {
    condition     = var.lease_seconds >= 20
    error_message = "A lease shorter than 20 s leaves renewals no room for a slow answer."
  }
}

variable "fanout_memory_mb" {
  type    = number
  default = 128
}

variable "fanout_timeout_seconds" {
  type    = number
  default = 300
}

variable "reconcile_interval_hours" {
  description = "How often each entity's run lists everything e-Box holds and compares it with the ledger (at a moment of the interval of its own); 0: only on request"
  type        = number
  default     = 24
}

variable "fetch_concurrency" {
  description = "Messages of one entity delivered at once"
  type        = number
  default     = 8
}

variable "fetch_reserved_concurrency" {
  description = "Fetch runs at once, all entities together: protects e-Box and the account"
  type        = number
  default     = 20
}

variable "fanout_concurrency" {
  description = "Asynchronous invokes of fetch in flight"
  type        = number
  default     = 64
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "alarm_topic_arn" {
  description = "SNS topic that receives the alarms"
  type        = string
}

variable "stale_after_missed_runs" {
  description = "A connection is stale (and alarmed) after this many scheduled runs in a row without a successful one"
  type        = number
  default     = 3
  validation {
    condition     = var.stale_after_missed_runs >= 1
    error_message = "At least one missed run."
  }
}

variable "onboarding_stuck_after_days" {
  description = "An onboarding on one step (requested, certificate handed over, waiting for the ClientID, ClientID refused) for longer than this many days is stuck, and alarmed"
  type        = number
  default     = 14
  validation {
    condition     = var.onboarding_stuck_after_days >= 1
    error_message = "At least one day."
  }
}

variable "lambda_zip_dir" {
  description = "Where cargo lambda build --release --arm64 --output-format zip put the zips"
  type        = string
  default     = "../target/lambda"
}

variable "event_archive_days" {
  description = "How long the event bus's archive keeps every delivered-message event, for replays from EventBridge"
  type        = number
  default     = 90
  validation {
    condition     = var.event_archive_days >= 1
    error_message = "event_archive_days must be at least 1."
  }
}

variable "platform_role_name" {
  description = "The IAM role (in this account) the DigiPost platform's backend calls the connections API with; it alone is given execute-api:Invoke. Empty: no one is, until set"
  type        = string
  default     = ""
}

variable "api_rate_limit" {
  description = "Requests a second the connections API takes (steady), beyond which it answers 429"
  type        = number
  default     = 10
}

variable "api_burst_limit" {
  description = "Requests the connections API takes at once"
  type        = number
  default     = 20
}

variable "api_reserved_concurrency" {
  description = "Concurrent executions of the connections function at most"
  type        = number
  default     = 5
}
