//! Faults switched on through the control API: per route, optionally per provider or
//! enterprise, for a number of requests or until cleared.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Token,
    Providers,
    Summary,
    List,
    Message,
    Attachments,
    Attachment,
    Content,
    Body,
    PaymentData,
    ReferenceData,
    Patch,
    /// Matches every route.
    Any,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Token => "token",
            Route::Providers => "providers",
            Route::Summary => "summary",
            Route::List => "list",
            Route::Message => "message",
            Route::Attachments => "attachments",
            Route::Attachment => "attachment",
            Route::Content => "content",
            Route::Body => "body",
            Route::PaymentData => "payment_data",
            Route::ReferenceData => "reference_data",
            Route::Patch => "patch",
            Route::Any => "any",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer only after this many milliseconds.
    Latency { ms: u64 },
    /// Answer with this status and a StatusMessage (429 may carry Retry-After).
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// Drop the connection while the attachment is being sent (after at most this many
    /// bytes); the client sees the transfer fail.
    Reset { after_bytes: u64 },
    /// Serve only this many bytes of the attachment, as a complete answer: only the
    /// attachment's size and digest can tell.
    Truncate { after_bytes: u64 },
    /// Answer 200 with JSON cut in the middle.
    MalformedJson,
    /// Serve attachment bytes that do not match the announced digest.
    WrongDigest,
    /// Tokens issued from now on stop working after this many registry calls.
    TokenExpiresAfter { calls: u32 },
    /// A new message arrives in the e-Box just before the page is served, shifting
    /// every later page by one.
    ShiftPage,
    /// A list answered without its `totalItems` (required, but a registry may forget).
    OmitTotal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub route: Route,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub enterprise: Option<String>,
    pub kind: FaultKind,
    /// How many matching requests it affects; unlimited when absent.
    #[serde(default)]
    pub times: Option<u32>,
}

/// What the faults matching one request do to it.
#[derive(Debug, Default, Clone)]
pub struct Effects {
    pub latency_ms: u64,
    pub status: Option<(u16, Option<String>)>,
    pub reset_after: Option<u64>,
    pub truncate_after: Option<u64>,
    pub malformed_json: bool,
    pub wrong_digest: bool,
    pub token_calls: Option<u32>,
    pub shift_page: bool,
    pub omit_total: bool,
}

/// Takes the effects of every matching fault, spending one use of each.
pub fn apply(faults: &mut Vec<Fault>, route: Route, provider: Option<&str>, enterprise: Option<&str>) -> Effects {
    let mut effects = Effects::default();
    for fault in faults.iter_mut() {
        let matches = (fault.route == Route::Any || fault.route == route)
            && fault.provider.as_deref().is_none_or(|p| Some(p) == provider)
            && fault.enterprise.as_deref().is_none_or(|e| Some(e) == enterprise)
            && fault.times != Some(0);
        // One status answer per request: a second status fault waits for the next one.
        let status_taken = matches!(fault.kind, FaultKind::Status { .. }) && effects.status.is_some();
        if !matches || status_taken {
            continue;
        }
        if let Some(t) = fault.times.as_mut() {
            *t -= 1;
        }
        match &fault.kind {
            FaultKind::Latency { ms } => effects.latency_ms += ms,
            FaultKind::Status { status, retry_after } => effects.status = Some((*status, retry_after.clone())),
            FaultKind::Reset { after_bytes } => effects.reset_after = Some(*after_bytes),
            FaultKind::Truncate { after_bytes } => effects.truncate_after = Some(*after_bytes),
            FaultKind::MalformedJson => effects.malformed_json = true,
            FaultKind::WrongDigest => effects.wrong_digest = true,
            FaultKind::TokenExpiresAfter { calls } => effects.token_calls = Some(*calls),
            FaultKind::ShiftPage => effects.shift_page = true,
            FaultKind::OmitTotal => effects.omit_total = true,
        }
    }
    faults.retain(|f| f.times != Some(0));
    effects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_route_and_provider_and_wear_out() {
        let mut faults = vec![
            Fault {
                route: Route::List,
                provider: Some("p1".into()),
                enterprise: None,
                kind: FaultKind::Status {
                    status: 503,
                    retry_after: None,
                },
                times: Some(2),
            },
            Fault {
                route: Route::Any,
                provider: None,
                enterprise: None,
                kind: FaultKind::Latency { ms: 5 },
                times: None,
            },
        ];
        assert_eq!(apply(&mut faults, Route::List, Some("p2"), None).status, None);
        let e = apply(&mut faults, Route::List, Some("p1"), None);
        assert_eq!((e.status, e.latency_ms), (Some((503, None)), 5));
        assert!(apply(&mut faults, Route::List, Some("p1"), None).status.is_some());
        assert_eq!(apply(&mut faults, Route::List, Some("p1"), None).status, None);
        assert_eq!(faults.len(), 1, "a worn-out fault is removed");
    }
}
