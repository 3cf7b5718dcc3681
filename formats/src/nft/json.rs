//! A JSON tree borrowed from the listing, for `nft -j list ruleset`.
//!
//! A kube-proxy node in nftables mode lists ~170,000 items; as
//! `serde_json::Value` each string became an allocation and each
//! single-key object a `BTreeMap` node, and building and freeing those
//! trees was most of the parse time. Here strings borrow from the text
//! (owned only when they hold escapes) and objects are small vectors. The
//! accessors mirror `serde_json::Value`'s, and objects keep `Value`'s key
//! order (sorted, the last of duplicate keys wins), so the first key of an
//! object and the JSON a rule kept verbatim prints are what they were.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Number;

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    /// Sorted by key, keys unique.
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

static NULL: Json<'static> = Json::Null;

impl<'a> Json<'a> {
    /// The value of `key` in an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        let entries = self.as_object()?;
        let at = entries
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()?;
        Some(&entries[at].1)
    }

    /// Item `i` of an array.
    pub(crate) fn at(&self, i: usize) -> Option<&Json<'a>> {
        self.as_array()?.get(i)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Num(n) => n.as_u64(),
            _ => None,
        }
    }

    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Num(n) => n.as_i64(),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Obj(o) => Some(o),
            _ => None,
        }
    }

    /// The first (by key order) entry of an object: the kind and body of
    /// nft's single-key statement and expression objects.
    pub(crate) fn first_entry(&self) -> Option<(&str, &Json<'a>)> {
        let (k, v) = self.as_object()?.first()?;
        Some((k, v))
    }
}

/// `value["key"]`: `null` when absent, as `serde_json::Value` does.
impl<'a> std::ops::Index<&str> for Json<'a> {
    type Output = Json<'a>;

    fn index(&self, key: &str) -> &Json<'a> {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[i]`: `null` when absent.
impl<'a> std::ops::Index<usize> for Json<'a> {
    type Output = Json<'a>;

    fn index(&self, i: usize) -> &Json<'a> {
        self.at(i).unwrap_or(&NULL)
    }
}

/// Compact JSON, as `serde_json::Value` prints it.
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Num(n) => n.serialize(s),
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                a.iter().try_for_each(|v| seq.serialize_element(v))?;
                seq.end()
            }
            Json::Obj(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                o.iter()
                    .try_for_each(|(k, v)| map.serialize_entry(k.as_ref(), v))?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Seed(&mut Scratch::default()).deserialize(d)
    }
}

/// Items of the arrays and objects being read, innermost last: each
/// container is then allocated once, at its exact size.
#[derive(Default)]
struct Scratch<'de> {
    items: Vec<Json<'de>>,
    entries: Vec<(Cow<'de, str>, Json<'de>)>,
}

struct Seed<'s, 'de>(&'s mut Scratch<'de>);

impl<'de> DeserializeSeed<'de> for Seed<'_, 'de> {
    type Value = Json<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, 'de> {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Num(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Num(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Num))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s.to_string())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mark = self.0.items.len();
        while let Some(item) = seq.next_element_seed(Seed(self.0))? {
            self.0.items.push(item);
        }
        Ok(Json::Arr(self.0.items.drain(mark..).collect()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mark = self.0.entries.len();
        while let Some(key) = map.next_key_seed(Key)? {
            let value = map.next_value_seed(Seed(self.0))?;
            self.0.entries.push((key, value));
        }
        Ok(Json::Obj(sorted(self.0.entries.drain(mark..).collect())))
    }
}

/// `Value`'s key order: sorted, and a repeated key keeps its last value.
fn sorted<'a>(mut entries: Vec<(Cow<'a, str>, Json<'a>)>) -> Vec<(Cow<'a, str>, Json<'a>)> {
    if entries.len() > 1 {
        // Reversed, the stable sort puts the last of equal keys first.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| later.0 == kept.0);
    }
    entries
}

/// An object key, borrowed unless it holds escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_string()))
    }
}
