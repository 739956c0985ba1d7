//! The event that tells downstream a message was delivered: everything a router needs
//! without reading S3, nothing it must not see (no body text, e-Box JSON, payment data or
//! secret). Derived from the stored `message.json` alone, it is the same, with the same
//! id, whether published live, later from the outbox, or replayed.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The detail's schema; a change of meaning is a new version.
pub const EVENT_SCHEMA: &str = "digipost-ebox.event.v1";
/// The envelope's `source`.
pub const EVENT_SOURCE: &str = "digipost-ebox";
/// The envelope's `detail-type`.
pub const EVENT_DETAIL_TYPE: &str = "e-Box message delivered";

/// Namespace of [`event_id`]s (a UUID v5 of entity, provider and message).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d1f_0b8e_52c4_4c4e_9a57_3f0e_8d2b_7a10);

/// One delivered message's event, ready to publish.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveredEvent {
    /// Deterministic: the same message always has the same id, so consumers drop repeats.
    pub id: String,
    pub detail: Value,
}

impl DeliveredEvent {
    /// The detail as published (compact JSON).
    pub fn detail_json(&self) -> String {
        self.detail.to_string()
    }
}

/// The id of the event of message `message_id` of `provider_id` for `entity_id`.
pub fn event_id(entity_id: &str, provider_id: &str, message_id: &str) -> String {
    let name = format!("{entity_id}/{provider_id}/{message_id}");
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

/// What an event takes from `message.json`. Everything else there (the body, e-Box's own
/// JSON, payment data) is skipped as it is read, never built: it is most of the file.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Copied {
    entity_id: Value,
    provider_id: Value,
    message_id: Value,
    received_at: Value,
    expires_at: Value,
    registered_mail: Value,
    retrieved_at: Value,
    read_before_retrieval: Value,
    subject: Value,
    sender: Value,
    message_type: Value,
    partition: Value,
    attachments: Value,
}

/// The event of a message from its `message.json`, stored under `message_key`.
pub fn from_message_json(message_key: &str, message_json: &[u8]) -> Result<DeliveredEvent, String> {
    let m: Copied = serde_json::from_slice(message_json).map_err(|e| format!("message.json does not parse: {e}"))?;
    let text = |v: Value| match v {
        Value::String(s) => Some(s),
        _ => None,
    };
    let (Some(entity), Some(provider), Some(message)) = (text(m.entity_id), text(m.provider_id), text(m.message_id))
    else {
        return Err("message.json names no entity, provider or message".into());
    };
    let attachments = match m.attachments {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    let total_bytes: u64 = attachments
        .iter()
        .filter_map(|a| a.get("size_bytes").and_then(Value::as_u64))
        .sum();
    let folder = message_key.rsplit_once('/').map_or("", |(folder, _)| folder);
    let id = event_id(&entity, &provider, &message);
    let detail = json!({
        "schema": EVENT_SCHEMA,
        "event_id": id,
        "entity_id": entity,
        "provider_id": provider,
        "message_id": message,
        "message_folder": format!("{folder}/"),
        "message_json_key": message_key,
        "received_at": m.received_at,
        "expires_at": m.expires_at,
        "registered_mail": m.registered_mail.as_bool().unwrap_or(false),
        "retrieved_at": m.retrieved_at,
        "read_before_retrieval": m.read_before_retrieval,
        "subject": m.subject,
        "sender": m.sender,
        "message_type": m.message_type,
        "partition": m.partition,
        "attachments": {"count": attachments.len(), "total_bytes": total_bytes},
    });
    Ok(DeliveredEvent { id, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_json() -> Vec<u8> {
        serde_json::to_vec(&json!({
            "schema": "digipost-ebox.message.v2",
            "entity_id": "0403170701", "provider_id": "p1", "message_id": "m 1",
            "received_at": "2026-03-01T08:00:00Z", "expires_at": "2026-05-30T00:00:00Z",
            "registered_mail": true, "retrieved_at": "2026-03-02T09:00:00Z", "read_before_retrieval": false,
            "subject": {"nl": "Aanslag", "fr": "Avertissement", "de": "Bescheid"},
            "body": {"nl": "geheime inhoud", "fr": "contenu", "de": "Inhalt"},
            "sender": {"organization": {"id": "FOD", "name": null}, "application": null},
            "message_type": {"id": "TAX", "name": {"nl": "Belasting", "fr": "Impôt", "de": "Steuer"}},
            "partition": "finance",
            "payment_data": {"iban": "BE00 0000"},
            "attachments": [{"size_bytes": 10}, {"size_bytes": 32}],
            "ebox": {"messageId": "m 1", "content": "raw"},
        }))
        .unwrap()
    }

    #[test]
    fn an_event_carries_what_a_router_needs_and_no_body() {
        let key = "entiteit-0403170701/ebox/p1/m%201/message.json";
        let event = from_message_json(key, &message_json()).unwrap();
        let d = &event.detail;
        assert_eq!(d["schema"], EVENT_SCHEMA);
        assert_eq!(d["message_folder"], "entiteit-0403170701/ebox/p1/m%201/");
        assert_eq!(d["message_json_key"], key);
        assert_eq!(d["registered_mail"], true);
        assert_eq!(d["read_before_retrieval"], false);
        assert_eq!(d["subject"]["fr"], "Avertissement");
        assert_eq!(d["message_type"]["id"], "TAX");
        assert_eq!(d["attachments"], json!({"count": 2, "total_bytes": 42}));
        let text = event.detail_json();
        for hidden in ["geheime inhoud", "BE00", "\"raw\"", "payment", "\"body\""] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
    }

    #[test]
    fn an_event_id_depends_on_the_message_alone() {
        let key = "entiteit-0403170701/ebox/p1/m%201/message.json";
        let a = from_message_json(key, &message_json()).unwrap();
        let b = from_message_json(key, &message_json()).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.detail["event_id"], a.id.as_str());
        assert_ne!(a.id, event_id("0403170701", "p1", "m 2"));
        assert_ne!(a.id, event_id("0403170701", "p2", "m 1"));
        assert!(from_message_json(key, b"{}").is_err());
    }

    /// The event reads `message.json` as [`message_json::build`] writes it: each field it
    /// copies is written under the name it reads, and carried over as written.
    ///
    /// [`message_json::build`]: crate::verdeelbak::message_json::build
    #[test]
    fn the_event_copies_what_message_json_writes() {
        use crate::verdeelbak::message_json::{Names, Retrieval, Stored, StoredAttachment, build};
        let text = r#"{"messageId":"m1","receiptDate":"2026-03-02T09:00:00Z","expirationDate":"2026-05-30T00:00:00Z",
            "registeredMail":true,"subject":{"nl":"Aanslag","fr":"Avis","de":"Bescheid"},
            "senderOrganizationId":"0123456789","senderApplicationId":"app","messageTypeId":"TAX","partitionId":"finance"}"#;
        let raw = serde_json::value::RawValue::from_string(text.to_owned()).unwrap();
        let ebox::model::Listed::Message(listed) = ebox::model::Listed::read(raw) else {
            panic!("a readable message");
        };
        let attachment = |id: &str, size_bytes| StoredAttachment {
            attachment_id: id.into(),
            attachment_id_assigned: false,
            file_name: ebox::model::Sent::Absent,
            key: format!("x/{id}"),
            media_type: None,
            size_bytes,
            declared_size_kb: None,
            sha256: String::new(),
            main_content: false,
            digest_verified: false,
        };
        let retrieval = Retrieval {
            at: "2026-03-02T10:00:00Z".parse().unwrap(),
            read_before: true,
        };
        let stored = Stored {
            body: None,
            attachments: &[attachment("a", 10), attachment("b", 32)],
            retrieval: &retrieval,
        };
        let entity = crate::EntityId::parse("0403170701").unwrap();
        let json = build(
            &entity,
            "p1",
            ebox::model::ApiVersion::V2,
            &listed,
            &Names::default(),
            stored,
        );
        let written: Value = serde_json::from_slice(&json).unwrap();
        let event = from_message_json("entiteit-0403170701/ebox/p1/m1/message.json", &json).unwrap();
        let copied = [
            "entity_id",
            "provider_id",
            "message_id",
            "received_at",
            "expires_at",
            "registered_mail",
            "retrieved_at",
            "read_before_retrieval",
            "subject",
            "sender",
            "message_type",
            "partition",
        ];
        for name in copied {
            assert!(!written[name].is_null(), "message.json has no {name}: {written}");
            assert_eq!(event.detail[name], written[name], "{name}");
        }
        assert_eq!(event.detail["attachments"], json!({"count": 2, "total_bytes": 42}));
    }

    #[test]
    fn odd_fields_read_as_the_event_always_read_them() {
        let key = "entiteit-0403170701/ebox/p1/m%201/message.json";
        let odd = json!({
            "entity_id": "0403170701", "provider_id": "p1", "message_id": "m 1",
            "registered_mail": "yes", "subject": null, "partition": 7,
            "attachments": {"size_bytes": 10}, "ebox": [1, {"deep": [null]}],
        });
        let event = from_message_json(key, &serde_json::to_vec(&odd).unwrap()).unwrap();
        let d = &event.detail;
        assert_eq!(d["registered_mail"], false);
        assert_eq!(d["subject"], Value::Null);
        assert_eq!(d["expires_at"], Value::Null);
        assert_eq!(d["partition"], 7);
        assert_eq!(d["attachments"], json!({"count": 0, "total_bytes": 0}));
        let mixed = json!({
            "entity_id": "0403170701", "provider_id": "p1", "message_id": "m 1",
            "attachments": [{"size_bytes": 10}, "odd", {"size_bytes": "32"}, {"size_bytes": 5}],
        });
        let event = from_message_json(key, &serde_json::to_vec(&mixed).unwrap()).unwrap();
        assert_eq!(event.detail["attachments"], json!({"count": 4, "total_bytes": 15}));
        for bad in [
            json!({"entity_id": 403170701, "provider_id": "p1", "message_id": "m"}),
            json!(["0403170701"]),
        ] {
            assert!(
                from_message_json(key, &serde_json::to_vec(&bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    /// Consumers drop repeats by this id: it is a contract. A change of its namespace or
    /// of the name it is made from would make every event new to them, so it is pinned to
    /// a value computed outside this code (UUID v5 of the namespace and
    /// "0403170701/ebox-enterprise/m-1").
    #[test]
    fn the_event_id_is_pinned() {
        assert_eq!(
            event_id("0403170701", "ebox-enterprise", "m-1"),
            "0e58ef20-01c3-5d39-83e8-f97aa95f9e7a"
        );
    }
}
