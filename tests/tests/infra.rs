//! infra/ and the code must agree: every variable a function reads is set on it, the
//! tables have the key names and TTL attribute the code uses, and each function's role
//! allows exactly the AWS actions its code performs.

use std::collections::{BTreeMap, BTreeSet};

use delivery::config::{FanoutConfig, FetchConfig, variables_read};
use delivery::schema;
use hcl::{Block, Body, Expression, ObjectKey};

fn terraform() -> Vec<Block> {
    let dir = testkit::workspace_root().join("infra");
    let mut blocks = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tf") {
            let body: Body = hcl::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            blocks.extend(body.into_blocks());
        }
    }
    blocks
}

fn find<'a>(blocks: &'a [Block], kind: &str, labels: &[&str]) -> &'a Block {
    blocks
        .iter()
        .find(|b| b.identifier() == kind && b.labels().iter().map(|l| l.as_str()).eq(labels.iter().copied()))
        .unwrap_or_else(|| panic!("{kind} {labels:?} is not declared in infra/"))
}

fn attribute<'a>(block: &'a Block, key: &str) -> &'a Expression {
    block
        .body()
        .attributes()
        .find(|a| a.key() == key)
        .map(|a| a.expr())
        .unwrap_or_else(|| panic!("{} {:?} has no {key}", block.identifier(), block.labels()))
}

fn string(e: &Expression) -> String {
    match e {
        Expression::String(s) => s.clone(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn strings(e: &Expression) -> BTreeSet<String> {
    match e {
        Expression::Array(items) => items.iter().map(string).collect(),
        other => panic!("expected a list of strings, got {other:?}"),
    }
}

fn local_object(blocks: &[Block], name: &str) -> BTreeMap<String, Expression> {
    for b in blocks.iter().filter(|b| b.identifier() == "locals") {
        if let Some(a) = b.body().attributes().find(|a| a.key() == name) {
            let Expression::Object(object) = a.expr() else {
                panic!("local.{name} is not an object")
            };
            return object
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        ObjectKey::Identifier(id) => id.to_string(),
                        ObjectKey::Expression(e) => string(e),
                        other => panic!("unexpected key {other:?}"),
                    };
                    (key, v.clone())
                })
                .collect();
        }
    }
    panic!("local.{name} is not declared")
}

fn local_object_keys(blocks: &[Block], name: &str) -> BTreeSet<String> {
    local_object(blocks, name).into_keys().collect()
}

#[test]
fn every_variable_a_function_reads_is_set_on_it() {
    let blocks = terraform();
    let fetch_reads: BTreeSet<String> = variables_read(FetchConfig::read).into_iter().collect();
    let fanout_reads: BTreeSet<String> = variables_read(FanoutConfig::read).into_iter().collect();
    assert!(fetch_reads.contains("EBOX_TOKEN_URL") && fanout_reads.contains("FETCH_FUNCTION_NAME"));
    // Besides what the code reads, fetch's process gets its allocator's settings.
    let (tunables, value) = delivery::config::FETCH_MALLOC_TUNABLES;
    let mut fetch_environment = local_object(&blocks, "fetch_environment");
    let set = fetch_environment
        .remove(tunables)
        .expect("fetch's environment sets GLIBC_TUNABLES");
    assert_eq!(string(&set), value, "the allocator settings the benchmarks measured");
    assert_eq!(fetch_environment.into_keys().collect::<BTreeSet<_>>(), fetch_reads);
    assert_eq!(local_object_keys(&blocks, "fanout_environment"), fanout_reads);
    let api_reads: BTreeSet<String> = variables_read(connections_api::ApiConfig::read).into_iter().collect();
    assert!(api_reads.contains("SECRETS_PREFIX") && api_reads.contains("EBOX_AUDIENCE"));
    assert_eq!(local_object_keys(&blocks, "connections_environment"), api_reads);
    for (function, local) in [
        ("fetch", "local.fetch_environment"),
        ("fanout", "local.fanout_environment"),
        ("connections", "local.connections_environment"),
    ] {
        let f = find(&blocks, "resource", &["aws_lambda_function", function]);
        let env = f
            .body()
            .blocks()
            .find(|b| b.identifier() == "environment")
            .expect("environment block");
        let variables = attribute(env, "variables");
        assert_eq!(
            variables.to_string(),
            local,
            "{function} takes its variables from {local}"
        );
        assert_eq!(string(attribute(f, "runtime")), "provided.al2023");
        assert_eq!(
            strings(attribute(f, "architectures")),
            BTreeSet::from(["arm64".to_string()])
        );
    }
}

#[test]
fn tables_have_the_keys_and_ttl_the_code_uses() {
    let blocks = terraform();
    let connections = find(&blocks, "resource", &["aws_dynamodb_table", "connections"]);
    assert_eq!(
        string(attribute(connections, "hash_key")),
        schema::CONNECTIONS_PARTITION_KEY
    );
    let state = find(&blocks, "resource", &["aws_dynamodb_table", "state"]);
    assert_eq!(string(attribute(state, "hash_key")), schema::STATE_PARTITION_KEY);
    assert_eq!(string(attribute(state, "range_key")), schema::STATE_SORT_KEY);
    let ttl = state
        .body()
        .blocks()
        .find(|b| b.identifier() == "ttl")
        .expect("ttl block");
    assert_eq!(string(attribute(ttl, "attribute_name")), schema::STATE_TTL_ATTRIBUTE);
    assert_eq!(attribute(ttl, "enabled"), &Expression::Bool(true));
}

/// Every AWS SDK operation the adapters call, the IAM action it needs, and who calls it.
/// Scanning the adapters (below) makes sure no call is missing from this table.
const OPERATIONS: &[(&str, &str, &[&str])] = &[
    ("get_item", "dynamodb:GetItem", &["fetch", "fanout", "connections"]),
    ("put_item", "dynamodb:PutItem", &["fetch", "connections"]),
    // A cursor is moved inside a transaction, which needs the action of each write in it.
    ("update_item", "dynamodb:UpdateItem", &["fetch", "connections"]),
    // Fenced writes: the lease checked in the same transaction as the write.
    ("transact_write_items", "dynamodb:ConditionCheckItem", &["fetch"]),
    ("delete_item", "dynamodb:DeleteItem", &["fetch", "connections"]),
    // fetch: which messages are delivered; fanout: the last runs, to count the fleet.
    (
        "batch_get_item",
        "dynamodb:BatchGetItem",
        &["fetch", "fanout", "connections"],
    ),
    ("query", "dynamodb:Query", &["fetch", "connections"]),
    ("scan", "dynamodb:Scan", &["fanout", "connections"]),
    ("put_object", "s3:PutObject", &["fetch"]),
    // A rerun reads a message's message.json before delivering it again.
    ("get_object", "s3:GetObject", &["fetch"]),
    (
        "get_secret_value",
        "secretsmanager:GetSecretValue",
        &["fetch", "connections"],
    ),
    ("invoke", "lambda:InvokeFunction", &["fanout"]),
    ("put_events", "events:PutEvents", &["fetch"]),
    // The connections API administers the connections and their secrets, as the CLI does.
    // Operator tools only (CLI, local bootstrap): never on a function's role.
    ("head_object", "s3:GetObject", &[]),
    ("list_objects_v2", "s3:ListBucket", &[]),
    ("create_table", "dynamodb:CreateTable", &[]),
    ("update_time_to_live", "dynamodb:UpdateTimeToLive", &[]),
    ("create_bucket", "s3:CreateBucket", &[]),
    ("put_bucket_versioning", "s3:PutBucketVersioning", &[]),
    ("create_secret", "secretsmanager:CreateSecret", &["connections"]),
    ("put_secret_value", "secretsmanager:PutSecretValue", &["connections"]),
    ("delete_secret", "secretsmanager:DeleteSecret", &["connections"]),
    ("create_event_bus", "events:CreateEventBus", &[]),
    // The CLI finding a stack's bucket by its name.
    ("list_buckets", "s3:ListAllMyBuckets", &[]),
];

/// Actions a role needs for what a call answers rather than for the call itself.
const IMPLIED: &[(&str, &str, &[&str])] = &[
    // Without it S3 answers a GetObject of a missing key 403, not 404: every first
    // delivery would look for its message.json and fail.
    ("get_object", "s3:ListBucket", &["fetch"]),
];

/// Which SDK operations the adapters call, read from the source: `<client>.<operation>(`
/// with white space removed, where the client is one of the SDK clients.
/// Every `.rs` file under `dir`, however deep.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn sdk_calls() -> BTreeSet<String> {
    let dir = testkit::workspace_root().join("crates/delivery/src/aws");
    let mut calls = BTreeSet::new();
    for path in rust_files(&dir) {
        let text: String = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        for client in [
            "self.client.",
            "clients.dynamodb.",
            "clients.s3.",
            "clients.secrets.",
            "clients.lambda.",
            "clients.events.",
        ] {
            for (at, _) in text.match_indices(client) {
                let rest = &text[at + client.len()..];
                let op: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if rest[op.len()..].starts_with('(') && !["clone", "config"].contains(&op.as_str()) {
                    calls.insert(op);
                }
            }
        }
    }
    calls
}

/// A policy document's statements, those of a `dynamic "statement"` block among them.
fn statements(doc: &Block) -> Vec<&Block> {
    let mut all = Vec::new();
    for b in doc.body().blocks() {
        match b.identifier() {
            "statement" => all.push(b),
            "dynamic" if b.labels().iter().any(|l| l.as_str() == "statement") => {
                all.extend(b.body().blocks().filter(|c| c.identifier() == "content"));
            }
            _ => {}
        }
    }
    all
}

fn policy_actions(blocks: &[Block], document: &str) -> BTreeSet<String> {
    let doc = find(blocks, "data", &["aws_iam_policy_document", document]);
    statements(doc)
        .into_iter()
        .flat_map(|s| strings(attribute(s, "actions")))
        .collect()
}

/// Every (action, resource) a policy document grants, resources as written in HCL.
fn policy_grants(blocks: &[Block], document: &str) -> BTreeSet<(String, String)> {
    let doc = find(blocks, "data", &["aws_iam_policy_document", document]);
    let mut grants = BTreeSet::new();
    for s in statements(doc) {
        let resources: Vec<String> = match attribute(s, "resources") {
            Expression::Array(items) => items.iter().map(|r| r.to_string()).collect(),
            other => vec![other.to_string()],
        };
        for action in strings(attribute(s, "actions")) {
            for resource in &resources {
                grants.insert((action.clone(), resource.clone()));
            }
        }
    }
    grants
}

#[test]
fn roles_allow_each_action_on_exactly_its_resources() {
    let blocks = terraform();
    let connections = "aws_dynamodb_table.connections.arn";
    let state = "aws_dynamodb_table.state.arn";
    let on = |action: &str, resource: &str| (action.to_owned(), resource.to_owned());
    let fetch: BTreeSet<(String, String)> = [
        on("dynamodb:GetItem", connections),
        // Its health, written when it changes.
        on("dynamodb:UpdateItem", connections),
        on("dynamodb:GetItem", state),
        on("dynamodb:PutItem", state),
        on("dynamodb:UpdateItem", state),
        on("dynamodb:DeleteItem", state),
        on("dynamodb:ConditionCheckItem", state),
        on("dynamodb:BatchGetItem", state),
        on("dynamodb:Query", state),
        on("s3:PutObject", "\"${aws_s3_bucket.verdeelbak.arn}/*\""),
        on("s3:GetObject", "\"${aws_s3_bucket.verdeelbak.arn}/*\""),
        on("s3:ListBucket", "aws_s3_bucket.verdeelbak.arn"),
        on("events:PutEvents", "aws_cloudwatch_event_bus.delivered.arn"),
        on(
            "secretsmanager:GetSecretValue",
            "\"arn:${data.aws_partition.current.partition}:secretsmanager:${var.region}:${data.aws_caller_identity.current.account_id}:secret:${var.secrets_prefix}*\"",
        ),
    ]
    .into();
    assert_eq!(policy_grants(&blocks, "fetch"), fetch, "the fetch role");
    let fanout: BTreeSet<(String, String)> = [
        on("dynamodb:Scan", connections),
        on("dynamodb:GetItem", connections),
        on("dynamodb:BatchGetItem", state),
        on("lambda:InvokeFunction", "aws_lambda_function.fetch.arn"),
    ]
    .into();
    assert_eq!(policy_grants(&blocks, "fanout"), fanout, "the fanout role");
    let secrets = "\"arn:${data.aws_partition.current.partition}:secretsmanager:${var.region}:${data.aws_caller_identity.current.account_id}:secret:${var.secrets_prefix}*\"";
    // Secrets written only under connections/: never the shared certificate.
    let own = secrets.replace("${var.secrets_prefix}*", "${var.secrets_prefix}connections/*");
    let api: BTreeSet<(String, String)> = [
        on("dynamodb:GetItem", connections),
        on("dynamodb:PutItem", connections),
        on("dynamodb:UpdateItem", connections),
        on("dynamodb:DeleteItem", connections),
        on("dynamodb:Scan", connections),
        on("dynamodb:GetItem", state),
        // Answers kept under idempotency keys.
        on("dynamodb:PutItem", state),
        on("dynamodb:Query", state),
        on("dynamodb:BatchGetItem", state),
        on("secretsmanager:GetSecretValue", secrets),
        on("secretsmanager:CreateSecret", &own),
        on("secretsmanager:PutSecretValue", &own),
        on("secretsmanager:DeleteSecret", &own),
    ]
    .into();
    assert_eq!(policy_grants(&blocks, "connections"), api, "the connections API's role");
    // Its writes to the state table are answers only, in their own partitions.
    let doc = find(&blocks, "data", &["aws_iam_policy_document", "connections"]);
    let answers = statements(doc)
        .into_iter()
        .find(|s| {
            strings(attribute(s, "actions")).contains("dynamodb:PutItem")
                && attribute(s, "resources").to_string().contains("state")
        })
        .expect("the PutItem on the state table");
    let condition = answers
        .body()
        .blocks()
        .find(|b| b.identifier() == "condition")
        .expect("a condition");
    assert_eq!(string(attribute(condition, "variable")), "dynamodb:LeadingKeys");
    assert_eq!(
        strings(attribute(condition, "values")),
        BTreeSet::from([format!("{}*", schema::answer_partition(""))])
    );
    // The platform's role may invoke the API, on this API only, and nothing else.
    let platform: BTreeSet<(String, String)> = [on(
        "execute-api:Invoke",
        "\"${aws_apigatewayv2_api.connections.execution_arn}/$default/*\"",
    )]
    .into();
    assert_eq!(policy_grants(&blocks, "platform_calls_api"), platform);
}

/// Every route of the connections API is IAM-authorised (SigV4), and its stage bounds the
/// request rate; the function's permission names this API only.
#[test]
fn the_connections_api_is_signed_and_bounded() {
    let blocks = terraform();
    let routes: Vec<&Block> = blocks
        .iter()
        .filter(|b| {
            b.identifier() == "resource"
                && b.labels()
                    .first()
                    .is_some_and(|l| l.as_str() == "aws_apigatewayv2_route")
        })
        .collect();
    assert!(!routes.is_empty(), "no route declared");
    for route in routes {
        assert_eq!(
            string(attribute(route, "authorization_type")),
            "AWS_IAM",
            "{:?}",
            route.labels()
        );
    }
    let api = find(&blocks, "resource", &["aws_apigatewayv2_api", "connections"]);
    assert_eq!(string(attribute(api, "protocol_type")), "HTTP");
    let stage = find(&blocks, "resource", &["aws_apigatewayv2_stage", "connections"]);
    let throttling = stage
        .body()
        .blocks()
        .find(|b| b.identifier() == "default_route_settings")
        .expect("default_route_settings");
    for limit in ["throttling_rate_limit", "throttling_burst_limit"] {
        attribute(throttling, limit);
    }
    let access_log = stage
        .body()
        .blocks()
        .find(|b| b.identifier() == "access_log_settings")
        .expect("access log");
    let format = attribute(access_log, "format").to_string();
    assert!(
        !format.contains("requestBody") && !format.contains("$input"),
        "{format}"
    );
    let permission = find(&blocks, "resource", &["aws_lambda_permission", "api"]);
    assert_eq!(string(attribute(permission, "principal")), "apigateway.amazonaws.com");
    assert!(
        attribute(permission, "source_arn")
            .to_string()
            .contains("aws_apigatewayv2_api.connections.execution_arn")
    );
}

#[test]
fn roles_allow_what_the_code_does_and_nothing_more() {
    let calls = sdk_calls();
    let known: BTreeSet<String> = OPERATIONS.iter().map(|(op, _, _)| op.to_string()).collect();
    assert!(calls.len() >= 10, "the scan found the adapters' calls: {calls:?}");
    let unknown: Vec<&String> = calls.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "SDK operations missing from OPERATIONS (and maybe from a role): {unknown:?}"
    );
    let stale: Vec<&String> = known.difference(&calls).collect();
    assert!(
        stale.is_empty(),
        "OPERATIONS lists calls the code no longer makes: {stale:?}"
    );

    let blocks = terraform();
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (_, action, functions) in OPERATIONS.iter().chain(IMPLIED) {
        for f in *functions {
            expected.entry(f).or_default().insert(action.to_string());
        }
    }
    for function in ["fetch", "fanout", "connections"] {
        assert_eq!(
            policy_actions(&blocks, function),
            expected[function],
            "the {function} role"
        );
    }
    // What every function needs from the platform, and nothing else.
    let platform: BTreeSet<String> = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sqs:SendMessage",
    ]
    .map(String::from)
    .into();
    assert_eq!(policy_actions(&blocks, "platform"), platform);
    // No "*" resource anywhere but X-Ray's (it has no resource-level permissions) and the
    // key policy (where "*" means the key itself).
    for document in [
        "fetch",
        "fanout",
        "connections",
        "platform",
        "platform_calls_api",
        "scheduler",
    ] {
        let doc = find(&blocks, "data", &["aws_iam_policy_document", document]);
        for s in statements(doc) {
            let resources = attribute(s, "resources").to_string();
            let actions = strings(attribute(s, "actions"));
            if resources.contains("\"*\"") {
                assert!(
                    actions.iter().all(|a| a.starts_with("xray:")),
                    "{document}: {actions:?} on \"*\""
                );
            }
            assert!(
                actions.iter().all(|a| !a.ends_with(":*") && a != "*"),
                "{document}: wildcard action in {actions:?}"
            );
        }
    }
    assert_eq!(
        policy_actions(&blocks, "scheduler"),
        [
            "lambda:InvokeFunction",
            "sqs:SendMessage",
            "kms:Decrypt",
            "kms:GenerateDataKey"
        ]
        .map(String::from)
        .into()
    );
}

/// The metric names of one EMF line.
fn metric_names(line: &str) -> BTreeSet<String> {
    let emf: serde_json::Value = serde_json::from_str(line).unwrap();
    emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_owned())
        .collect()
}

/// The metric names fetch's and fanout's EMF lines declare, for a run where each one has
/// a value (an undelivered message among them) and a tick that counted the fleet.
fn emitted_metrics() -> BTreeSet<String> {
    use delivery::fetch::{MessageFailure, ProviderReport, RunReport, Step};
    let now = chrono::Utc::now();
    let mut report = RunReport::new("r".into(), "0403170701".into(), false, now);
    report.last_success_at = Some(now);
    report.certificate_expires_at = Some(now);
    report.reconcile_found_missing = Some(0);
    report.providers.push(ProviderReport {
        failed: vec![MessageFailure {
            message_id: "m".into(),
            step: Step::Attachment,
            reason: "r".into(),
            retryable: true,
            expires_at: Some(now),
        }],
        ..ProviderReport::default()
    });
    let mut names = metric_names(&delivery::metrics::RunMetrics::from_report(&report, now).emf_line());
    let fleet = delivery::metrics::FleetMetrics::of(&delivery::fleet::FleetReport::default());
    names.extend(metric_names(&fleet.emf_line()));
    names
}

fn alarms_on_our_namespace(blocks: &[Block]) -> Vec<String> {
    blocks
        .iter()
        .filter(|b| {
            b.identifier() == "resource"
                && b.labels().first().map(|l| l.as_str()) == Some("aws_cloudwatch_metric_alarm")
        })
        .filter(|b| matches!(attribute(b, "namespace"), Expression::Traversal(_)))
        .map(|b| string(attribute(b, "metric_name")))
        .collect()
}

/// In an expression, every list that starts with `local.metrics_namespace`: a dashboard
/// widget's metric, whose second item is the metric's name.
fn dashboard_metrics(e: &Expression, into: &mut Vec<String>) {
    match e {
        Expression::Array(items) => {
            if let (Some(Expression::Traversal(t)), Some(Expression::String(name))) = (items.first(), items.get(1))
                && Expression::Traversal(t.clone()).to_string() == "local.metrics_namespace"
            {
                into.push(name.clone());
            }
            for item in items {
                dashboard_metrics(item, into);
            }
        }
        Expression::Object(object) => {
            for value in object.values() {
                dashboard_metrics(value, into);
            }
        }
        Expression::FuncCall(call) => {
            for arg in &call.args {
                dashboard_metrics(arg, into);
            }
        }
        _ => {}
    }
}

#[test]
fn alarms_and_the_dashboard_watch_metrics_the_functions_emit() {
    let blocks = terraform();
    let emitted = emitted_metrics();
    for name in [
        "EventsPending",
        "ReconcileFoundMissing",
        "ConnectionsStale",
        "ConnectionsNeedingAction",
    ] {
        assert!(emitted.contains(name), "{name}: {emitted:?}");
    }
    let alarms = alarms_on_our_namespace(&blocks);
    assert!(alarms.len() >= 4, "the alarms on our own namespace: {alarms:?}");
    for metric in &alarms {
        assert!(
            emitted.contains(metric),
            "an alarm watches {metric}, which no function emits: {emitted:?}"
        );
    }
    for fleet in [
        "ConnectionsStale",
        "ConnectionsNeedingAction",
        "ConnectionsWithMailExpiring",
        "EventsPending",
    ] {
        assert!(alarms.contains(&fleet.to_owned()), "no alarm on {fleet}: {alarms:?}");
    }
    // The dashboard's widgets, in a local the dashboard's body encodes.
    let dashboard = find(&blocks, "resource", &["aws_cloudwatch_dashboard", "on_duty"]);
    assert_eq!(
        attribute(dashboard, "dashboard_body").to_string().replace(' ', ""),
        "jsonencode({widgets=local.dashboard_widgets})"
    );
    let widgets = blocks
        .iter()
        .filter(|b| b.identifier() == "locals")
        .find_map(|b| b.body().attributes().find(|a| a.key() == "dashboard_widgets"))
        .expect("local.dashboard_widgets");
    let mut shown = Vec::new();
    dashboard_metrics(widgets.expr(), &mut shown);
    assert!(shown.len() >= 8, "{shown:?}");
    for metric in &shown {
        assert!(
            emitted.contains(metric),
            "the dashboard shows {metric}, which no function emits"
        );
    }
    for wanted in [
        "Delivered",
        "Failed",
        "ConnectionsOk",
        "ConnectionsDegraded",
        "ConnectionsNeedingAction",
        "UndeliveredSecondsToExpiry",
        "CertificateDaysToExpiry",
    ] {
        assert!(
            shown.contains(&wanted.to_owned()),
            "the dashboard lacks {wanted}: {shown:?}"
        );
    }
}

/// The default schedule is one fanout reads, and its variables reach fanout.
#[test]
fn the_schedule_fanout_counts_with_is_the_schedule_it_runs_on() {
    let blocks = terraform();
    let default_of = |name: &str| {
        let v = find(&blocks, "variable", &[name]);
        string(attribute(v, "default"))
    };
    assert_eq!(default_of("schedule_expression"), delivery::config::DEFAULT_SCHEDULE);
    assert_eq!(default_of("schedule_timezone"), delivery::config::DEFAULT_TIMEZONE);
    let schedule = find(&blocks, "resource", &["aws_scheduler_schedule", "fanout"]);
    assert_eq!(
        attribute(schedule, "schedule_expression").to_string(),
        "var.schedule_expression"
    );
    assert_eq!(
        attribute(schedule, "schedule_expression_timezone").to_string(),
        "var.schedule_timezone"
    );
    assert!(
        delivery::fleet::Schedule::parse(delivery::config::DEFAULT_SCHEDULE, delivery::config::DEFAULT_TIMEZONE)
            .is_ok()
    );
}

/// A name attribute's template, with `name_prefix` and the account id put in.
fn name_in_stack(block: &Block, key: &str, prefix: &str, account: &str) -> String {
    let Expression::TemplateExpr(template) = attribute(block, key) else {
        panic!("{} {:?}: {key} is not a template", block.identifier(), block.labels())
    };
    let source = match template.as_ref() {
        hcl::TemplateExpr::QuotedString(s) => s.clone(),
        other => panic!("unexpected template {other:?}"),
    };
    source
        .replace("${var.name_prefix}", prefix)
        .replace("${data.aws_caller_identity.current.account_id}", account)
}

#[test]
fn the_cli_finds_a_stack_by_the_names_terraform_gives() {
    use delivery::config::vars;
    use delivery::stack::Stack;
    let blocks = terraform();
    let (prefix, account) = ("acc-ebox", "123456789012");
    let name = |kind: &str, label: &str, key: &str| {
        name_in_stack(find(&blocks, "resource", &[kind, label]), key, prefix, account)
    };
    let mut stack = Stack::new(prefix);
    let declared = [
        (
            vars::CONNECTIONS_TABLE,
            name("aws_dynamodb_table", "connections", "name"),
        ),
        (vars::STATE_TABLE, name("aws_dynamodb_table", "state", "name")),
        (
            vars::EVENT_BUS_NAME,
            name("aws_cloudwatch_event_bus", "delivered", "name"),
        ),
        (
            vars::FETCH_FUNCTION_NAME,
            name("aws_lambda_function", "fetch", "function_name"),
        ),
    ];
    for (variable, terraform_name) in &declared {
        assert_eq!(stack.variable(variable).as_ref(), Some(terraform_name), "{variable}");
    }
    let bucket = name("aws_s3_bucket", "verdeelbak", "bucket");
    stack.bucket = stack.bucket_among(["acc-ebox-verdeelbak-logs", bucket.as_str()]);
    assert_eq!(stack.variable(vars::VERDEELBAK_BUCKET), Some(bucket));
}
