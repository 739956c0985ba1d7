//! Deterministic, realistic e-Box content made from a seed and sizes.

use chrono::NaiveDate;
use serde::Deserialize;

use crate::model::*;

mod generated;

pub use generated::{generated_message, message_id, unlist_alternate_attachment_ids};

/// The one consultation scope of clients onboarded now.
pub const CONSULT_SCOPE: &str = "scope:document:management:consult:ws-eboxrestentreprise:documentconsumer";
pub const REGISTRY_SCOPE: &str = "scope:documentmanagement:ebox:enterprise:federation-rest:registry";
/// The three scopes clients onboarded earlier were granted instead of [`CONSULT_SCOPE`]:
/// the summary, the messages (with everything under them), the reference data.
pub const SUMMARY_SCOPE: &str = "scope:document:management:consult:ws-eboxrestentreprise:summaryownebox";
pub const MESSAGES_SCOPE: &str = "scope:document:management:consult:ws-eboxrestentreprise:messagesfull";
pub const REFERENCE_DATA_SCOPE: &str = "scope:document:management:consult:ws-eboxrestentreprise:referencedata";
pub const OLD_CONSULT_SCOPES: [&str; 3] = [SUMMARY_SCOPE, MESSAGES_SCOPE, REFERENCE_DATA_SCOPE];

/// Two providers that are active, one speaking v3 and one still v2, one not yet active
/// and one deactivated, so that a consumer has to speak both versions and honour the
/// activation dates. The two active ones go by another name in the older Provider
/// Registry than in the current one.
pub fn default_providers() -> Vec<Provider> {
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid date");
    vec![
        Provider {
            legacy_id: Some("EBOXENT".into()),
            ..Provider::new("ebox-enterprise", "e-Box Enterprise", day("2018-01-01"), ApiVersion::V3)
        },
        Provider {
            legacy_id: Some("VO-REGISTRY".into()),
            ..Provider::new(
                "vlaamse-overheid",
                "Vlaamse overheid",
                day("2021-06-01"),
                ApiVersion::V2,
            )
        },
        Provider::new(
            "future-provider",
            "Toekomstige dienst",
            day("2099-01-01"),
            ApiVersion::V2,
        ),
        Provider {
            deactivation: Some(day("2020-01-01")),
            ..Provider::new(
                "retired-provider",
                "Afgeschafte dienst",
                day("2017-01-01"),
                ApiVersion::V2,
            )
        },
    ]
}

pub fn default_reference_data() -> ReferenceData {
    let item = |id: &str, nl: &str, fr: &str, de: &str| ReferenceItem {
        id: id.into(),
        name: Translated::all(nl, fr, de),
    };
    ReferenceData {
        message_types: vec![
            item(
                "aanslagbiljet",
                "Aanslagbiljet",
                "Avertissement-extrait de rôle",
                "Steuerbescheid",
            ),
            item("herinnering", "Herinnering", "Rappel", "Erinnerung"),
            item("attest", "Attest", "Attestation", "Bescheinigung"),
            item("beslissing", "Beslissing", "Décision", "Entscheidung"),
        ],
        sender_organizations: vec![
            item("0308357159", "FOD Financiën", "SPF Finances", "FÖD Finanzen"),
            item("0206731645", "RSZ", "ONSS", "LSS"),
            item(
                "0316380940",
                "Vlaamse Belastingdienst",
                "Service flamand des impôts",
                "Flämischer Steuerdienst",
            ),
        ],
        sender_applications: vec![
            item("myminfin", "MyMinfin", "MyMinfin", "MyMinfin"),
            item("dmfa", "DmfA", "DmfA", "DmfA"),
            item("vlabel", "Vlabel", "Vlabel", "Vlabel"),
        ],
    }
}

/// What to generate.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    #[serde(default)]
    pub seed: u64,
    pub enterprises: Vec<String>,
    #[serde(default = "default_messages")]
    pub messages_per_enterprise: usize,
    #[serde(default = "default_attachments")]
    pub attachments_per_message: usize,
    /// Bytes per attachment.
    #[serde(default = "default_attachment_size")]
    pub attachment_size: u64,
    /// Providers to fill; all active ones when empty.
    #[serde(default)]
    pub providers: Vec<String>,
}

impl Scenario {
    /// `messages` messages for one enterprise, spread over the active providers, each
    /// with `attachments` attachments of `size` bytes.
    pub fn of(seed: u64, enterprise: &str, messages: usize, attachments: usize, size: u64) -> Self {
        Self {
            seed,
            enterprises: vec![enterprise.to_owned()],
            messages_per_enterprise: messages,
            attachments_per_message: attachments,
            attachment_size: size,
            providers: Vec::new(),
        }
    }

    /// Only at this provider.
    pub fn at(mut self, provider: &str) -> Self {
        self.providers = vec![provider.to_owned()];
        self
    }
}

fn default_messages() -> usize {
    12
}
fn default_attachments() -> usize {
    2
}
fn default_attachment_size() -> u64 {
    48 * 1024
}
