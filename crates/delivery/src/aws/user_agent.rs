//! One fixed `User-Agent` on every AWS request, in place of the SDK's own.
//!
//! The SDK builds its user agent again for each request: some twenty fields (SDK, OS,
//! language, features used) formatted into two headers. That was 3.5% of the fetch
//! process's CPU in a first run. AWS serves a request whatever its user agent says, and
//! SigV4 does not sign it. What an operator needs from it, which system made a call in
//! CloudTrail, a fixed name gives.

use aws_runtime::user_agent::UserAgentInterceptor;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, disable_interceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use ebox::USER_AGENT;

/// Switches the SDK's user agent off for the operation and sets the system's own
/// ([`ebox::USER_AGENT`], the name e-Box sees too).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedUserAgent;

impl Intercept for FixedUserAgent {
    fn name(&self) -> &'static str {
        "FixedUserAgent"
    }

    // The first hook of an operation, before any of the SDK's user agent's own.
    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(disable_interceptor::<UserAgentInterceptor>("a fixed user agent"));
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context.request_mut().headers_mut().insert("user-agent", USER_AGENT);
        Ok(())
    }
}
