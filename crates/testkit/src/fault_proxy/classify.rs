//! Which AWS operation a request is, read from what the SDK sends: the JSON protocols
//! (DynamoDB, Secrets Manager, EventBridge) name it in `x-amz-target`; Lambda and S3 (path-style) are
//! REST, so their method, path and query tell.

use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

/// The service of a request; it decides the format of an injected error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    DynamoDb,
    SecretsManager,
    EventBridge,
    Lambda,
    S3,
}

/// What the proxy knows of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Classified {
    pub service: Service,
    /// `service:Operation`.
    pub operation: String,
    /// What a rule's `containing` looks in: S3's decoded `bucket/key`, a JSON body as text.
    pub text: String,
    /// What the log shows ([`super::Exchange::target`]).
    pub target: String,
    /// What the log shows ([`super::Exchange::items`]).
    pub items: usize,
}

const LAMBDA_FUNCTIONS: &str = "/2015-03-31/functions/";

pub(super) fn classify(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Classified {
    let json_target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if let Some(classified) = json_target.and_then(|t| json_protocol(t, body)) {
        return classified;
    }
    if let Some(function) = path.strip_prefix(LAMBDA_FUNCTIONS) {
        return lambda(method, function);
    }
    s3(method, path, query, headers)
}

/// DynamoDB (`DynamoDB_20120810.PutItem`) and Secrets Manager (`secretsmanager.GetSecretValue`).
fn json_protocol(amz_target: &str, body: &[u8]) -> Option<Classified> {
    let (prefix, operation) = amz_target.split_once('.')?;
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let (service, name, target) = match prefix {
        "DynamoDB_20120810" => (Service::DynamoDb, "dynamodb", json.as_ref().and_then(dynamodb_table)),
        "secretsmanager" => (
            Service::SecretsManager,
            "secretsmanager",
            json.as_ref().and_then(secret_id),
        ),
        "AWSEvents" => (Service::EventBridge, "events", json.as_ref().and_then(event_bus)),
        _ => return None,
    };
    Some(Classified {
        service,
        operation: format!("{name}:{operation}"),
        text: String::from_utf8_lossy(body).into_owned(),
        target: target.unwrap_or_default(),
        items: json.as_ref().map_or(1, items),
    })
}

/// `TableName`, else the first table of a batch (`RequestItems`) or a transaction
/// (`TransactItems: [{"Put": {"TableName": ..}}, ..]`).
fn dynamodb_table(body: &serde_json::Value) -> Option<String> {
    if let Some(table) = body.get("TableName").and_then(|t| t.as_str()) {
        return Some(table.to_owned());
    }
    if let Some(first) = body
        .get("RequestItems")
        .and_then(|r| r.as_object()?.keys().next().cloned())
    {
        return Some(first);
    }
    let first_action = body
        .get("TransactItems")?
        .as_array()?
        .first()?
        .as_object()?
        .values()
        .next()?;
    Some(first_action.get("TableName")?.as_str()?.to_owned())
}

/// What a request carries: a transaction's actions, a `PutEvents`' entries, a batch's
/// requests; else one.
fn items(body: &serde_json::Value) -> usize {
    let len = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_array()).map(Vec::len);
    let batch = body.get("RequestItems").and_then(|r| r.as_object()).map(|tables| {
        tables
            .values()
            .map(|t| len(Some(t)).or_else(|| len(t.get("Keys"))).unwrap_or(0))
            .sum()
    });
    len(body.get("TransactItems"))
        .or_else(|| len(body.get("Entries")))
        .or(batch)
        .unwrap_or(1)
}

/// The bus of a `PutEvents` (its first entry's), or of a bus operation.
fn event_bus(body: &serde_json::Value) -> Option<String> {
    let first = body.get("Entries").and_then(|e| e.as_array()?.first());
    let bus = first
        .and_then(|e| e.get("EventBusName"))
        .or_else(|| body.get("EventBusName"))
        .or_else(|| body.get("Name"))?;
    Some(bus.as_str()?.to_owned())
}

fn secret_id(body: &serde_json::Value) -> Option<String> {
    let id = body.get("SecretId").or_else(|| body.get("Name"))?;
    Some(id.as_str()?.to_owned())
}

/// `function` is the path after `/2015-03-31/functions/`: `name/invocations` for Invoke.
fn lambda(method: &Method, function: &str) -> Classified {
    let (name, rest) = function.split_once('/').unwrap_or((function, ""));
    let operation = if method == Method::POST && rest == "invocations" {
        "lambda:Invoke"
    } else {
        "lambda:Other"
    };
    let name = decode(name);
    Classified {
        service: Service::Lambda,
        operation: operation.to_owned(),
        text: name.clone(),
        target: name,
        items: 1,
    }
}

/// Path-style S3: `/bucket/key?query`.
fn s3(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> Classified {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let (bucket, key) = (decode(bucket), decode(key));
    let params = query_params(query.unwrap_or(""));
    let operation = if bucket.is_empty() {
        "Other"
    } else if key.is_empty() {
        bucket_operation(method, &params)
    } else {
        object_operation(method, headers)
    };
    let target = if key.is_empty() {
        bucket
    } else {
        format!("{bucket}/{key}")
    };
    Classified {
        service: Service::S3,
        operation: format!("s3:{operation}"),
        text: target.clone(),
        target,
        items: 1,
    }
}

fn object_operation(method: &Method, headers: &HeaderMap) -> &'static str {
    match *method {
        Method::PUT if headers.contains_key("x-amz-copy-source") => "CopyObject",
        Method::PUT => "PutObject",
        Method::GET => "GetObject",
        Method::HEAD => "HeadObject",
        Method::DELETE => "DeleteObject",
        _ => "Other",
    }
}

fn bucket_operation(method: &Method, params: &[(String, String)]) -> &'static str {
    let has = |name: &str| params.iter().any(|(n, _)| n == name);
    match *method {
        Method::GET if params.iter().any(|(n, v)| n == "list-type" && v == "2") => "ListObjectsV2",
        Method::GET if has("versions") => "ListObjectVersions",
        Method::PUT if has("versioning") => "PutBucketVersioning",
        Method::PUT if params.is_empty() => "CreateBucket",
        _ => "Bucket",
    }
}

/// The query's parameters, decoded; the SDK's `x-id` (the operation's name, added to a
/// few requests) is left out, as it says nothing the method and path do not.
fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(n, v)| (decode(n), decode(v)))
        .filter(|(n, _)| n != "x-id")
        .collect()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_op(method: Method, path: &str, query: Option<&str>) -> (String, String) {
        let c = classify(&method, path, query, &HeaderMap::new(), b"");
        assert_eq!(c.service, Service::S3);
        (c.operation, c.target)
    }

    fn json(amz_target: &str, body: &str) -> Classified {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", amz_target.parse().expect("header value"));
        classify(&Method::POST, "/", None, &headers, body.as_bytes())
    }

    #[test]
    fn s3_objects_by_method_with_decoded_keys() {
        let op = |m, p| s3_op(m, p, Some("x-id=PutObject"));
        assert_eq!(
            op(Method::PUT, "/b/in%20box/%C3%A4.eml"),
            ("s3:PutObject".into(), "b/in box/ä.eml".into())
        );
        assert_eq!(op(Method::GET, "/b/k").0, "s3:GetObject");
        assert_eq!(op(Method::HEAD, "/b/k").0, "s3:HeadObject");
        assert_eq!(op(Method::DELETE, "/b/k").0, "s3:DeleteObject");
        assert_eq!(op(Method::POST, "/b/k").0, "s3:Other");
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-copy-source", "b/other".parse().expect("header value"));
        assert_eq!(
            classify(&Method::PUT, "/b/k", None, &headers, b"").operation,
            "s3:CopyObject"
        );
    }

    #[test]
    fn s3_buckets_by_method_and_query() {
        assert_eq!(s3_op(Method::PUT, "/b", None), ("s3:CreateBucket".into(), "b".into()));
        assert_eq!(s3_op(Method::PUT, "/b", Some("versioning")).0, "s3:PutBucketVersioning");
        assert_eq!(
            s3_op(Method::GET, "/b", Some("list-type=2&prefix=a")).0,
            "s3:ListObjectsV2"
        );
        assert_eq!(s3_op(Method::GET, "/b/", Some("versions")).0, "s3:ListObjectVersions");
        assert_eq!(s3_op(Method::GET, "/b", Some("location")).0, "s3:Bucket");
        assert_eq!(s3_op(Method::GET, "/", None).0, "s3:Other");
    }

    #[test]
    fn the_items_a_request_carries() {
        let items = |target, body| json(target, body).items;
        assert_eq!(items("DynamoDB_20120810.PutItem", r#"{"TableName":"t","Item":{}}"#), 1);
        let transaction = r#"{"TransactItems":[{"Put":{"TableName":"t"}},{"Put":{"TableName":"t"}},{"ConditionCheck":{"TableName":"t"}}]}"#;
        assert_eq!(items("DynamoDB_20120810.TransactWriteItems", transaction), 3);
        let batch_get = r#"{"RequestItems":{"t":{"Keys":[{},{},{},{}]}}}"#;
        assert_eq!(items("DynamoDB_20120810.BatchGetItem", batch_get), 4);
        let batch_write = r#"{"RequestItems":{"t":[{"PutRequest":{}},{"PutRequest":{}}],"u":[{"DeleteRequest":{}}]}}"#;
        assert_eq!(items("DynamoDB_20120810.BatchWriteItem", batch_write), 3);
        let events = r#"{"Entries":[{"EventBusName":"b"},{"EventBusName":"b"}]}"#;
        assert_eq!(items("AWSEvents.PutEvents", events), 2);
        assert_eq!(classify(&Method::PUT, "/b/k", None, &HeaderMap::new(), b"").items, 1);
    }

    #[test]
    fn dynamodb_by_target_with_the_table() {
        let put = json("DynamoDB_20120810.PutItem", r#"{"TableName":"state-1","Item":{}}"#);
        assert_eq!(
            (put.service, put.operation.as_str()),
            (Service::DynamoDb, "dynamodb:PutItem")
        );
        assert_eq!(put.target, "state-1");
        assert!(put.text.contains(r#""Item":{}"#));
        let batch = json("DynamoDB_20120810.BatchGetItem", r#"{"RequestItems":{"t1":{}}}"#);
        assert_eq!(batch.target, "t1");
        let transaction = json(
            "DynamoDB_20120810.TransactWriteItems",
            r#"{"TransactItems":[{"Update":{"TableName":"t2"}},{"Put":{"TableName":"t3"}}]}"#,
        );
        assert_eq!(transaction.target, "t2");
        assert_eq!(json("DynamoDB_20120810.ListTables", "{}").target, "");
    }

    #[test]
    fn secrets_manager_and_lambda() {
        let secret = json("secretsmanager.GetSecretValue", r#"{"SecretId":"digipost/x"}"#);
        assert_eq!(secret.operation, "secretsmanager:GetSecretValue");
        assert_eq!(secret.target, "digipost/x");
        let headers = HeaderMap::new();
        let invoke = classify(
            &Method::POST,
            "/2015-03-31/functions/fetch/invocations",
            None,
            &headers,
            b"",
        );
        assert_eq!(
            (invoke.operation.as_str(), invoke.target.as_str()),
            ("lambda:Invoke", "fetch")
        );
        let get = classify(&Method::GET, "/2015-03-31/functions/fetch", None, &headers, b"");
        assert_eq!((get.service, get.operation.as_str()), (Service::Lambda, "lambda:Other"));
    }
}
