//! The items keep the layout the hand-written adapter gave them, spelled out here, and a
//! malformed item names its attribute.

use aws_sdk_dynamodb::types::AttributeValue as V;
use chrono::{DateTime, Duration, Utc};

use super::codec::*;
use super::items::*;
use crate::EntityId;
use crate::ports::*;
use crate::schema::*;

fn s(v: &str) -> V {
    V::S(v.to_owned())
}

fn n(v: i64) -> V {
    V::N(v.to_string())
}

fn item<const N: usize>(attributes: [(&str, V); N]) -> Item {
    attributes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

const MS: i64 = 1_790_000_000_123;
const ISO: &str = "2026-09-21T14:13:20.123Z";

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(MS).unwrap()
}

fn entity() -> EntityId {
    EntityId::parse("0403170701").unwrap()
}

fn connection() -> Connection {
    Connection {
        entity_id: entity(),
        name: "Agentschap".into(),
        enabled: true,
        credentials: CredentialsRef::SharedCertificate {
            client_id: "client".into(),
            certificate_secret_id: "certificate".into(),
        },
        verdeelbak_prefix: "verdeelbak/0403170701/".into(),
        scopes: Some(vec!["a".into(), "b".into()]),
        created_at: at(),
        updated_at: at() + Duration::days(1),
        // Its round trip is in the adapter conformance tests.
        health: None,
        onboarding: None,
    }
}

fn connection_item() -> Item {
    item([
        (CONNECTIONS_PARTITION_KEY, s("0403170701")),
        ("name", s("Agentschap")),
        ("enabled", V::Bool(true)),
        ("verdeelbak_prefix", s("verdeelbak/0403170701/")),
        ("created_at", s(ISO)),
        ("updated_at", s("2026-09-22T14:13:20.123Z")),
        ("scopes", V::L(vec![s("a"), s("b")])),
        ("credentials_kind", s("shared_certificate")),
        ("client_id", s("client")),
        ("certificate_secret_id", s("certificate")),
    ])
}

fn read_connection(item: &Item) -> Result<Connection, String> {
    decode::<ConnectionItem>(item)?.into_connection(entity())
}

#[test]
fn connections_keep_their_layout() {
    let mut c = connection();
    assert_eq!(ConnectionItem::row(&c), connection_item());
    assert_eq!(read_connection(&connection_item()), Ok(c.clone()));

    c.credentials = CredentialsRef::Secret {
        secret_id: "secret".into(),
    };
    c.scopes = None;
    let mut stored = connection_item();
    for name in ["scopes", "client_id", "certificate_secret_id"] {
        stored.remove(name);
    }
    stored.insert("credentials_kind".into(), s("secret"));
    stored.insert("secret_id".into(), s("secret"));
    assert_eq!(ConnectionItem::row(&c), stored);
    assert_eq!(read_connection(&stored), Ok(c));
}

#[test]
fn state_rows_keep_their_layout() {
    let key = |sk: &str| [(STATE_PARTITION_KEY, s("ENTITY#0403170701")), (STATE_SORT_KEY, s(sk))];
    let [pk, sk] = key("LEASE");
    let lease = item([
        pk,
        sk,
        ("holder", s("run-1")),
        ("lease_until_ms", n(MS)),
        ("lease_until", s(ISO)),
        (STATE_TTL_ATTRIBUTE, n(MS / 1000 + 86_400)),
    ]);
    assert_eq!(LeaseItem::row(&entity(), "run-1", at()), lease);
    let read = Lease::from(decode::<LeaseItem>(&lease).unwrap());
    assert_eq!((read.holder.as_str(), read.until), ("run-1", at()));

    let mut entry = LedgerEntry {
        provider_id: "p#1".into(),
        message_id: "m-1".into(),
        delivered_at: at(),
        message_key: "verdeelbak/0403170701/m-1/message.json".into(),
        message_sha256: "ab".into(),
        expires_at: Some(at()),
        event_pending: false,
    };
    let [pk, sk] = key("MSG#p%231#m-1");
    let mut row = item([
        pk,
        sk,
        ("provider_id", s("p#1")),
        ("message_id", s("m-1")),
        ("delivered_at", s(ISO)),
        ("message_key", s("verdeelbak/0403170701/m-1/message.json")),
        ("message_sha256", s("ab")),
        ("expires_at", s(ISO)),
        (STATE_TTL_ATTRIBUTE, n(MS / 1000 + 30 * 86_400)),
    ]);
    assert_eq!(LedgerItem::row(&entity(), &entry), row);
    assert_eq!(LedgerEntry::from(decode::<LedgerItem>(&row).unwrap()), entry);
    entry.expires_at = None;
    row.remove("expires_at");
    row.remove(STATE_TTL_ATTRIBUTE);
    assert_eq!(LedgerItem::row(&entity(), &entry), row);
    assert_eq!(LedgerEntry::from(decode::<LedgerItem>(&row).unwrap()), entry);

    let [pk, sk] = key("LAST_RUN");
    assert_eq!(
        LastRunItem::row(&entity(), r#"{"ok":true}"#),
        item([pk, sk, ("report", s(r#"{"ok":true}"#))])
    );
}

#[test]
fn cursors_keep_their_layout() {
    let cursor = Cursor {
        position: at(),
        recent: [("m-1".to_owned(), at())].into(),
        unreadable: Default::default(),
        registry_url: "https://h/r/v3/".into(),
        also_known_as: ["old-name".to_owned()].into(),
    };
    let attributes = item([
        ("position_ms", n(MS)),
        ("position", s(ISO)),
        ("provider_id", s("p1")),
        ("recent", V::M(item([("m-1", n(MS))]))),
        ("unreadable", V::M(Item::new())),
        ("registry_url", s("https://h/r/v3/")),
        ("also_known_as", V::L(vec![s("old-name")])),
    ]);
    assert_eq!(CursorItem::attributes("p1", &cursor), attributes);
    assert_eq!(Cursor::from(decode::<CursorItem>(&attributes).unwrap()), cursor);
    // A cursor stored before the registry's URL and other names were kept.
    let mut older = attributes.clone();
    older.remove("registry_url");
    older.remove("also_known_as");
    let read = Cursor::from(decode::<CursorItem>(&older).unwrap());
    assert_eq!((read.registry_url.as_str(), read.also_known_as.len()), ("", 0));
}

#[test]
fn malformed_values_the_old_reader_skipped_are_still_skipped() {
    let mut stored = connection_item();
    stored.insert("scopes".into(), V::L(vec![s("a"), n(1), s("b")]));
    stored.insert("secret_id".into(), n(1));
    assert_eq!(read_connection(&stored), Ok(connection()));

    let stored = item([
        ("position_ms", n(MS)),
        ("recent", V::M(item([("m-1", n(MS)), ("m-2", s("soon"))]))),
        ("unreadable", s("none")),
    ]);
    let cursor = Cursor::from(decode::<CursorItem>(&stored).unwrap());
    assert_eq!(cursor.recent.keys().collect::<Vec<_>>(), ["m-1"]);
    assert!(cursor.unreadable.is_empty());

    let mut row = item([
        ("provider_id", s("p1")),
        ("message_id", s("m-1")),
        ("delivered_at", s(ISO)),
        ("message_key", s("k")),
        ("message_sha256", s("ab")),
    ]);
    row.insert("expires_at".into(), s("never"));
    assert_eq!(LedgerEntry::from(decode::<LedgerItem>(&row).unwrap()).expires_at, None);
}

#[test]
fn a_malformed_item_names_its_attribute() {
    let named = |field: &str, change: &dyn Fn(&mut Item)| {
        let mut stored = connection_item();
        change(&mut stored);
        let error = read_connection(&stored).unwrap_err();
        assert!(error.starts_with(&malformed(field)), "{field}: {error}");
    };
    named("name", &|i| {
        i.remove("name");
    });
    named("enabled", &|i| {
        i.insert("enabled".into(), s("yes"));
    });
    named("created_at", &|i| {
        i.insert("created_at".into(), s("yesterday"));
    });
    named("credentials_kind", &|i| {
        i.insert("credentials_kind".into(), s("password"));
    });
    named("client_id", &|i| {
        i.remove("client_id");
    });

    let cursor = item([("position_ms", s(ISO))]);
    let error = decode::<CursorItem>(&cursor).err().unwrap();
    assert!(error.starts_with(&malformed("position_ms")), "{error}");
}
