//! A Document Provider: its Message Registry, and how both discovery lists announce it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiVersion, DEFAULT_PAGE_LIMIT, Translated, datetime};

/// A date interval during which a provider does not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    #[serde(rename = "startDate")]
    pub start: DateTime<Utc>,
    #[serde(rename = "endDate")]
    pub end: DateTime<Utc>,
}

fn default_page_limit() -> usize {
    DEFAULT_PAGE_LIMIT
}

const TECHNICAL_CONTACT: &str = "eboxintegration@example.invalid";

/// Where a v3 registry puts a message's partition. The published v3 examples disagree,
/// so each provider picks one; a consumer has to look in all three places.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionPlace {
    /// A top-level `"partition"`.
    Top,
    /// `"recipient": {"eboxType": "enterprise", "enterpriseNumber": ..., "partition": ...}`,
    /// naming the enterprise whose e-Box it is.
    #[default]
    Recipient,
    /// Inside the `sender` object, as `"partition"`.
    Sender,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub activation: NaiveDate,
    #[serde(default)]
    pub deactivation: Option<NaiveDate>,
    #[serde(default)]
    pub maintenance: Vec<Maintenance>,
    #[serde(default)]
    pub api_version: ApiVersion,
    /// Items per page this registry serves at most.
    #[serde(default = "default_page_limit")]
    pub page_limit: usize,
    /// Where a v3 message shows its partition (v2 never shows it).
    #[serde(default)]
    pub partition_place: PartitionPlace,
    /// The path segment under the registry where reference data lies (`refData`,
    /// `referenceData`); by the API version when None. Only that one is served.
    #[serde(default)]
    pub reference_path: Option<String>,
    /// The `messageProviderId` the older Provider Registry (federation 1.3) announces;
    /// [`Provider::id`] when None.
    #[serde(default)]
    pub legacy_id: Option<String>,
    /// The `id` the current Document Provider Registry announces; [`Provider::id`] when
    /// None. The registry's URL is built from [`Provider::id`] whatever either list says.
    #[serde(default)]
    pub listed_id: Option<String>,
}

impl Provider {
    pub fn active_on(&self, day: NaiveDate) -> bool {
        self.activation <= day && self.deactivation.is_none_or(|d| day < d)
    }

    /// A provider as the simulator holds it by default: active from `activation`, no
    /// maintenance, the default page limit, partition place and reference path, named
    /// by its `id` in both discovery lists.
    pub fn new(id: &str, name: &str, activation: NaiveDate, api_version: ApiVersion) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            activation,
            deactivation: None,
            maintenance: vec![],
            api_version,
            page_limit: DEFAULT_PAGE_LIMIT,
            partition_place: PartitionPlace::default(),
            reference_path: None,
            legacy_id: None,
            listed_id: None,
        }
    }

    /// The path segment its reference data is served under.
    pub fn reference_path(&self) -> &str {
        self.reference_path
            .as_deref()
            .unwrap_or_else(|| self.api_version.reference_path())
    }

    /// Its `messageProviderId` in the older Provider Registry.
    pub fn legacy_id(&self) -> &str {
        self.legacy_id.as_deref().unwrap_or(&self.id)
    }

    /// Its `id` in the current Document Provider Registry.
    pub fn listed_id(&self) -> &str {
        self.listed_id.as_deref().unwrap_or(&self.id)
    }

    pub fn in_maintenance(&self, now: DateTime<Utc>) -> bool {
        self.maintenance.iter().any(|m| m.start <= now && now < m.end)
    }

    /// Base URL of this provider's Message Registry, without the trailing slash; the
    /// version it speaks is part of it.
    pub fn registry_url(&self, base_url: &str) -> String {
        format!("{base_url}/registries/{}/{}", self.id, self.api_version.segment())
    }

    fn maintenance_json(&self) -> Vec<Value> {
        self.maintenance
            .iter()
            .map(|m| json!({"startDate": datetime(m.start), "endDate": datetime(m.end)}))
            .collect()
    }

    /// A `MessageProvider` of the older Provider Registry (federation 1.3 YAML), named by
    /// [`Provider::legacy_id`]. Optional fields are left out when empty, as the YAML
    /// allows.
    pub fn message_provider_json(&self, base_url: &str) -> Value {
        let mut v = json!({
            "messageProviderId": self.legacy_id(),
            "messageProviderName": Translated::all(&self.name, &self.name, &self.name),
            "messageProviderDescription": Translated::all(
                &format!("Berichten van {}", self.name),
                &format!("Messages de {}", self.name),
                &format!("Nachrichten von {}", self.name),
            ),
            "messageProviderUrl": format!("{}/", self.registry_url(base_url)),
            "messageProviderActivationDate": self.activation.to_string(),
            "messageProviderTechnicalContact": TECHNICAL_CONTACT,
            "apiSupportedVersion": self.api_version.announced(),
        });
        if let Some(d) = self.deactivation {
            v["messageProviderDeactivationDate"] = json!(d.to_string());
        }
        if !self.maintenance.is_empty() {
            v["messageProviderPlannedMaintenance"] = json!(self.maintenance_json());
        }
        v
    }

    /// An entry of the current Document Provider Registry. Its shape is not published;
    /// the simulator chooses these names, all different from the older list's, so that
    /// a consumer cannot read one list with the other's schema. `id` is
    /// [`Provider::listed_id`], which need not be the older list's `messageProviderId`:
    ///
    /// ```json
    /// {"id": "ebox-enterprise",
    ///  "name": {"nl": "...", "fr": "...", "de": "..."},
    ///  "messageRegistryUrl": "{base}/registries/ebox-enterprise/v3/",
    ///  "apiSupportedVersion": "3.0",
    ///  "activationDate": "2018-01-01",
    ///  "deactivationDate": "2020-01-01",                          // only when set
    ///  "plannedMaintenances": [{"startDate": "...", "endDate": "..."}], // only when any
    ///  "technicalContact": "..."}                                 // a field nobody asked for
    /// ```
    pub fn message_registry_json(&self, base_url: &str) -> Value {
        let mut v = json!({
            "id": self.listed_id(),
            "name": Translated::all(&self.name, &self.name, &self.name),
            "messageRegistryUrl": format!("{}/", self.registry_url(base_url)),
            "apiSupportedVersion": self.api_version.announced(),
            "activationDate": self.activation.to_string(),
            "technicalContact": TECHNICAL_CONTACT,
        });
        if let Some(d) = self.deactivation {
            v["deactivationDate"] = json!(d.to_string());
        }
        if !self.maintenance.is_empty() {
            v["plannedMaintenances"] = json!(self.maintenance_json());
        }
        v
    }
}
