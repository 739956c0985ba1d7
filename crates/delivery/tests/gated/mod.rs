//! A mailbox whose attachment downloads wait until a body has been read: a delivery that
//! reads the body only after its attachments never gets past the first one.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use delivery::ports::{EboxService, Mailbox};
use ebox::model::{Attachment, Discovery, Listed, MessageProvider, ReferenceKind, Translated};
use ebox::{AttachmentDownload, Body, ClientCredentials, EboxError, Visibility};
use futures::stream::BoxStream;
use tokio::sync::Notify;

pub struct BodyFirst {
    pub inner: Arc<dyn EboxService>,
    pub body_read: Arc<Notify>,
}

impl EboxService for BodyFirst {
    fn open(&self, credentials: ClientCredentials, scopes: Option<Vec<String>>) -> Arc<dyn Mailbox> {
        Arc::new(Gated {
            inner: self.inner.open(credentials, scopes),
            body_read: self.body_read.clone(),
        })
    }
}

struct Gated {
    inner: Arc<dyn Mailbox>,
    body_read: Arc<Notify>,
}

#[async_trait]
impl Mailbox for Gated {
    async fn authenticate(&self) -> Result<(), EboxError> {
        self.inner.authenticate().await
    }

    async fn providers(&self) -> Result<Arc<Discovery>, EboxError> {
        self.inner.providers().await
    }

    fn messages(
        &self,
        provider: &MessageProvider,
        received_after: Option<NaiveDate>,
        visibility: Visibility,
    ) -> BoxStream<'static, Result<Listed, EboxError>> {
        self.inner.messages(provider, received_after, visibility)
    }

    async fn attachments(&self, provider: &MessageProvider, message_id: &str) -> Result<Vec<Attachment>, EboxError> {
        self.inner.attachments(provider, message_id).await
    }

    async fn attachment(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
    ) -> Result<AttachmentDownload, EboxError> {
        self.body_read.notified().await;
        self.inner.attachment(provider, message_id, attachment).await
    }

    async fn body(&self, provider: &MessageProvider, message_id: &str) -> Result<Option<Body>, EboxError> {
        let body = self.inner.body(provider, message_id).await;
        self.body_read.notify_one();
        body
    }

    async fn reference_name(&self, provider: &MessageProvider, kind: ReferenceKind, id: &str) -> Option<Translated> {
        self.inner.reference_name(provider, kind, id).await
    }
}
