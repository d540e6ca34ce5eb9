//! Time as cartback stores it: UTC instants, kept as epoch milliseconds in the table so
//! conditional writes can compare them as numbers.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};

/// The source of "now": core never reads the wall clock itself. Lambda functions use the
/// system's (`cartback_app::SystemClock`); tests and `simulate` drive a virtual one.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub fn to_millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub fn from_millis(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

/// `#[serde(with = "millis")]` for a `Timestamp`.
pub mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(to_millis(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let ms = i64::deserialize(d)?;
        from_millis(ms).ok_or_else(|| serde::de::Error::custom("timestamp out of range"))
    }
}

/// `#[serde(with = "millis_opt", default, skip_serializing_if = "Option::is_none")]`.
pub mod millis_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&to_millis(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            Some(ms) => from_millis(ms)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("timestamp out of range")),
            None => Ok(None),
        }
    }
}
