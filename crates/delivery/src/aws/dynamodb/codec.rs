//! How items are encoded: serde_dynamo, the two forms of a time, and reading an item so
//! that a malformed one names the attribute at fault and never panics. [`Lenient`] skips
//! a malformed optional value where the first, hand-written reader did.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_dynamo::aws_sdk_dynamodb_1 as dynamo;

pub(super) type Item = HashMap<String, AttributeValue>;

/// Encodes an item of ours: strings, numbers, booleans, lists and string-keyed maps, which
/// serde_dynamo always encodes.
pub(super) fn to_item(row: impl Serialize) -> Item {
    dynamo::to_item(row).expect("serde_dynamo encodes every item of ours")
}

/// Encodes one value, as [`to_item`] would inside an item.
pub(super) fn value(value: impl Serialize) -> AttributeValue {
    dynamo::to_attribute_value(value).expect("serde_dynamo encodes every value of ours")
}

/// Reads a stored item as `T`. A malformed one is an error naming the attribute at fault.
pub(super) fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, String> {
    // serde_dynamo panics on a type this SDK does not know; such an attribute reads as absent.
    let item: Item = item
        .iter()
        .filter(|(_, v)| known(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let read = |item: Item| dynamo::from_item::<T>(item).map_err(|e| e.to_string());
    let error = match read(item.clone()) {
        Ok(row) => return Ok(row),
        Err(error) => error,
    };
    // serde names a missing attribute; a malformed one is the attribute without which
    // the item reads, or lacks only that attribute.
    let missing = error
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    let field = missing.map(str::to_owned).or_else(|| {
        let mut names: Vec<&String> = item.keys().collect();
        names.sort();
        let field = names.into_iter().find(|&name| {
            let mut rest = item.clone();
            rest.remove(name);
            read(rest).map_or_else(|e| e == format!("missing field `{name}`"), |_| true)
        });
        field.cloned()
    });
    Err(match field {
        Some(field) => format!("{} ({error})", malformed(&field)),
        None => format!("stored item is malformed ({error})"),
    })
}

pub(super) fn malformed(field: &str) -> String {
    format!("stored item has a missing or malformed {field:?}")
}

fn known(value: &AttributeValue) -> bool {
    use AttributeValue::*;
    match value {
        L(list) => list.iter().all(known),
        M(map) => map.values().all(known),
        B(_) | Bool(_) | Bs(_) | N(_) | Ns(_) | Null(_) | S(_) | Ss(_) => true,
        _ => false,
    }
}

/// A time as an ISO string, to the millisecond.
#[derive(Clone, Copy, Default)]
pub(super) struct Iso(pub DateTime<Utc>);

impl Serialize for Iso {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl<'de> Deserialize<'de> for Iso {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let time = DateTime::parse_from_rfc3339(&text).map_err(|e| D::Error::custom(format!("{text:?}: {e}")))?;
        Ok(Self(time.with_timezone(&Utc)))
    }
}

/// A time as a number of milliseconds since the epoch.
#[derive(Clone, Copy, Default)]
pub(super) struct Millis(pub DateTime<Utc>);

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0.timestamp_millis())
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ms = i64::deserialize(d)?;
        let time =
            DateTime::from_timestamp_millis(ms).ok_or_else(|| D::Error::custom(format!("{ms} ms is out of range")))?;
        Ok(Self(time))
    }
}

/// A value that reads as `None` when malformed. serde_dynamo hands each value its own
/// deserializer, so a skipped value leaves the rest of the item readable.
pub(super) struct Lenient<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(T::deserialize(d).ok()))
    }
}

pub(super) fn lenient<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Lenient::deserialize(d)?.0)
}

/// A list of strings; other elements are skipped.
pub(super) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let list: Option<Vec<Lenient<String>>> = lenient(d)?;
    Ok(list.map(|list| list.into_iter().filter_map(|s| s.0).collect()))
}

/// A map of names to instants; entries that are not instants are skipped.
pub(super) mod instants {
    use super::*;

    pub fn serialize<S: Serializer>(map: &BTreeMap<String, DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(id, at)| (id, Millis(*at))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, DateTime<Utc>>, D::Error> {
        let map: Option<BTreeMap<String, Lenient<Millis>>> = lenient(d)?;
        Ok(map
            .into_iter()
            .flatten()
            .filter_map(|(id, at)| Some((id, at.0?.0)))
            .collect())
    }
}
