//! e-Box Enterprise client for one entity, on behalf of DigiPost.
//!
//! Tokens come from a private_key_jwt client assertion signed with DigiPost's key; the
//! provider registry says which Message Registries make up the entity's e-Box; each
//! registry is walked page by page and its contents are streamed, verified, never held
//! whole. No AWS in here.

mod client;
pub mod credentials;
mod error;
pub mod model;
pub mod roots;

pub use client::{
    ASSERTION_TYPE, AccessToken, AttachmentDownload, Body, Ebox, EboxConfig, PAGE_SIZE, Session, Visibility, endpoint,
    parse_retry_after,
};
pub use credentials::{CertificateInfo, ClientCredentials, KeyError, KeyMaterial};
pub use error::EboxError;

/// What this system calls itself on the wire, to e-Box and to AWS alike.
pub const USER_AGENT: &str = concat!("digipost-ebox/", env!("CARGO_PKG_VERSION"));
