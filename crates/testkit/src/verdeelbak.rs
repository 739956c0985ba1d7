//! What the verdeelbak must hold for a message of the simulator's e-Box, checked against
//! the simulator's own record of it (never against what the client parsed): one place
//! for every harness.

use crate::fault_proxy::Exchange;
use std::collections::{BTreeMap, BTreeSet};

use delivery::verdeelbak::keys;
use ebox_sim::model::Message;
use serde_json::Value;
use sha2::Digest;

/// Characters no key may hold: controls, and the format characters that make a name
/// read differently (bidi embeddings, overrides and isolates, zero-width ones, the soft
/// hyphen, the byte-order mark).
pub fn hides_meaning(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Checks that `m`, a message of `provider`, is delivered under `prefix` in `objects`
/// (every object of the entity, by key): `message.json` with the message's own values,
/// every attachment byte for byte under a safe key and with its exact file name, the body
/// (main content or annex) exactly as e-Box serves it, and no body where there is none.
/// Returns the keys it expects, so the caller can check nothing else is there.
pub fn assert_message_delivered(
    objects: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
    provider: &str,
    m: &Message,
) -> BTreeSet<String> {
    let folder = keys::message_folder(prefix, provider, &m.id);
    let json_key = keys::message_json_key(&folder);
    let raw = objects.get(&json_key).unwrap_or_else(|| panic!("{json_key} missing"));
    let json: Value = serde_json::from_slice(raw).unwrap();
    assert_eq!(json["message_id"], m.id.as_str(), "{json_key}");
    assert_eq!(json["provider_id"], provider, "{json_key}");
    assert_eq!(json["registered_mail"], m.registered_mail, "{json_key}");
    let mut expected = BTreeSet::from([json_key.clone()]);
    let stored = json["attachments"].as_array().expect("attachments");
    assert_eq!(stored.len(), m.attachments.len(), "{json_key}: every attachment");
    for (a, s) in m.attachments.iter().zip(stored) {
        let key = s["key"].as_str().expect("attachment key").to_owned();
        assert!(key.starts_with(&format!("{folder}attachments/")), "{key}");
        if a.id_listed {
            assert_eq!(key, keys::attachment_key(&folder, &a.id, &a.file_name));
        }
        assert!(!key.chars().any(hides_meaning), "{key:?}");
        assert_eq!(
            s["file_name"],
            a.file_name.as_str(),
            "the exact name stays in message.json"
        );
        assert_eq!(s["main_content"], a.main_content, "{key}");
        let bytes = objects.get(&key).unwrap_or_else(|| panic!("{key} missing"));
        let sha: [u8; 32] = sha2::Sha256::digest(bytes).into();
        assert_eq!(sha, a.content.sha256(), "{key} differs from what e-Box holds");
        assert_eq!(s["sha256"], hex::encode(sha));
        assert_eq!(s["size_bytes"], bytes.len());
        expected.insert(key);
    }
    expected.extend(assert_body_delivered(objects, &folder, &json, m));
    expected
}

/// The body exactly as e-Box serves it (byte for byte from its call; the same JSON when it
/// came inline), and none where there is none; its key when there is one.
fn assert_body_delivered(
    objects: &BTreeMap<String, Vec<u8>>,
    folder: &str,
    json: &Value,
    m: &Message,
) -> Option<String> {
    let body_key = keys::body_key(folder);
    match &m.body {
        Some(body) => {
            // As the simulator serves it: byte for byte from the body call; from inside the
            // listed message (an inline body), the same JSON.
            let served = serde_json::to_value(body).unwrap();
            let stored = objects.get(&body_key).unwrap_or_else(|| panic!("{body_key} missing"));
            if json["body_source"] == "inline" {
                assert!(m.body_inline, "{body_key}: inline only where e-Box inlined it");
                let stored: Value = serde_json::from_slice(stored).unwrap();
                assert_eq!(stored, served, "{body_key}: the inline body");
            } else {
                assert_eq!(
                    std::str::from_utf8(stored).unwrap(),
                    served.to_string(),
                    "{body_key}: byte for byte"
                );
            }
            assert_eq!(json["body"], serde_json::to_value(body).unwrap());
            let role = if m.body_main_content { "main_content" } else { "annex" };
            assert_eq!(json["body_role"], role, "{folder}");
            Some(body_key)
        }
        None => {
            assert!(!objects.contains_key(&body_key), "{body_key}: there is no body");
            assert_eq!(json["body"], Value::Null);
            None
        }
    }
}

/// What moto took of a message folder, by the fault proxy's log (in the order requests
/// arrived): its `message.json` once, and nothing after it. `case` names the check.
pub fn assert_written_once_and_last(log: &[Exchange], folder: &str, case: &str) {
    let taken: Vec<&Exchange> = log
        .iter()
        .filter(|e| e.operation == "s3:PutObject" && e.target.contains(folder))
        .filter(|e| e.status.is_some_and(|s| (200..300).contains(&s)))
        .collect();
    let json: Vec<usize> = taken
        .iter()
        .enumerate()
        .filter(|(_, e)| e.target.ends_with("/message.json"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        json.len(),
        1,
        "{case}: {folder}/message.json written {} times",
        json.len()
    );
    assert_eq!(
        json[0],
        taken.len() - 1,
        "{case}: written after {folder}/message.json: {taken:#?}"
    );
}
