//! The tolerant readings every schema here is built from: a field is what e-Box sent
//! (left out, `null`, or a value, kept apart), and a value of the wrong type counts as
//! left out, so one odd field never costs the message. The raw JSON keeps the rest.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A field as e-Box sent it. `message.json` copies it as it came: a field left out stays
/// out, `null` stays `null`, `""` stays `""`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sent<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Sent<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Sent::Absent)
    }

    pub fn value(&self) -> Option<&T> {
        match self {
            Sent::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn into_value(self) -> Option<T> {
        match self {
            Sent::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_ref(&self) -> Sent<&T> {
        match self {
            Sent::Absent => Sent::Absent,
            Sent::Null => Sent::Null,
            Sent::Value(v) => Sent::Value(v),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sent<U> {
        match self {
            Sent::Absent => Sent::Absent,
            Sent::Null => Sent::Null,
            Sent::Value(v) => Sent::Value(f(v)),
        }
    }

    /// The first value of the two; else `null` when either said `null`.
    pub fn or(self, other: Sent<T>) -> Sent<T> {
        match (self, other) {
            (Sent::Value(v), _) | (_, Sent::Value(v)) => Sent::Value(v),
            (Sent::Null, _) | (_, Sent::Null) => Sent::Null,
            _ => Sent::Absent,
        }
    }
}

impl Sent<String> {
    /// The text, when one was sent.
    pub fn as_deref(&self) -> Option<&str> {
        self.value().map(String::as_str)
    }
}

impl<T> From<Option<T>> for Sent<T> {
    /// `None` is `null`: something was said.
    fn from(v: Option<T>) -> Self {
        v.map_or(Sent::Null, Sent::Value)
    }
}

impl<T: Serialize> Serialize for Sent<T> {
    /// A field left out is serialised as `null` where it cannot be skipped; skip it with
    /// `skip_serializing_if = "Sent::is_absent"`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Sent::Value(v) => v.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Sent<T> {
    /// `null` is `null`; a value that is not a `T` counts as left out.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Sent::Null,
            v => serde_json::from_value(v).map_or(Sent::Absent, Sent::Value),
        })
    }
}

/// Text: a string, or a number written as one.
pub(crate) fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `deserialize_with` for a text field kept as sent (see [`as_text`]).
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Sent<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => Sent::Null,
        v => as_text(&v).map_or(Sent::Absent, Sent::Value),
    })
}

/// `deserialize_with` for a boolean: `true`/`false`, or those words as a string;
/// anything else is unknown.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

/// `deserialize_with` for any value that may be of the wrong type: then it is unknown.
pub(crate) fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// A date-time as e-Box writes it: RFC 3339, or without offset (taken as UTC), or a date.
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// `deserialize_with` for a date-time where one that does not parse is unknown.
pub(crate) fn instant<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => parse_instant(&s),
        _ => None,
    })
}

/// Text in nl, fr and de, each as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translated {
    #[serde(default, skip_serializing_if = "Sent::is_absent", deserialize_with = "text")]
    pub nl: Sent<String>,
    #[serde(default, skip_serializing_if = "Sent::is_absent", deserialize_with = "text")]
    pub fr: Sent<String>,
    #[serde(default, skip_serializing_if = "Sent::is_absent", deserialize_with = "text")]
    pub de: Sent<String>,
}

impl Translated {
    /// The same text in all three languages.
    pub fn all(text: &str) -> Self {
        let one = || Sent::Value(text.to_owned());
        Self {
            nl: one(),
            fr: one(),
            de: one(),
        }
    }

    /// An object with `nl`/`fr`/`de` (each kept as sent), or one plain string for all
    /// three; anything else is not a text.
    pub fn read(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(Self::all(s)),
            Value::Object(_) => Self::deserialize(v).ok(),
            _ => None,
        }
    }
}

/// `deserialize_with` for a translated text kept as sent (see [`Translated::read`]).
pub(crate) fn translated<'de, D: Deserializer<'de>>(d: D) -> Result<Sent<Translated>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => Sent::Null,
        v => Translated::read(&v).map_or(Sent::Absent, Sent::Value),
    })
}
