//! Generated messages: deterministic from a seed and a position, with the spread of
//! shapes a consumer meets (bodies main, annex or absent; payment data; business data).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::model::*;

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

/// The random choices of one generated message, all made from one number.
#[derive(Clone, Copy)]
struct Dice(u64);

impl Dice {
    fn pick(self, len: usize, salt: u64) -> usize {
        (splitmix64(self.0 ^ salt) % len as u64) as usize
    }
}

/// A generated message's attachments: the first is the main content unless the body is.
fn generated_attachments(dice: Dice, body_kind: BodyKind, count: usize, size: u64) -> Vec<Attachment> {
    (0..count)
        .map(|i| {
            let name = FILE_NAMES[dice.pick(FILE_NAMES.len(), 10 + i as u64)];
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
                    seed: splitmix64(dice.0 ^ (100 + i as u64)),
                    len: size,
                },
            );
            a.title = Some(Translated::all(
                &format!("Bijlage {}", i + 1),
                &format!("Annexe {}", i + 1),
                &format!("Anlage {}", i + 1),
            ));
            a
        })
        .collect()
}

fn generated_payment_data(n: usize, receipt: DateTime<Utc>) -> Option<Value> {
    n.is_multiple_of(4).then(|| {
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
    })
}

fn generated_business_data(n: usize) -> Vec<Value> {
    if n % 3 != 1 {
        return vec![];
    }
    let dossier = format!("D-{n:05}");
    vec![json!({
        "key": "dossier",
        "name": Translated::all("Dossiernummer", "Numéro de dossier", "Aktenzeichen"),
        "values": [Translated::all(&dossier, &dossier, &dossier)],
    })]
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
    let dice = Dice(splitmix64(seed ^ (n as u64).wrapping_mul(31)));
    let subject = SUBJECTS[dice.pick(SUBJECTS.len(), 1)];
    // Newest first: message 0 is the most recent, each next one a few hours older.
    let receipt = now - Duration::minutes(37 + 173 * n as i64);
    let body_kind = BodyKind::of(n, attachments);
    let message_type = &reference.message_types[dice.pick(reference.message_types.len(), 2)];
    let organization = &reference.sender_organizations[dice.pick(reference.sender_organizations.len(), 3)];
    let application = &reference.sender_applications[dice.pick(reference.sender_applications.len(), 4)];
    Message {
        id: message_id(seed, provider, n),
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
        registered_mail: n % 5 == 2,
        for_the_attention_of: (n % 4 == 1)
            .then(|| json!({"id": "85073003328", "type": "nationalRegisterNumber", "name": "Jan Peeters"})),
        message_type_id: message_type.id.clone(),
        sender_organization_id: organization.id.clone(),
        sender_application_id: Some(application.id.clone()),
        partition: None,
        body: body_kind.body(),
        body_main_content: body_kind == BodyKind::Main,
        // Every other message with a body lists it inline (in v3).
        body_inline: body_kind != BodyKind::Absent && n.is_multiple_of(2),
        payment_data: generated_payment_data(n, receipt),
        business_data: generated_business_data(n),
        reply_authorized: false,
        attachments: generated_attachments(dice, body_kind, attachments, attachment_size),
        rendered: Default::default(),
    }
}
