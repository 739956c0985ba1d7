//! The tolerant readings every schema here is built from: one odd field never costs the
//! message, and the raw JSON keeps the rest.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

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
        self.as_ref().into_value()
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

/// A struct of wire fields under their camelCase names, each read as its type says
/// ([`Read`]); a field left out is its `Default`.
macro_rules! wire {
    ($(#[$m:meta])* $v:vis struct $name:ident { $($(#[$fm:meta])* $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        $v struct $name {
            $($(#[$fm])* #[serde(default, deserialize_with = "crate::model::sent::field")] $f: $t,)*
        }
    };
}
pub(crate) use wire;

/// A value of one type; None when the JSON is of another, which counts as left out.
pub(crate) trait Read: Sized {
    fn read(v: &Value) -> Option<Self>;

    /// The same reading of a value of its own, which it may take apart instead of copying.
    fn read_owned(v: Value) -> Option<Self> {
        Self::read(&v)
    }
}

/// A wire field: `Sent<T>` keeps `null` apart, `Option<T>` does not.
pub(crate) trait Field: Default {
    fn read(v: &Value) -> Self;
    /// [`Field::read`] of a value of its own.
    fn read_owned(v: Value) -> Self;
    fn or(self, other: Self) -> Self;
}

impl<T: Read> Field for Sent<T> {
    fn read(v: &Value) -> Self {
        match v {
            Value::Null => Sent::Null,
            v => T::read(v).map_or(Sent::Absent, Sent::Value),
        }
    }

    fn read_owned(v: Value) -> Self {
        match v {
            Value::Null => Sent::Null,
            v => T::read_owned(v).map_or(Sent::Absent, Sent::Value),
        }
    }

    fn or(self, other: Self) -> Self {
        Sent::or(self, other)
    }
}

impl<T: Read> Field for Option<T> {
    fn read(v: &Value) -> Self {
        T::read(v)
    }

    fn read_owned(v: Value) -> Self {
        T::read_owned(v)
    }

    fn or(self, other: Self) -> Self {
        Option::or(self, other)
    }
}

/// `deserialize_with` for any [`Field`].
pub(crate) fn field<'de, D: Deserializer<'de>, T: Field>(d: D) -> Result<T, D::Error> {
    Value::deserialize(d).map(T::read_owned)
}

/// A field under the first of its `names` that an object gives, as [`Field::or`] picks.
/// Each name is read on its own rather than as an alias: an object carrying two of them
/// must still be read.
pub(crate) fn pick<T: Field>(o: &Map<String, Value>, names: &[&str]) -> T {
    names
        .iter()
        .map(|n| o.get(*n).map_or_else(T::default, T::read))
        .fold(T::default(), T::or)
}

/// Text: a string, or a number written as one.
impl Read for String {
    fn read(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn read_owned(v: Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(s),
            v => Self::read(&v),
        }
    }
}

impl Read for Translated {
    fn read(v: &Value) -> Option<Self> {
        Translated::read(v)
    }

    fn read_owned(v: Value) -> Option<Self> {
        match v {
            Value::Object(_) => Self::deserialize(v).ok(),
            v => Translated::read(&v),
        }
    }
}

/// Any value but `null`.
impl Read for Value {
    fn read(v: &Value) -> Option<Self> {
        Some(v.clone()).filter(|v| !v.is_null())
    }

    fn read_owned(v: Value) -> Option<Self> {
        Some(v).filter(|v| !v.is_null())
    }
}

/// `true`/`false`, or those words as a string.
impl Read for bool {
    fn read(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
}

/// A date-time that parses (see [`parse_instant`]).
impl Read for DateTime<Utc> {
    fn read(v: &Value) -> Option<Self> {
        v.as_str().and_then(parse_instant)
    }
}

macro_rules! read_by_serde {
    ($($t:ty),*) => {$(
        impl Read for $t {
            fn read(v: &Value) -> Option<Self> {
                Self::deserialize(v).ok()
            }

            fn read_owned(v: Value) -> Option<Self> {
                Self::deserialize(v).ok()
            }
        }
    )*};
}
read_by_serde!(f64, u64, super::attachment::Digest);

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

/// Text in nl, fr and de, each as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translated {
    #[serde(default, skip_serializing_if = "Sent::is_absent", deserialize_with = "field")]
    pub nl: Sent<String>,
    #[serde(default, skip_serializing_if = "Sent::is_absent", deserialize_with = "field")]
    pub fr: Sent<String>,
    #[serde(default, skip_serializing_if = "Sent::is_absent", deserialize_with = "field")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A field read from a value of its own reads as the same field read from a borrowed one.
    #[test]
    fn owned_and_borrowed_readings_agree() {
        fn agree<T: Field + PartialEq + std::fmt::Debug>(values: &[Value]) {
            for v in values {
                assert_eq!(T::read_owned(v.clone()), T::read(v), "{v}");
            }
        }
        let values = [
            json!(null),
            json!(""),
            json!("text"),
            json!(" true "),
            json!("TRUE"),
            json!(12),
            json!(-3.5),
            json!(true),
            json!([1, "a"]),
            json!({"nl": "a", "fr": null}),
            json!({"nl": 5, "de": "c"}),
            json!({"digestMethod": "SHA-256", "digestValue": "abc"}),
            json!({"digestMethod": "SHA-256"}),
            json!("2026-03-01T08:00:00Z"),
            json!("2026-03-01"),
        ];
        agree::<Sent<String>>(&values);
        agree::<Option<String>>(&values);
        agree::<Sent<Translated>>(&values);
        agree::<Sent<Value>>(&values);
        agree::<Option<bool>>(&values);
        agree::<Option<f64>>(&values);
        agree::<Option<u64>>(&values);
        agree::<Option<super::super::attachment::Digest>>(&values);
        agree::<Option<DateTime<Utc>>>(&values);
        // And what they read is what e-Box sent.
        assert_eq!(Sent::<String>::read_owned(json!(12)), Sent::Value("12".to_owned()));
        assert_eq!(Sent::<String>::read_owned(json!(null)), Sent::Null);
        assert_eq!(Sent::<String>::read_owned(json!([1])), Sent::Absent);
        assert_eq!(
            Sent::<Translated>::read_owned(json!("x")),
            Sent::Value(Translated::all("x"))
        );
    }
}
