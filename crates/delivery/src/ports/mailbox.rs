//! e-Box as fetch sees it: one entity's mailbox, opened with its credentials. Production
//! opens [`ebox::Session`]s over HTTP; engine tests may open a twin that reads the
//! simulator's state in process (`testkit::twin`), and the same tests run over HTTP.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use ebox::model::{Attachment, Discovery, Listed, MessageProvider, ReferenceKind, Translated};
use ebox::{AttachmentDownload, Body, ClientCredentials, EboxError, Visibility};
use futures::stream::BoxStream;

pub trait EboxService: Send + Sync {
    /// The mailbox of the client `credentials` name; `scopes`, when given, replace the configured.
    fn open(&self, credentials: ClientCredentials, scopes: Option<Vec<String>>) -> Arc<dyn Mailbox>;
}

/// One entity's e-Box: what fetch reads of it.
#[async_trait]
pub trait Mailbox: Send + Sync {
    /// Proves the credentials: a token is obtained (and kept for the calls that follow).
    async fn authenticate(&self) -> Result<(), EboxError>;
    /// Every provider discovery lists, with the entries that could not be read.
    async fn providers(&self) -> Result<Arc<Discovery>, EboxError>;
    /// Every item of one provider's list, newest first, received after `received_after`:
    /// as the registry lists by default, or its hidden messages.
    fn messages(
        &self,
        provider: &MessageProvider,
        received_after: Option<NaiveDate>,
        visibility: Visibility,
    ) -> BoxStream<'static, Result<Listed, EboxError>>;
    /// A message's whole attachment list, when its listing held only part of it.
    async fn attachments(&self, provider: &MessageProvider, message_id: &str) -> Result<Vec<Attachment>, EboxError>;
    /// An attachment's content, streamed and checked against its digest and length.
    /// Downloading the main content marks the message read.
    async fn attachment(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
    ) -> Result<AttachmentDownload, EboxError>;
    /// The body, if any. Reading a body that is the main content marks the message read.
    async fn body(&self, provider: &MessageProvider, message_id: &str) -> Result<Option<Body>, EboxError>;
    /// The name behind a reference id, when reference data has one; never an error.
    async fn reference_name(&self, provider: &MessageProvider, kind: ReferenceKind, id: &str) -> Option<Translated>;
}

impl EboxService for ebox::Ebox {
    fn open(&self, credentials: ClientCredentials, scopes: Option<Vec<String>>) -> Arc<dyn Mailbox> {
        Arc::new(self.session(credentials).with_scopes(scopes))
    }
}

#[async_trait]
impl Mailbox for ebox::Session {
    async fn authenticate(&self) -> Result<(), EboxError> {
        self.access_token().await.map(drop)
    }

    async fn providers(&self) -> Result<Arc<Discovery>, EboxError> {
        ebox::Session::providers(self).await
    }

    fn messages(
        &self,
        provider: &MessageProvider,
        received_after: Option<NaiveDate>,
        visibility: Visibility,
    ) -> BoxStream<'static, Result<Listed, EboxError>> {
        ebox::Session::messages(self, provider, received_after, visibility)
    }

    async fn attachments(&self, provider: &MessageProvider, message_id: &str) -> Result<Vec<Attachment>, EboxError> {
        ebox::Session::attachments(self, provider, message_id).await
    }

    async fn attachment(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
    ) -> Result<AttachmentDownload, EboxError> {
        ebox::Session::attachment(self, provider, message_id, attachment).await
    }

    async fn body(&self, provider: &MessageProvider, message_id: &str) -> Result<Option<Body>, EboxError> {
        ebox::Session::body(self, provider, message_id).await
    }

    async fn reference_name(&self, provider: &MessageProvider, kind: ReferenceKind, id: &str) -> Option<Translated> {
        ebox::Session::reference_name(self, provider, kind, id).await
    }
}
