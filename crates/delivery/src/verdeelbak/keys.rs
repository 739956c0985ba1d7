//! The verdeelbak key scheme (contract v1), as pure functions: keys are built only from
//! the connection's prefix, the provider id, the message id and the attachment id, so a
//! rerun writes the same keys; ids and file names are made safe first.
//!
//! ```text
//! <prefix><provider>/<message>/attachments/<attachment>/<file name>
//! <prefix><provider>/<message>/body.json
//! <prefix><provider>/<message>/message.json      (last: its presence means complete)
//! <prefix>_unreadable/<provider>/<sha256>.json   (a list item that is not a message)
//! ```

use sha2::Digest;

/// Longest id segment kept as is; longer ones are cut and given a hash of the whole.
const MAX_SEGMENT: usize = 120;
const MAX_FILE_NAME: usize = 160;

/// An id as one key segment: letters, digits, `-`, `_` and `.` stay; everything else is
/// percent-encoded, so the mapping is one to one and no id can add a `/` or be `..`.
pub fn id_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        match b {
            // A leading `_` is ours (`_unreadable/`): never an id's.
            b'_' if i == 0 => out.push_str("%5F"),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => out.push(b as char),
            b'.' => out.push('.'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if out.is_empty() || out.chars().all(|c| c == '.') {
        // "", "." and ".." would be path tricks; encode every dot.
        out = "%2E".repeat(id.len().max(1));
        if id.is_empty() {
            out = "%00".into();
        }
    }
    shorten(out, MAX_SEGMENT, id)
}

fn shorten(segment: String, max: usize, original: &str) -> String {
    if segment.len() <= max {
        return segment;
    }
    let hash = hex::encode(&sha2::Sha256::digest(original.as_bytes())[..8]);
    let cut = segment.floor_char_boundary(max - hash.len() - 1);
    format!("{}~{hash}", &segment[..cut])
}

/// Characters that make a name read differently from what it is, or not at all, and may
/// not stand in a key: control and format characters (Cc, Cf: line breaks, bidi overrides,
/// zero-width), line and paragraph separators, private-use, surrogate and unassigned.
pub fn is_control_or_format(c: char) -> bool {
    use unicode_general_category::{GeneralCategory, get_general_category};
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    )
}

/// A sender's file name made safe for a key: no `/` or `\`, no control or format
/// characters, no `..`, not starting with a dot; non-ASCII letters stay readable. Never
/// empty. The exact name stays in `message.json`.
pub fn safe_file_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' => '_',
            c if is_control_or_format(c) => '_',
            c => c,
        })
        .collect();
    while out.contains("..") {
        out = out.replace("..", "_");
    }
    let out = out.trim().trim_start_matches('.').to_owned();
    let out = if out.is_empty() { "attachment".to_owned() } else { out };
    if out.len() <= MAX_FILE_NAME {
        return out;
    }
    // Keep the extension of a long name.
    let ext = out
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| e.len() <= 10 && !e.is_empty());
    let cut = out.floor_char_boundary(MAX_FILE_NAME - ext.map_or(0, |e| e.len() + 1));
    match ext {
        Some(e) => format!("{}.{e}", &out[..cut]),
        None => out[..cut].to_owned(),
    }
}

/// Whether every key can safely start with a verdeelbak prefix (checked before each run
/// writes): segments ending in `/`, none empty, `.` or `..`, no control or format characters.
pub fn check_prefix_shape(prefix: &str) -> Result<(), String> {
    let Some(inner) = prefix.strip_suffix('/') else {
        return Err(format!("verdeelbak prefix {prefix:?} must end with /"));
    };
    if let Some(c) = prefix.chars().find(|c| is_control_or_format(*c) || *c == '\\') {
        return Err(format!("verdeelbak prefix {prefix:?} holds {c:?}"));
    }
    if inner.split('/').any(|segment| matches!(segment, "" | "." | "..")) {
        return Err(format!("verdeelbak prefix {prefix:?} has an empty, . or .. segment"));
    }
    Ok(())
}

/// Whether a new connection's prefix is sound and ends with its entity's number, so no two
/// entities share one (runs of connections added before the rule check only the shape).
pub fn check_prefix(prefix: &str, entity: &crate::EntityId) -> Result<(), String> {
    check_prefix_shape(prefix)?;
    if !prefix.ends_with(&format!("/{entity}/")) && prefix != format!("{entity}/") {
        return Err(format!(
            "verdeelbak prefix {prefix:?} must end with the entity's number: .../{entity}/"
        ));
    }
    Ok(())
}

/// The folder of one message.
pub fn message_folder(prefix: &str, provider_id: &str, message_id: &str) -> String {
    format!("{prefix}{}/{}/", id_segment(provider_id), id_segment(message_id))
}

pub fn attachment_key(folder: &str, attachment_id: &str, file_name: &str) -> String {
    format!(
        "{folder}attachments/{}/{}",
        id_segment(attachment_id),
        safe_file_name(file_name)
    )
}

pub fn body_key(folder: &str) -> String {
    format!("{folder}body.json")
}

pub fn message_json_key(folder: &str) -> String {
    format!("{folder}message.json")
}

/// Where an unreadable list item is kept, named by the SHA-256 of its JSON: written once.
pub fn unreadable_key(prefix: &str, provider_id: &str, sha256_hex: &str) -> String {
    format!("{prefix}_unreadable/{}/{sha256_hex}.json", id_segment(provider_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_one_segment_one_to_one() {
        assert_eq!(id_segment("5f1c-AB_9.x"), "5f1c-AB_9.x");
        assert_eq!(id_segment("a/b"), "a%2Fb");
        assert_eq!(id_segment("a%2Fb"), "a%252Fb");
        assert_eq!(id_segment(".."), "%2E%2E");
        assert_eq!(id_segment("."), "%2E");
        assert_eq!(id_segment(""), "%00");
        assert_eq!(id_segment("é"), "%C3%A9");
        assert_eq!(
            id_segment("_unreadable"),
            "%5Funreadable",
            "never the folder of unreadable items"
        );
        assert_eq!(id_segment("a_b"), "a_b");
        assert_ne!(id_segment("a b"), id_segment("a_b"));
        let long = "x".repeat(500);
        let s = id_segment(&long);
        assert!(s.len() <= MAX_SEGMENT && s.contains('~'));
        assert_ne!(id_segment(&long), id_segment(&format!("{long}y")));
    }

    #[test]
    fn file_names_stay_inside_their_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "____etc_passwd");
        assert_eq!(safe_file_name("/abs/path.pdf"), "_abs_path.pdf");
        assert_eq!(safe_file_name("C:\\Users\\x.pdf"), "C:_Users_x.pdf");
        assert_eq!(safe_file_name("a\u{7}b\r\n.pdf"), "a_b__.pdf");
        assert_eq!(safe_file_name(".hidden"), "hidden");
        // A bidi override makes "Factuur\u{202E}fdp.exe" read as "Factuurexe.pdf".
        assert_eq!(safe_file_name("Factuur\u{202E}fdp.exe"), "Factuur_fdp.exe");
        assert_eq!(safe_file_name("a\u{200B}b\u{2066}c\u{2069}\u{FEFF}.pdf"), "a_b_c__.pdf");
        assert_eq!(safe_file_name("soft\u{AD}hyphen\u{85}.pdf"), "soft_hyphen_.pdf");
        assert_eq!(safe_file_name("line\u{2028}para\u{2029}.pdf"), "line_para_.pdf");
        assert_eq!(safe_file_name("private\u{E000}\u{10FFFD}.pdf"), "private__.pdf");
        assert_eq!(safe_file_name("unassigned\u{0378}.pdf"), "unassigned_.pdf");
        assert_eq!(safe_file_name(""), "attachment");
        assert_eq!(safe_file_name("..."), "_.");
        assert_eq!(
            safe_file_name("Avertissement-extrait de rôle (définitif).pdf"),
            "Avertissement-extrait de rôle (définitif).pdf"
        );
        let long = format!("{}.pdf", "é".repeat(300));
        let safe = safe_file_name(&long);
        assert!(safe.len() <= MAX_FILE_NAME && safe.ends_with(".pdf"));
        for hostile in ["../x", "..", "a/../../b", "\u{0}", "x/..", "./."] {
            let s = safe_file_name(hostile);
            assert!(
                !s.contains('/') && !s.contains("..") && !s.is_empty(),
                "{hostile:?} -> {s:?}"
            );
        }
    }

    #[test]
    fn prefixes_are_checked() {
        let e = crate::EntityId::parse("0403170701").unwrap();
        assert!(check_prefix("verdeelbak/0403170701/", &e).is_ok());
        assert!(check_prefix("tray/x/0403170701/", &e).is_ok());
        assert!(
            check_prefix("verdeelbak/", &e).is_err(),
            "another entity's provider could land in it"
        );
        assert!(
            check_prefix("verdeelbak/0123456749/", &e).is_err(),
            "another entity's tray"
        );
        // Whatever comes before the entity's number must be sound too.
        for bad in ["/", "/abs/", "a//b/", "a/../b/", "./", "a\u{202E}b/", "a\nb/", "a\\b/"] {
            let bad = format!("{bad}0403170701/");
            assert!(check_prefix(&bad, &e).is_err(), "{bad:?}");
        }
        assert!(check_prefix("verdeelbak/0403170701", &e).is_err(), "must end with /");
        // An older connection's own prefix still runs; only its shape is checked.
        assert!(check_prefix_shape("trays/agentschap/").is_ok());
        assert!(check_prefix_shape("trays/../x/").is_err());
    }

    #[test]
    fn keys_follow_the_contract() {
        let folder = message_folder("verdeelbak/0403170701/", "ebox-enterprise", "m/1");
        assert_eq!(folder, "verdeelbak/0403170701/ebox-enterprise/m%2F1/");
        assert_eq!(
            attachment_key(&folder, "att-1", "../Aanslag.pdf"),
            "verdeelbak/0403170701/ebox-enterprise/m%2F1/attachments/att-1/__Aanslag.pdf"
        );
        assert_eq!(
            message_json_key(&folder),
            "verdeelbak/0403170701/ebox-enterprise/m%2F1/message.json"
        );
        assert_eq!(
            body_key(&folder),
            "verdeelbak/0403170701/ebox-enterprise/m%2F1/body.json"
        );
    }
}
