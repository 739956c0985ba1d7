//! Provider discovery answers: the older Provider Registry (federation 1.3, a list of
//! `MessageProvider`) and the current Document Provider Registry, whose shape is not
//! published. Both are read by every name they are known to use.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::provider::{ApiVersion, MessageProvider, PlannedMaintenance, is_loopback};
use super::sent::{Read, Sent, Translated, parse_instant, wire};
use super::short;

wire! {
    /// One discovery entry as sent, under the names either list uses.
    pub(super) struct Entry {
        message_provider_id: Sent<String>,
        message_registry_id: Sent<String>,
        document_provider_id: Sent<String>,
        provider_id: Sent<String>,
        registry_id: Sent<String>,
        id: Sent<String>,
        message_provider_url: Sent<String>,
        message_registry_url: Sent<String>,
        document_provider_url: Sent<String>,
        url: Sent<String>,
        base_url: Sent<String>,
        endpoint: Sent<String>,
        href: Sent<String>,
        message_provider_activation_date: Option<Value>,
        activation_date: Option<Value>,
        message_provider_deactivation_date: Option<Value>,
        deactivation_date: Option<Value>,
        message_provider_planned_maintenance: Option<Value>,
        planned_maintenances: Option<Value>,
        planned_maintenance: Option<Value>,
        maintenance: Option<Value>,
        message_provider_name: Sent<Translated>,
        message_registry_name: Sent<Translated>,
        name: Sent<Translated>,
        api_supported_version: Sent<String>,
        api_version: Sent<String>,
        version: Sent<String>,
    }
}

/// The first non-empty text of several names.
fn first(names: &[&Sent<String>]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| n.value())
        .find(|s| !s.trim().is_empty())
        .cloned()
}

/// A date given under one of two names (`null` counts as none); a value that is no date
/// is an error.
fn date(a: &Option<Value>, b: &Option<Value>, what: &str) -> Result<Option<NaiveDate>, String> {
    let Some(v) = a.as_ref().or(b.as_ref()) else {
        return Ok(None);
    };
    let date = String::read(v).as_deref().and_then(parse_instant);
    date.map(|t| Some(t.date_naive()))
        .ok_or_else(|| format!("{what} {v} is not a date"))
}

fn windows(list: Option<&Value>) -> Result<Vec<PlannedMaintenance>, String> {
    wire! {
        struct Window {
            #[serde(alias = "start")]
            start_date: Sent<String>,
            #[serde(alias = "end")]
            end_date: Sent<String>,
        }
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
        first(&[
            &e.message_provider_id,
            &e.message_registry_id,
            &e.document_provider_id,
            &e.provider_id,
            &e.registry_id,
            &e.id,
        ])
    }

    fn url(&self) -> Option<String> {
        let e = self;
        first(&[
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
        .find_map(Option::as_ref);
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

/// The list in a discovery answer: the answer itself, or held under one of these names.
const HOLDERS: [&str; 6] = [
    "items",
    "messageRegistries",
    "messageProviders",
    "documentProviders",
    "providers",
    "registries",
];

impl Discovery {
    /// Either answer shape: a list of entries, or an object holding the list.
    pub fn read(answer: &Value) -> Result<Self, String> {
        let entries = match answer {
            Value::Array(list) => list,
            Value::Object(o) => HOLDERS
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_array))
                .ok_or_else(|| format!("no list of providers in {}", short(answer)))?,
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
