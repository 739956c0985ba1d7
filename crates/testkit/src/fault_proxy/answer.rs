//! Injected error answers, each in its service's own wire format, so that the SDK parses
//! them as the real service's and applies its real retry rules: a wrong format would
//! come out as an unmodeled error and test nothing.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;

use super::Fault;
use super::classify::Service;

/// The DynamoDB JSON protocol's namespace for error types.
const DYNAMODB_ERRORS: &str = "com.amazonaws.dynamodb.v20120810#";

/// One error answer: status, the service's code for it, and its message.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
}

/// The answer for a fault that answers instead of moto; `None` for one that does not
/// (forwarded faults and resets).
pub(super) fn injected(
    service: Service,
    fault: &Fault,
    method: &Method,
    seq: u64,
    request: &[u8],
) -> Option<Response<Full<Bytes>>> {
    if *fault == Fault::EntriesFailed {
        return Some(entries_failed(request));
    }
    let failure = failure(service, fault)?;
    let request_id = format!("injected-{seq}");
    let (content_type, body) = match service {
        Service::DynamoDb => ("application/x-amz-json-1.0", json_error(DYNAMODB_ERRORS, &failure)),
        Service::SecretsManager | Service::EventBridge => ("application/x-amz-json-1.1", json_error("", &failure)),
        Service::Lambda => ("application/json", lambda_error(&failure)),
        Service::S3 => ("application/xml", s3_error(&failure)),
    };
    // A HEAD answer has no body; S3 clients then read the error from the status alone.
    let body = if method == Method::HEAD { String::new() } else { body };
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = failure.status;
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let id = HeaderValue::from_str(&request_id).expect("a request id is a valid header value");
    headers.insert("x-amzn-requestid", id.clone());
    headers.insert("x-amz-request-id", id);
    if service == Service::Lambda {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(failure.code));
    }
    Some(answer)
}

fn failure(service: Service, fault: &Fault) -> Option<Failure> {
    let internal = "injected";
    let (status, code, message) = match (fault, service) {
        (Fault::ServerError, Service::DynamoDb) => (500, "InternalServerError", internal),
        (Fault::ServerError, Service::SecretsManager) => (500, "InternalServiceError", internal),
        (Fault::ServerError, Service::EventBridge) => (500, "InternalException", internal),
        (Fault::Throttle, Service::EventBridge) => (400, "ThrottlingException", "Rate exceeded"),
        (Fault::ServerError, Service::Lambda) => (500, "ServiceException", internal),
        (Fault::ServerError, Service::S3) => (500, "InternalError", internal),
        (Fault::Throttle, Service::DynamoDb) => (
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        (Fault::Throttle, Service::SecretsManager) => (400, "ThrottlingException", "Rate exceeded"),
        (Fault::Throttle, Service::Lambda) => (429, "TooManyRequestsException", "Rate exceeded"),
        (Fault::Throttle, Service::S3) => (503, "SlowDown", "Please reduce your request rate."),
        (Fault::Unavailable, _) => (503, "ServiceUnavailable", internal),
        (Fault::Reset | Fault::LostAnswer | Fault::Delay(_) | Fault::EntriesFailed, _) => return None,
    };
    let status = StatusCode::from_u16(status).expect("the statuses above are valid");
    Some(Failure { status, code, message })
}

/// A successful `PutEvents` answer in which every entry of `request` failed.
fn entries_failed(request: &[u8]) -> Response<Full<Bytes>> {
    let sent: serde_json::Value = serde_json::from_slice(request).unwrap_or_default();
    let n = sent["Entries"].as_array().map_or(0, Vec::len);
    let entry = serde_json::json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"});
    let body = serde_json::json!({"FailedEntryCount": n, "Entries": vec![entry; n]}).to_string();
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    answer
}

/// The JSON protocols' error body: `{"__type": "<namespace><Code>", "message": ..}`.
fn json_error(namespace: &str, failure: &Failure) -> String {
    serde_json::json!({ "__type": format!("{namespace}{}", failure.code), "message": failure.message }).to_string()
}

/// Lambda's REST-JSON error: the code is in `x-amzn-errortype`, the body has the message.
fn lambda_error(failure: &Failure) -> String {
    serde_json::json!({ "Type": "Service", "message": failure.message }).to_string()
}

fn s3_error(failure: &Failure) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{}</Code><Message>{}</Message><RequestId>1</RequestId></Error>"#,
        failure.code, failure.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(answer: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let collected = block_on(answer.into_body().collect()).unwrap_or_else(|never| match never {});
        let bytes = collected.to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8 body")
    }

    /// A full body is ready at once; a runtime just to read it.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn dynamodb_throttling_is_a_namespaced_400() {
        let answer = injected(Service::DynamoDb, &Fault::Throttle, &Method::POST, 7, b"").expect("an answer");
        assert_eq!(answer.status(), 400);
        assert_eq!(answer.headers()["content-type"], "application/x-amz-json-1.0");
        assert_eq!(answer.headers()["x-amzn-requestid"], "injected-7");
        let json: serde_json::Value = serde_json::from_str(&body(answer)).expect("json");
        assert_eq!(json["__type"], "com.amazonaws.dynamodb.v20120810#ThrottlingException");
    }

    #[test]
    fn secrets_manager_and_s3_formats() {
        let secret = injected(Service::SecretsManager, &Fault::ServerError, &Method::POST, 1, b"").expect("an answer");
        assert_eq!(secret.headers()["content-type"], "application/x-amz-json-1.1");
        assert!(body(secret).contains(r#""__type":"InternalServiceError""#));
        let slow = injected(Service::S3, &Fault::Throttle, &Method::PUT, 1, b"").expect("an answer");
        assert_eq!(slow.status(), 503);
        assert!(body(slow).contains("<Code>SlowDown</Code>"));
        let head = injected(Service::S3, &Fault::Unavailable, &Method::HEAD, 1, b"").expect("an answer");
        assert_eq!((head.status().as_u16(), body(head)), (503, String::new()));
        assert!(injected(Service::S3, &Fault::Reset, &Method::GET, 1, b"").is_none());
    }
}
