//! The simulator's e-Box read in process, without HTTP: what an in-process twin of the
//! client serves engine tests from. The same world, the same renderings and the same
//! token check as over HTTP; only the transport, paging and faults are left out.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::Shared;
use crate::api::params::Filters;
use crate::auth::{Granted, OAuthError, TokenRequestCheck};
use crate::model::{Content, Message, Provider, ReferenceData, ReferenceItem};

/// A registry as a client reaches it: active today and out of maintenance.
pub struct Reachable {
    pub provider: String,
    pub url: String,
}

impl Shared {
    /// The token endpoint's check of a client assertion, as over HTTP.
    pub fn grant(&self, client_assertion: &str) -> Result<Granted, OAuthError> {
        let form = HashMap::from([
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "client_assertion_type".to_owned(),
                crate::auth::ASSERTION_TYPE.to_owned(),
            ),
            ("client_assertion".to_owned(), client_assertion.to_owned()),
        ]);
        self.check_token_request(&form)
    }

    /// A token request's form, checked as the token endpoint checks it.
    pub fn check_token_request(&self, form: &HashMap<String, String>) -> Result<Granted, OAuthError> {
        let mut world = self.world.write().unwrap();
        let now = world.now();
        let audience = self.audience();
        let crate::World { clients, seen_jti, .. } = &mut *world;
        TokenRequestCheck {
            clients,
            seen_jti,
            audience: &audience,
            now,
            max_lifetime: self.config.max_assertion_lifetime,
        }
        .check(form)
    }

    /// The Document Provider Registry's answer, as over HTTP.
    pub fn message_registries_json(&self) -> Value {
        let world = self.world.read().unwrap();
        let items: Vec<Value> = world
            .providers
            .iter()
            .map(|p| p.message_registry_json(&self.base_url))
            .chain(world.raw_provider_entries.iter().cloned())
            .collect();
        json!({"totalItems": items.len(), "items": items})
    }

    /// The registry at `url`, when a call to it would be served.
    pub fn reachable(&self, url: &str) -> Option<Reachable> {
        let world = self.world.read().unwrap();
        let now = world.now();
        let url = url.trim_end_matches('/');
        world
            .providers
            .iter()
            .filter(|p| p.active_on(now.date_naive()) && !p.in_maintenance(now))
            .find(|p| p.registry_url(&self.base_url).trim_end_matches('/') == url)
            .map(|p| Reachable {
                provider: p.id.clone(),
                url: p.registry_url(&self.base_url),
            })
    }

    /// Every item of an enterprise's list at a registry, newest first, received after
    /// `received_after` (a day, excluded), rendered as over HTTP. `visible` is the list's
    /// `visible` filter: None lists the visible messages only, as over HTTP.
    pub fn list_items(
        &self,
        at: &Reachable,
        enterprise: &str,
        received_after: Option<NaiveDate>,
        visible: Option<bool>,
    ) -> Vec<Bytes> {
        let world = self.world.read().unwrap();
        let now = world.now();
        let render = world.render_context(&at.provider, &at.url, enterprise);
        let key = (at.provider.clone(), enterprise.to_owned());
        let filters = Filters::received_and_visible(received_after, visible);
        let messages = world.boxes.get(&key).map(Vec::as_slice).unwrap_or_default();
        let raw = world.raw_items.get(&key).map(Vec::as_slice).unwrap_or_default();
        crate::api::messages::newest_first(
            messages.iter().filter(|m| m.expiration > now && filters.admits(m)),
            raw.iter().filter(|r| filters.admits_raw(r)),
        )
        .iter()
        .map(|item| item.json(&render))
        .collect()
    }

    fn read_message<T>(&self, at: &Reachable, enterprise: &str, id: &str, f: impl FnOnce(&Message) -> T) -> Option<T> {
        let world = self.world.read().unwrap();
        let now = world.now();
        world
            .boxes
            .get(&(at.provider.clone(), enterprise.to_owned()))
            .and_then(|list| list.iter().find(|m| m.id == id && m.expiration > now))
            .map(f)
    }

    /// A message's attachment list, as its `/attachments` route renders it.
    pub fn attachments_json(&self, at: &Reachable, enterprise: &str, id: &str) -> Option<Value> {
        let version = self.world.read().unwrap().api_version(&at.provider);
        let href = format!("{}/ebox/messages/{}", at.url, crate::model::segment(id));
        self.read_message(at, enterprise, id, |m| {
            Value::Array(m.attachments.iter().map(|a| a.to_json(&href, version)).collect())
        })
    }

    /// An attachment's content; downloading the main content marks the message read.
    pub fn download(&self, at: &Reachable, enterprise: &str, id: &str, attachment: &str) -> Option<Content> {
        let (content, main) = self
            .read_message(at, enterprise, id, |m| {
                m.attachments
                    .iter()
                    .find(|a| a.id == attachment)
                    .map(|a| (a.content.clone(), a.main_content))
            })
            .flatten()?;
        if main {
            self.update_message(&at.provider, enterprise, id, |m, _| m.read = true);
        }
        Some(content)
    }

    /// A message's body (None when it has none); reading a main-content body marks the
    /// message read.
    pub fn read_body(&self, at: &Reachable, enterprise: &str, id: &str) -> Option<Value> {
        let (body, main) = self.read_message(at, enterprise, id, |m| (m.body.clone(), m.body_is_main()))?;
        let body = body?;
        if main {
            self.update_message(&at.provider, enterprise, id, |m, _| m.read = true);
        }
        Some(json!(body))
    }

    /// A reference data item (`messageTypes`, `senderOrganizations`,
    /// `senderApplications`) as its lookup by id renders it.
    pub fn reference_item(&self, kind: &str, id: &str) -> Option<Value> {
        let world = self.world.read().unwrap();
        let r = &world.reference;
        let (items, render): (&[ReferenceItem], fn(&ReferenceItem) -> Value) = match kind {
            "messageTypes" => (&r.message_types, ReferenceData::message_type_json),
            "senderOrganizations" => (&r.sender_organizations, ReferenceData::sender_organization_json),
            "senderApplications" => (&r.sender_applications, ReferenceData::sender_application_json),
            _ => return None,
        };
        items.iter().find(|i| i.id == id).map(render)
    }

    /// A reference data item as the registry `at` answers its lookup under `path`
    /// (`refData` or `referenceData`): None when that registry does not serve reference
    /// data under `path`, or has no such item.
    pub fn reference_item_at(&self, at: &Reachable, path: &str, kind: &str, id: &str) -> Option<Value> {
        let served = {
            let world = self.world.read().unwrap();
            world.provider(&at.provider).map(|p| p.reference_path() == path)
        };
        if served != Some(true) {
            return None;
        }
        self.reference_item(kind, id)
    }

    /// The providers the simulator holds.
    pub fn providers(&self) -> Vec<Provider> {
        self.world.read().unwrap().providers.clone()
    }
}
