//! Shared pieces of the `ip -j` / `bridge -j` JSON parsers: a stream of
//! top-level arrays, and lenient scalar types that accept what the various
//! iproute2 versions print (numbers as strings, hex strings, `null` flags).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::ParseError;

/// Parses one or more concatenated top-level JSON arrays of `T`, calling
/// `each` with the array index and its items. An input without any array
/// (empty or whitespace only) is an error: `ip -j` always prints `[]`.
pub(crate) fn arrays<'a, T, F>(text: &'a str, mut each: F) -> Result<(), ParseError>
where
    T: Deserialize<'a>,
    F: FnMut(usize, Vec<T>) -> Result<(), ParseError>,
{
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Vec<T>>();
    let mut n = 0;
    for arr in stream.by_ref() {
        each(n, arr?)?;
        n += 1;
    }
    if n == 0 {
        return Err(ParseError::Json {
            line: 1,
            column: 1,
            message: "expected a JSON array, found no data".into(),
        });
    }
    Ok(())
}

/// Any JSON scalar, borrowed where possible; arrays and objects are skipped
/// (`Other`). Used where iproute2 versions disagree on a field's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Num(u64),
    Neg(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bool(bool),
    Null,
    Other,
}

impl<'a> Scalar<'a> {
    /// The value as an unsigned integer: a number, or a decimal or `0x`
    /// hex string.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Num(n) => Some(*n),
            Scalar::Str(s) => parse_u64(s),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Decimal or `0x`-prefixed hex.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON scalar")
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(if v >= 0 {
            Scalar::Num(v as u64)
        } else {
            Scalar::Neg(v)
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// `deserialize_with` for flags that iproute2 prints as `"name": null`
/// (`not`, `router`, `proxy`, `nop`): present means true.
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Scalar::deserialize(d)?;
    Ok(!matches!(v, Scalar::Bool(false)))
}

/// `deserialize_with` for an unsigned number printed as a number, a decimal
/// string (`"protocol": "80"`) or a hex string (`"fwmark": "0x4000"`).
pub(crate) fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = Scalar::deserialize(d)?;
    if v == Scalar::Null {
        return Ok(None);
    }
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("expected a 32-bit unsigned number, found {v:?}")))
}

/// Like [`lenient_u32`] for 16-bit fields (ports, VLAN ids).
pub(crate) fn lenient_u16<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let v = lenient_u32(d)?;
    v.map(|n| u16::try_from(n).map_err(|_| de::Error::custom(format!("{n} does not fit 16 bits"))))
        .transpose()
}

/// `deserialize_with` for a string list that older iproute2 printed as a
/// single string (neighbour `state`).
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split_whitespace().map(str::to_string).collect())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// An address with optional prefix length (`10.0.0.0/16`, `10.244.1.2`,
/// `2001:db8::/64`): a bare address is a host prefix.
pub(crate) fn parse_net(s: &str) -> Option<IpNet> {
    if s.contains('/') {
        return s.parse().ok();
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// A MAC as the model stores it; link-layer addresses that are not six
/// octets (IPIP's `0.0.0.0`, InfiniBand) are kept lower-cased as printed.
pub(crate) fn mac(s: &str) -> String {
    cnictl_model::cidr::normalize_mac(s).unwrap_or_else(|| s.to_ascii_lowercase())
}

/// One JSON document and a newline, as `ip -j` ends its output. Model data
/// has string keys only, so serializing cannot fail; `null` if it did.
pub(crate) fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut s = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "lenient_u32")]
        n: Option<u32>,
        #[serde(default, deserialize_with = "present")]
        flag: bool,
        #[serde(default, deserialize_with = "string_or_list")]
        state: Vec<String>,
    }

    #[test]
    fn lenient_numbers_and_flags() {
        let t: T = serde_json::from_str(r#"{"n":"0x10","flag":null,"state":"STALE"}"#).unwrap();
        assert_eq!(
            (t.n, t.flag, t.state),
            (Some(16), true, vec!["STALE".to_string()])
        );
        let t: T = serde_json::from_str(r#"{"n":"80","state":["A","B"]}"#).unwrap();
        assert_eq!((t.n, t.flag, t.state.len()), (Some(80), false, 2));
        assert!(serde_json::from_str::<T>(r#"{"n":"x"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"n":-1}"#).is_err());
    }

    #[test]
    fn stream_of_arrays() {
        let mut seen = Vec::new();
        arrays::<u32, _>("[1,2]\n[3]", |i, v| {
            seen.push((i, v));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(0, vec![1, 2]), (1, vec![3])]);
        assert!(arrays::<u32, _>("  ", |_, _| Ok(())).is_err());
        assert!(arrays::<u32, _>("[1] x", |_, _| Ok(())).is_err());
    }
}
