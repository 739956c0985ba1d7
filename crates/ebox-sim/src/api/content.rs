//! An attachment's content: streamed in chunks, with the faults a transfer can meet.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;

use super::messages::{AttachmentPath, attachment_not_found};
use super::{ApiResult, RegistryPath, S};
use crate::faults::{Effects, Route};
use crate::model::Content;

pub(super) async fn content(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Path(p): Path<AttachmentPath>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin(Route::Content, &at, &headers).await?;
    let (provider, enterprise) = (&call.registry.provider, &call.enterprise);
    let (content, main) = shared
        .with_message(provider, enterprise, &p.id, |m| {
            m.attachments
                .iter()
                .find(|a| a.id == p.att)
                .map(|a| (a.content.clone(), a.main_content))
        })?
        .ok_or_else(|| attachment_not_found(&p.att))?;
    if main {
        // Retrieving the main content is what makes a message "read".
        shared.update_message(provider, enterprise, &p.id, |m, _| m.read = true);
    }
    let length = content.len();
    // A truncated answer is complete in itself (its Content-Length matches) but shorter
    // than the attachment: only the size and the digest can tell.
    let served = call.effects.truncate_after.map_or(length, |cut| cut.min(length));
    shared.count(Route::Content, enterprise, served);
    let stream = content_stream(content, call.effects);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(served));
    Ok(response)
}

/// The content's chunks, with the faults applied: a flipped byte, a cut, a reset.
fn content_stream(
    content: Content,
    effects: Effects,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let cut = effects.reset_after.or(effects.truncate_after).unwrap_or(u64::MAX);
    let wrong_digest = effects.wrong_digest;
    let chunks = futures::stream::iter(0..content.chunks()).scan(0u64, move |sent, index| {
        if *sent >= cut {
            return std::future::ready(None);
        }
        let mut chunk = content.chunk(index);
        if wrong_digest && index == 0 && !chunk.is_empty() {
            let mut changed = chunk.to_vec();
            changed[0] ^= 0xff;
            chunk = Bytes::from(changed);
        }
        let room = cut - *sent;
        if chunk.len() as u64 > room {
            chunk = chunk.slice(..room as usize);
        }
        *sent += chunk.len() as u64;
        std::future::ready(Some(Ok(chunk)))
    });
    // A failing body makes the server drop the connection before the answer is complete.
    let reset = effects.reset_after.map(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated reset",
        ))
    });
    chunks.chain(futures::stream::iter(reset))
}
