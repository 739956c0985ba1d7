//! Deterministic, realistic e-Box content made from a seed and sizes.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::model::*;

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
/// activation dates.
pub fn default_providers() -> Vec<Provider> {
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid date");
    let provider = |id: &str, name: &str, activation: &str, api_version: ApiVersion| Provider {
        id: id.into(),
        name: name.into(),
        activation: day(activation),
        deactivation: None,
        maintenance: vec![],
        api_version,
        page_limit: DEFAULT_PAGE_LIMIT,
    };
    vec![
        provider("ebox-enterprise", "e-Box Enterprise", "2018-01-01", ApiVersion::V3),
        provider("vlaamse-overheid", "Vlaamse overheid", "2021-06-01", ApiVersion::V2),
        provider("future-provider", "Toekomstige dienst", "2099-01-01", ApiVersion::V2),
        Provider {
            deactivation: Some(day("2020-01-01")),
            ..provider("retired-provider", "Afgeschafte dienst", "2017-01-01", ApiVersion::V2)
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

const FILE_NAMES: &[&str] = &[
    "Aanslagbiljet 2026.pdf",
    "Avertissement-extrait de rôle (définitif).pdf",
    "Überweisung – Zahlungsaufforderung.pdf",
    "bijlage 1 'kopie' & overzicht.pdf",
    "Bewijsstukken juni.zip",
    "Beslissing nr. 2026/0042.pdf",
];

const SUBJECTS: &[(&str, &str, &str)] = &[
    (
        "Uw aanslagbiljet",
        "Votre avertissement-extrait de rôle",
        "Ihr Steuerbescheid",
    ),
    ("Herinnering betaling", "Rappel de paiement", "Zahlungserinnerung"),
    (
        "Attest tewerkstelling",
        "Attestation d'occupation",
        "Beschäftigungsbescheinigung",
    ),
    (
        "Beslissing over uw aanvraag",
        "Décision concernant votre demande",
        "Entscheidung über Ihren Antrag",
    ),
];

/// A message id that depends only on the seed and the position, so that two e-Boxes
/// generated from one seed share ids, as separate e-Boxes may in reality.
pub fn message_id(seed: u64, provider: &str, n: usize) -> String {
    let mut h = seed;
    for b in provider.bytes() {
        h = splitmix64(h ^ u64::from(b));
    }
    let a = splitmix64(h ^ n as u64);
    let b = splitmix64(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// What the body of a generated message is: a spread of the three cases a consumer meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// The body is the main content; every attachment is an annex.
    Main,
    /// The first attachment is the main content and the body an annex
    /// (`bodyMainContent` false, yet a body there is).
    Annex,
    /// No body: the first attachment is the main content.
    Absent,
}

impl BodyKind {
    fn of(n: usize, attachments: usize) -> Self {
        // A message has at least one main content: without attachments, the body is it.
        if attachments == 0 {
            return BodyKind::Main;
        }
        match n % 3 {
            0 => BodyKind::Main,
            1 => BodyKind::Annex,
            _ => BodyKind::Absent,
        }
    }

    fn body(self) -> Option<Translated> {
        match self {
            BodyKind::Main => Some(Translated::all(
                "Geachte, in bijlage vindt u ons schrijven.",
                "Madame, Monsieur, veuillez trouver notre courrier en annexe.",
                "Sehr geehrte Damen und Herren, anbei unser Schreiben.",
            )),
            BodyKind::Annex => Some(Translated::all(
                "Toelichting: de bijlage is uw officieel document.",
                "Explication : l'annexe est votre document officiel.",
                "Erläuterung: die Anlage ist Ihr amtliches Dokument.",
            )),
            BodyKind::Absent => None,
        }
    }
}

/// As v3 registries do for some attachments: leave the `attachmentId` of every other
/// attachment out (alternating between messages), so only `contentHref` leads there.
pub fn unlist_alternate_attachment_ids(message: &mut Message, n: usize) {
    for (i, a) in message.attachments.iter_mut().enumerate() {
        a.id_listed = (n + i).is_multiple_of(2);
    }
}

/// The `n`th generated message of an e-Box.
pub fn generated_message(
    seed: u64,
    provider: &str,
    n: usize,
    now: DateTime<Utc>,
    attachments: usize,
    attachment_size: u64,
    reference: &ReferenceData,
) -> Message {
    let r = splitmix64(seed ^ (n as u64).wrapping_mul(31));
    let pick = |len: usize, salt: u64| (splitmix64(r ^ salt) % len as u64) as usize;
    let subject = SUBJECTS[pick(SUBJECTS.len(), 1)];
    let id = message_id(seed, provider, n);
    // Newest first: message 0 is the most recent, each next one a few hours older.
    let receipt = now - Duration::minutes(37 + 173 * n as i64);
    let registered = n % 5 == 2;
    let body_kind = BodyKind::of(n, attachments);
    let message_type = &reference.message_types[pick(reference.message_types.len(), 2)];
    let organization = &reference.sender_organizations[pick(reference.sender_organizations.len(), 3)];
    let application = &reference.sender_applications[pick(reference.sender_applications.len(), 4)];
    let attachments = (0..attachments)
        .map(|i| {
            let name = FILE_NAMES[pick(FILE_NAMES.len(), 10 + i as u64)];
            let media_type = if name.ends_with(".zip") {
                "application/zip"
            } else {
                "application/pdf"
            };
            let mut a = Attachment::new(
                format!("att-{}", i + 1),
                name.to_owned(),
                media_type.to_owned(),
                i == 0 && body_kind != BodyKind::Main,
                Content::Generated {
                    seed: splitmix64(r ^ (100 + i as u64)),
                    len: attachment_size,
                },
            );
            a.title = Some(Translated::all(
                &format!("Bijlage {}", i + 1),
                &format!("Annexe {}", i + 1),
                &format!("Anlage {}", i + 1),
            ));
            a
        })
        .collect();
    Message {
        id,
        subject: Translated::all(subject.0, subject.1, subject.2),
        receipt,
        // Nothing generated is expired already; some messages expire soon.
        expiration: if n % 7 == 6 {
            now + Duration::days(3)
        } else {
            (receipt + Duration::days(90)).max(now + Duration::days(30))
        },
        read: false,
        visible: true,
        registered_mail: registered,
        for_the_attention_of: (n % 4 == 1)
            .then(|| json!({"id": "85073003328", "type": "nationalRegisterNumber", "name": "Jan Peeters"})),
        message_type_id: message_type.id.clone(),
        sender_organization_id: organization.id.clone(),
        sender_application_id: Some(application.id.clone()),
        partition: None,
        body: body_kind.body(),
        body_main_content: body_kind == BodyKind::Main,
        payment_data: n.is_multiple_of(4).then(|| {
            json!({
                "paymentDataId": format!("pay-{n}"),
                "amount": 125.5 + n as f64,
                "vatAmount": 0.0,
                "currency": "EUR",
                "dueDate": datetime(receipt + Duration::days(30)),
                "iban": "BE68539007547034",
                "bic": "GKCCBEBB",
                "reference": {"structured": "+++090/9337/55493+++"},
            })
        }),
        business_data: if n % 3 == 1 {
            vec![json!({
                "key": "dossier",
                "name": Translated::all("Dossiernummer", "Numéro de dossier", "Aktenzeichen"),
                "values": [Translated::all(&format!("D-{n:05}"), &format!("D-{n:05}"), &format!("D-{n:05}"))],
            })]
        } else {
            vec![]
        },
        reply_authorized: false,
        attachments,
        rendered: Default::default(),
    }
}
