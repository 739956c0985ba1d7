//! The operations of the control API, also callable in-process.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::auth::{self, Client};
use crate::data::{self, Scenario};
use crate::faults::Fault;
use crate::model::{Message, Provider, RawItem};
use crate::{Counter, Shared};

impl Shared {
    pub fn register_client(&self, client: Client) {
        self.world
            .write()
            .unwrap()
            .clients
            .insert(client.client_id.clone(), client);
    }

    /// Revokes a client, as removing or disabling its webservice account in ChaMan does:
    /// its token requests are refused (`invalid_client`) and the tokens it holds stop
    /// working. Returns whether there was such a client.
    pub fn revoke_client(&self, client_id: &str) -> bool {
        let Some(client) = self.world.write().unwrap().clients.remove(client_id) else {
            return false;
        };
        self.tokens
            .lock()
            .unwrap()
            .retain(|_, token| token.enterprise != client.enterprise);
        true
    }

    /// Registers a Document Consumer: its ClientID, its enterprise and the certificate it
    /// uploaded, with both consumer scopes of today (consultation and provider registry).
    pub fn register(
        &self,
        client_id: &str,
        enterprise: &str,
        certificate_pem: &str,
    ) -> Result<(), auth::CertificateError> {
        self.register_with_scopes(
            client_id,
            enterprise,
            certificate_pem,
            &[data::CONSULT_SCOPE, data::REGISTRY_SCOPE],
        )
    }

    /// Registers a Document Consumer granted exactly these scopes: for example the older
    /// [`data::OLD_CONSULT_SCOPES`] plus the registry scope, as earlier clients were.
    pub fn register_with_scopes(
        &self,
        client_id: &str,
        enterprise: &str,
        certificate_pem: &str,
        scopes: &[&str],
    ) -> Result<(), auth::CertificateError> {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.register_client(auth::client_from_certificate(
            client_id,
            enterprise,
            certificate_pem,
            scopes,
        )?);
        Ok(())
    }

    pub fn add_fault(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }

    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
    }

    /// Requests and bytes per (route, enterprise).
    pub fn counters(&self) -> BTreeMap<(String, String), Counter> {
        self.counters.lock().unwrap().clone()
    }

    /// Every access token issued so far, for tests that check none of them leaks.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().keys().cloned().collect()
    }

    /// TCP connections accepted since the start.
    pub fn connections_accepted(&self) -> u64 {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn reset_counters(&self) {
        self.counters.lock().unwrap().clear();
    }

    /// Requests to e-Box routes of one enterprise (token requests included).
    pub fn requests_of(&self, enterprise: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .iter()
            .filter(|((_, e), _)| e == enterprise)
            .map(|(_, c)| c.requests)
            .sum()
    }

    pub fn generate(&self, scenario: &Scenario) -> usize {
        let mut world = self.world.write().unwrap();
        let now = world.now();
        let today = now.date_naive();
        let providers: Vec<String> = if scenario.providers.is_empty() {
            world
                .providers
                .iter()
                .filter(|p| p.active_on(today))
                .map(|p| p.id.clone())
                .collect()
        } else {
            scenario.providers.clone()
        };
        let mut made = 0;
        for enterprise in &scenario.enterprises {
            for n in 0..scenario.messages_per_enterprise {
                let provider = &providers[n % providers.len()];
                let position = n / providers.len();
                let mut message = data::generated_message(
                    scenario.seed,
                    provider,
                    position,
                    now,
                    scenario.attachments_per_message,
                    scenario.attachment_size,
                    &world.reference,
                );
                world.shape_for_provider(provider, &mut message, position);
                world.insert_message(provider, enterprise, message);
                made += 1;
            }
        }
        made
    }

    pub fn add_message(&self, provider: &str, enterprise: &str, message: Message) {
        self.world
            .write()
            .unwrap()
            .insert_message(provider, enterprise, message);
    }

    /// A fresh generated message, received now, as arrivals during a walk are.
    pub fn arrive(&self, provider: &str, enterprise: &str) -> String {
        let mut world = self.world.write().unwrap();
        world.arrivals += 1;
        let n = world.arrivals;
        let mut message =
            data::generated_message(0xA11, provider, 1_000_000 + n, world.now(), 1, 4096, &world.reference);
        message.receipt = world.now();
        message.expiration = message.receipt + Duration::days(90);
        world.shape_for_provider(provider, &mut message, n);
        let id = message.id.clone();
        world.insert_message(provider, enterprise, message);
        id
    }

    /// Lists `raw` verbatim among the messages of an e-Box, ordered by `received_at`: an
    /// item no schema foresaw. Nothing else (body, content) works for it.
    pub fn add_raw_item(&self, provider: &str, enterprise: &str, raw: serde_json::Value, received_at: DateTime<Utc>) {
        self.world
            .write()
            .unwrap()
            .insert_raw_item(provider, enterprise, RawItem { raw, received_at });
    }

    /// Lists `entry` verbatim in both discovery answers, after the providers: an entry no
    /// schema foresaw.
    pub fn add_raw_provider_entry(&self, entry: serde_json::Value) {
        self.world.write().unwrap().raw_provider_entries.push(entry);
    }

    /// Changes one message; false when it does not exist.
    pub fn update_message(
        &self,
        provider: &str,
        enterprise: &str,
        id: &str,
        change: impl FnOnce(&mut Message, DateTime<Utc>),
    ) -> bool {
        let mut world = self.world.write().unwrap();
        let now = world.now();
        let found = world
            .boxes
            .get_mut(&(provider.to_owned(), enterprise.to_owned()))
            .and_then(|list| list.iter_mut().find(|m| m.id == id));
        match found {
            Some(m) => {
                change(m, now);
                m.rendered = Default::default();
                true
            }
            None => false,
        }
    }

    pub fn messages(&self, provider: &str, enterprise: &str) -> Vec<Message> {
        self.world
            .read()
            .unwrap()
            .boxes
            .get(&(provider.to_owned(), enterprise.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn set_providers(&self, providers: Vec<Provider>) {
        let mut world = self.world.write().unwrap();
        world.providers = providers;
        world.forget_renderings();
    }

    /// Changes one provider (by its internal id); false when there is none. Messages are
    /// rendered anew afterwards, as their JSON may depend on what changed.
    pub fn update_provider(&self, id: &str, change: impl FnOnce(&mut Provider)) -> bool {
        let mut world = self.world.write().unwrap();
        let Some(p) = world.providers.iter_mut().find(|p| p.id == id) else {
            return false;
        };
        change(p);
        world.forget_renderings();
        true
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.world.read().unwrap().now()
    }

    pub fn advance_clock(&self, by: Duration) {
        self.world.write().unwrap().clock_offset += by;
    }
}
