//! Provider discovery answers: the older Provider Registry (federation 1.3, a list of
//! `MessageProvider`) and the current Document Provider Registry, whose shape is not
//! published. Both are read by every name they are known to use.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::provider::{ApiVersion, MessageProvider, PlannedMaintenance, is_loopback};
use super::sent::{Sent, Translated, as_text, parse_instant, text, translated};
use super::short;

/// One discovery entry as sent, under the names either list uses.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Entry {
    #[serde(default, deserialize_with = "text")]
    message_provider_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    message_registry_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    document_provider_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    provider_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    registry_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    message_provider_url: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    message_registry_url: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    document_provider_url: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    url: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    base_url: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    endpoint: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    href: Sent<String>,
    #[serde(default)]
    message_provider_activation_date: Option<Value>,
    #[serde(default)]
    activation_date: Option<Value>,
    #[serde(default)]
    message_provider_deactivation_date: Option<Value>,
    #[serde(default)]
    deactivation_date: Option<Value>,
    #[serde(default)]
    message_provider_planned_maintenance: Option<Value>,
    #[serde(default)]
    planned_maintenances: Option<Value>,
    #[serde(default)]
    planned_maintenance: Option<Value>,
    #[serde(default)]
    maintenance: Option<Value>,
    #[serde(default, deserialize_with = "translated")]
    message_provider_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    message_registry_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    name: Sent<Translated>,
    #[serde(default, deserialize_with = "text")]
    api_supported_version: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    api_version: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    version: Sent<String>,
}

/// The first non-empty text of several names.
fn first(names: [&Sent<String>; 7]) -> Option<String> {
    names
        .into_iter()
        .filter_map(Sent::value)
        .find(|s| !s.trim().is_empty())
        .cloned()
}

/// A date given under one of two names; a value that is no date is an error.
fn date(a: &Option<Value>, b: &Option<Value>, what: &str) -> Result<Option<NaiveDate>, String> {
    match a
        .as_ref()
        .filter(|v| !v.is_null())
        .or(b.as_ref().filter(|v| !v.is_null()))
    {
        None => Ok(None),
        Some(v) => as_text(v)
            .as_deref()
            .and_then(parse_instant)
            .map(|t| Some(t.date_naive()))
            .ok_or_else(|| format!("{what} {v} is not a date")),
    }
}

fn windows(list: Option<&Value>) -> Result<Vec<PlannedMaintenance>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Window {
        #[serde(default, alias = "start", deserialize_with = "text")]
        start_date: Sent<String>,
        #[serde(default, alias = "end", deserialize_with = "text")]
        end_date: Sent<String>,
    }
    let Some(list) = list else { return Ok(Vec::new()) };
    let Value::Array(items) = list else {
        return Err(format!("planned maintenance is not a list: {}", short(list)));
    };
    let at = |s: &Sent<String>| s.value().and_then(|s| parse_instant(s));
    items
        .iter()
        .map(|w| match Window::deserialize(w) {
            Ok(w) => match (at(&w.start_date), at(&w.end_date)) {
                (Some(start_date), Some(end_date)) => Ok(PlannedMaintenance { start_date, end_date }),
                _ => Err("a maintenance window lacks its start or end".to_owned()),
            },
            Err(_) => Err(format!("a maintenance window is not an object: {}", short(w))),
        })
        .collect()
}

impl Entry {
    fn id(&self) -> Option<String> {
        let e = self;
        first([
            &e.message_provider_id,
            &e.message_registry_id,
            &e.document_provider_id,
            &e.provider_id,
            &e.registry_id,
            &e.id,
            &Sent::Absent,
        ])
    }

    fn url(&self) -> Option<String> {
        let e = self;
        first([
            &e.message_provider_url,
            &e.message_registry_url,
            &e.document_provider_url,
            &e.url,
            &e.base_url,
            &e.endpoint,
            &e.href,
        ])
    }

    pub(super) fn into_provider(self) -> Result<MessageProvider, String> {
        let id = self.id().ok_or("entry has no provider id")?;
        let url = self.url().ok_or_else(|| format!("provider {id} has no URL"))?;
        match reqwest::Url::parse(&url) {
            // The token goes with every request: in clear text only to this machine.
            Ok(u) if u.scheme() == "https" && !u.cannot_be_a_base() => {}
            Ok(u) if u.scheme() == "http" && is_loopback(&u) => {}
            _ => return Err(format!("provider {id}: {url:?} is not an https URL")),
        }
        let with_id = |e: String| format!("provider {id}: {e}");
        let maintenance = [
            &self.message_provider_planned_maintenance,
            &self.planned_maintenances,
            &self.planned_maintenance,
            &self.maintenance,
        ]
        .into_iter()
        .find_map(|m| m.as_ref().filter(|v| !v.is_null()));
        let version = [&self.api_supported_version, &self.api_version, &self.version]
            .into_iter()
            .find_map(Sent::value);
        Ok(MessageProvider {
            message_provider_activation_date: date(
                &self.message_provider_activation_date,
                &self.activation_date,
                "activation date",
            )
            .map_err(with_id)?,
            message_provider_deactivation_date: date(
                &self.message_provider_deactivation_date,
                &self.deactivation_date,
                "deactivation date",
            )
            .map_err(with_id)?,
            message_provider_planned_maintenance: windows(maintenance).map_err(with_id)?,
            api_version: ApiVersion::announced(version.map(String::as_str), &url),
            message_provider_name: self
                .message_provider_name
                .or(self.message_registry_name)
                .or(self.name)
                .into_value(),
            message_provider_id: id,
            message_provider_url: url,
        })
    }
}

/// A discovery entry that could not be read: that provider is skipped, the others go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedProvider {
    /// Whatever id the entry carries.
    pub provider_id: Option<String>,
    pub reason: String,
}

/// What provider discovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub providers: Vec<MessageProvider>,
    pub skipped: Vec<SkippedProvider>,
}

/// The list in a discovery answer: the answer itself, or held under one of these names
/// (each its own field: two of them in one answer must not make it unreadable).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Holder {
    #[serde(default)]
    items: Option<Value>,
    #[serde(default)]
    message_registries: Option<Value>,
    #[serde(default)]
    message_providers: Option<Value>,
    #[serde(default)]
    document_providers: Option<Value>,
    #[serde(default)]
    providers: Option<Value>,
    #[serde(default)]
    registries: Option<Value>,
}

impl Holder {
    fn list(self) -> Option<Vec<Value>> {
        [
            self.items,
            self.message_registries,
            self.message_providers,
            self.document_providers,
            self.providers,
            self.registries,
        ]
        .into_iter()
        .flatten()
        .find_map(|v| match v {
            Value::Array(list) => Some(list),
            _ => None,
        })
    }
}

impl Discovery {
    /// Either answer shape: a list of entries, or an object holding the list.
    pub fn read(answer: &Value) -> Result<Self, String> {
        let entries = match answer {
            Value::Array(list) => list,
            Value::Object(_) => match Holder::deserialize(answer).ok().and_then(Holder::list) {
                Some(list) => return Ok(Self::of(&list)),
                None => return Err(format!("no list of providers in {}", short(answer))),
            },
            other => return Err(format!("not a list of providers: {}", short(other))),
        };
        Ok(Self::of(entries))
    }

    fn of(entries: &[Value]) -> Self {
        let mut found = Discovery::default();
        for entry in entries {
            match MessageProvider::read(entry) {
                Ok(p)
                    if found
                        .providers
                        .iter()
                        .any(|q| q.message_provider_id == p.message_provider_id) =>
                {
                    found.skipped.push(SkippedProvider {
                        provider_id: Some(p.message_provider_id),
                        reason: "listed twice; the first entry is used".into(),
                    });
                }
                Ok(p) => found.providers.push(p),
                Err(reason) => found.skipped.push(SkippedProvider {
                    provider_id: Entry::deserialize(entry).ok().and_then(|e| e.id()),
                    reason,
                }),
            }
        }
        found
    }
}
