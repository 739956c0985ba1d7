//! A Document Provider (one Message Registry), the API version it speaks, and whether it
//! is to be read now.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::discovery::Entry;
use super::sent::Translated;
use super::short;

/// Which Message Registry API a provider speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    #[default]
    V2,
    V3,
}

impl ApiVersion {
    /// From what a provider announces (`apiSupportedVersion`), else from its URL.
    pub fn announced(version: Option<&str>, url: &str) -> Self {
        let major = |s: &str| {
            s.trim()
                .trim_start_matches(['v', 'V'])
                .split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok())
        };
        let from_url = || {
            url.split(['/', '?'])
                .filter_map(|segment| segment.strip_prefix(['v', 'V']).and_then(|n| n.parse::<u32>().ok()))
                .next_back()
        };
        match version.and_then(major).or_else(from_url) {
            Some(m) if m >= 3 => ApiVersion::V3,
            _ => ApiVersion::V2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2 => "v2",
            ApiVersion::V3 => "v3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMaintenance {
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
}

/// A Document Provider: one Message Registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageProvider {
    pub message_provider_id: String,
    pub message_provider_url: String,
    /// Absent: active from the start.
    pub message_provider_activation_date: Option<NaiveDate>,
    pub message_provider_deactivation_date: Option<NaiveDate>,
    pub message_provider_planned_maintenance: Vec<PlannedMaintenance>,
    pub message_provider_name: Option<Translated>,
    pub api_version: ApiVersion,
}

/// Whether a provider is to be read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderState {
    Active,
    NotYetActive,
    Deactivated,
    /// Planned maintenance: skip this run, not an error.
    InMaintenance {
        until: DateTime<Utc>,
    },
}

impl MessageProvider {
    /// A provider at `url`, active from the start, speaking the version its URL says.
    pub fn new(id: &str, url: &str) -> Self {
        Self {
            message_provider_id: id.to_owned(),
            message_provider_url: url.to_owned(),
            message_provider_activation_date: None,
            message_provider_deactivation_date: None,
            message_provider_planned_maintenance: Vec::new(),
            message_provider_name: None,
            api_version: ApiVersion::announced(None, url),
        }
    }

    /// One entry of either discovery answer.
    pub fn read(entry: &Value) -> Result<Self, String> {
        if !entry.is_object() {
            return Err(format!("entry is not an object: {}", short(entry)));
        }
        Entry::deserialize(entry)
            .map_err(|e| format!("entry does not read: {e}"))?
            .into_provider()
    }

    pub fn state(&self, now: DateTime<Utc>) -> ProviderState {
        let today = now.date_naive();
        if self.message_provider_activation_date.is_some_and(|d| today < d) {
            return ProviderState::NotYetActive;
        }
        if self.message_provider_deactivation_date.is_some_and(|d| today >= d) {
            return ProviderState::Deactivated;
        }
        match self
            .message_provider_planned_maintenance
            .iter()
            .find(|m| m.start_date <= now && now < m.end_date)
        {
            Some(m) => ProviderState::InMaintenance { until: m.end_date },
            None => ProviderState::Active,
        }
    }
}

pub(super) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}
