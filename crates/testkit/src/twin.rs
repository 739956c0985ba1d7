//! e-Box's in-process twin: the [`Mailbox`] port served straight from a simulator's
//! state, for engine tests that need no HTTP. Tokens are checked as the simulator's token
//! endpoint checks them (a real signed assertion), the answers are the simulator's own
//! renderings read by the client's own model; what the twin leaves out is the transport:
//! paging, retries, caches and injected faults, which only the HTTP client meets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDate;
use delivery::ports::{EboxService, Mailbox};
use ebox::model::{Attachment, Discovery, Listed, MessageProvider, ReferenceKind, Translated, read_attachments};
use ebox::{AttachmentDownload, Body, ClientCredentials, EboxError, Visibility};
use ebox_sim::Shared;
use ebox_sim::direct::Reachable;
use futures::StreamExt;
use futures::stream::{self, BoxStream};

/// Opens twin mailboxes on one simulator, and counts what they were asked.
#[derive(Clone)]
pub struct TwinEbox {
    sim: Arc<Shared>,
    /// Signs the client assertions, as the HTTP client would.
    signer: ebox::Ebox,
    calls: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl TwinEbox {
    pub fn new(sim: Arc<Shared>) -> Self {
        let signer = ebox::Ebox::new(crate::sim_ebox_config(&sim)).expect("an e-Box client");
        Self {
            sim,
            signer,
            calls: Arc::default(),
        }
    }

    /// How often each kind of call was made, over every mailbox opened.
    pub fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.calls.lock().unwrap().clone()
    }
}

impl EboxService for TwinEbox {
    fn open(&self, credentials: ClientCredentials, _scopes: Option<Vec<String>>) -> Arc<dyn Mailbox> {
        Arc::new(TwinMailbox {
            twin: self.clone(),
            session: self.signer.session(credentials),
            enterprise: OnceLock::new(),
        })
    }
}

struct TwinMailbox {
    twin: TwinEbox,
    session: ebox::Session,
    /// The enterprise its token was granted for.
    enterprise: OnceLock<String>,
}

impl TwinMailbox {
    fn count(&self, call: &'static str) {
        *self.twin.calls.lock().unwrap().entry(call).or_default() += 1;
    }

    /// The enterprise and the registry a call goes to, as the simulator's routes find them.
    fn at(&self, call: &'static str, provider: &MessageProvider) -> Result<(&str, Reachable), EboxError> {
        self.count(call);
        let what = format!("{call} at {}", provider.message_provider_id);
        let enterprise = self
            .enterprise
            .get()
            .ok_or_else(|| EboxError::Unauthorized { what: what.clone() })?;
        let at = self
            .twin
            .sim
            .reachable(&provider.message_provider_url)
            .ok_or(EboxError::NotFound { what })?;
        Ok((enterprise, at))
    }
}

/// The id an attachment is reached by: the one in its `contentHref` when it has one.
fn content_id(a: &Attachment) -> String {
    let from_href = a.content_href.as_deref().and_then(|href| {
        let path = href.split(['?', '#']).next()?;
        let (_, rest) = path.rsplit_once("/attachments/")?;
        let id = rest.strip_suffix("/content")?;
        Some(
            percent_encoding::percent_decode_str(id)
                .decode_utf8_lossy()
                .into_owned(),
        )
    });
    from_href.unwrap_or_else(|| a.attachment_id.clone())
}

#[async_trait]
impl Mailbox for TwinMailbox {
    async fn authenticate(&self) -> Result<(), EboxError> {
        self.count("token");
        let assertion = self.session.client_assertion()?;
        let granted = self.twin.sim.grant(&assertion).map_err(|e| EboxError::TokenRefused {
            status: 400,
            code: e.error.to_string(),
            description: e.description.clone(),
        })?;
        let _ = self.enterprise.set(granted.enterprise);
        Ok(())
    }

    async fn providers(&self) -> Result<Arc<Discovery>, EboxError> {
        self.count("providers");
        let answer = self.twin.sim.message_registries_json();
        Discovery::read(&answer)
            .map(Arc::new)
            .map_err(|detail| EboxError::Malformed {
                what: "provider registry".into(),
                detail,
            })
    }

    fn messages(
        &self,
        provider: &MessageProvider,
        received_after: Option<NaiveDate>,
        visibility: Visibility,
    ) -> BoxStream<'static, Result<Listed, EboxError>> {
        let visible = match visibility {
            Visibility::AsListed => None,
            Visibility::Hidden => Some(false),
        };
        let items = self
            .at("list", provider)
            .map(|(enterprise, at)| self.twin.sim.list_items(&at, enterprise, received_after, visible));
        match items {
            Err(e) => stream::once(async move { Err(e) }).boxed(),
            Ok(items) => stream::iter(items.into_iter().map(move |raw| {
                let item = serde_json::from_slice(&raw).expect("the simulator renders JSON");
                Ok(visibility.mark(Listed::read(item)))
            }))
            .boxed(),
        }
    }

    async fn attachments(&self, provider: &MessageProvider, message_id: &str) -> Result<Vec<Attachment>, EboxError> {
        let (enterprise, at) = self.at("attachments", provider)?;
        match self.twin.sim.attachments_json(&at, enterprise, message_id) {
            Some(serde_json::Value::Array(items)) => Ok(read_attachments(&items)),
            _ => Err(EboxError::NotFound {
                what: format!("attachments of message {message_id}"),
            }),
        }
    }

    async fn attachment(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
    ) -> Result<AttachmentDownload, EboxError> {
        let (enterprise, at) = self.at("content", provider)?;
        let content = self
            .twin
            .sim
            .download(&at, enterprise, message_id, &content_id(attachment))
            .ok_or_else(|| EboxError::NotFound {
                what: format!("attachment {} of message {message_id}", attachment.attachment_id),
            })?;
        let length = content.len();
        let chunks = stream::iter((0..content.chunks()).map(move |i| Ok::<Bytes, EboxError>(content.chunk(i)))).boxed();
        Ok(AttachmentDownload::from_chunks(Some(length), attachment, chunks))
    }

    async fn body(&self, provider: &MessageProvider, message_id: &str) -> Result<Option<Body>, EboxError> {
        let (enterprise, at) = self.at("body", provider)?;
        Ok(self.twin.sim.read_body(&at, enterprise, message_id).map(|value| Body {
            raw: Bytes::from(value.to_string()),
            text: Translated::read(&value).unwrap_or_default(),
        }))
    }

    async fn reference_name(&self, _provider: &MessageProvider, kind: ReferenceKind, id: &str) -> Option<Translated> {
        self.count("reference");
        let item = self.twin.sim.reference_item(kind.path(), id)?;
        kind.read_item(&item)
            .filter(|(found, _)| found == id)
            .map(|(_, name)| name)
    }
}
