//! Reading the `nftables` array of `nft -j list ruleset` fast enough for a
//! 10,000-Service node in kube-proxy's nftables mode (~47 MB, ~170,000
//! items): the array is first cut into its items without building them
//! (borrowed raw JSON), then each rule is parsed and converted on every
//! core, and the converted items join their tables in document order.
//! As one `serde_json::Value` tree the listing took 2.6 s and 2 GB; as a
//! `Value` per item, 1.3–1.6 s of CPU; as a borrowed `Json` per item with
//! each rule's text written into one `String`, about half of that.

use rayon::prelude::*;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use std::borrow::Cow;

use super::Json;

use super::{has_xt, is_iptables_table, rule, shape_error, str_cow, table_key, Doc, Res};
use crate::ParseError;
use cnictl_model::netfilter::{Backend, Family, Rule, Table};

/// Items converted together before they join their tables.
const CHUNK: usize = 4096;

/// Parses `nft -j list ruleset` output into its native nftables tables.
/// An error inside an item names it (`nftables[i]`) at the position where
/// the item ends.
pub fn parse_nft_ruleset(text: &str) -> Result<Vec<Table>, ParseError> {
    let items = raw_items(text)?;
    let mut reader = Reader::default();
    // In chunks: converted items wait for their turn only within a chunk.
    for (c, chunk) in items.chunks(CHUNK).enumerate() {
        let prepared: Vec<Res<Prepared>> = chunk.par_iter().map(|raw| prepare(raw.get())).collect();
        for (i, (item, raw)) in prepared.into_iter().zip(chunk).enumerate() {
            item.and_then(|p| reader.add(p))
                .map_err(|e| item_error(text, raw.get(), c * CHUNK + i, e))?;
        }
    }
    Ok(reader.finish())
}

/// The items of the top-level `{"nftables": [...]}`, unparsed.
fn raw_items(text: &str) -> Result<Vec<&RawValue>, ParseError> {
    let mut items = None;
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(TopLevel(&mut items))?;
    de.end()?;
    items.ok_or_else(|| {
        shape_error(
            "a top-level object {\"nftables\": [...]}",
            &Value::String("an object without \"nftables\"".into()),
        )
    })
}

/// An item, parsed: rules converted, the rest left for `Doc::add_item`
/// (tables, chains and sets depend on what came before them).
enum Prepared<'a> {
    Rule {
        place: Place<'a>,
        rule: Rule,
        /// Written by iptables-nft (`xt` expressions).
        xt: Option<(Family, String)>,
    },
    Other(Json<'a>),
}

fn prepare(raw: &str) -> Res<Prepared<'_>> {
    let item: Json = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let Some(body) = item
        .get("rule")
        .filter(|_| item.as_object().is_some_and(|o| o.len() == 1))
    else {
        return Ok(Prepared::Other(item));
    };
    let (family, table, chain) = rule_place_cow(body)?;
    Ok(Prepared::Rule {
        place: (family, table, chain),
        rule: rule(body)?,
        xt: has_xt(body).then(|| table_key(body)).flatten(),
    })
}

/// A rule's (family, table, chain), borrowed from the text where they
/// have no escapes.
type Place<'a> = (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);

fn rule_place_cow<'a>(body: &Json<'a>) -> Res<Place<'a>> {
    Ok((
        str_cow(body, "family")?,
        str_cow(body, "table")?,
        str_cow(body, "chain")?,
    ))
}

/// What the items read so far made.
#[derive(Default)]
struct Reader {
    doc: Doc,
    /// Tables with iptables-nft's `xt` expressions.
    compat: Vec<(Family, String)>,
}

impl Reader {
    fn add(&mut self, item: Prepared<'_>) -> Res<()> {
        match item {
            Prepared::Other(v) => {
                if v.get("rule").is_some_and(has_xt) {
                    self.compat.extend(table_key(&v["rule"]));
                }
                self.doc.add_item(&v)
            }
            Prepared::Rule { place, rule, xt } => {
                self.compat.extend(xt);
                let (family, table, chain) = place;
                self.doc.add_rule(&family, &table, &chain, rule)
            }
        }
    }

    fn finish(self) -> Vec<Table> {
        let mut tables = self.doc.tables;
        for t in &mut tables {
            let key = (t.family, t.name.clone());
            if self.compat.contains(&key) || is_iptables_table(t) {
                t.backend = Backend::IptablesNft;
            }
        }
        tables
    }
}

/// An error in item `i`, at the line and column where the item ends.
fn item_error(text: &str, raw: &str, i: usize, what: String) -> ParseError {
    let end = (raw.as_ptr() as usize - text.as_ptr() as usize + raw.len()).min(text.len());
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = end - before.rfind('\n').map_or(0, |n| n + 1);
    ParseError::Json {
        line,
        column: column.max(1),
        message: format!("nftables[{i}]: {what}"),
    }
}

/// `{"nftables": [...]}`: other top-level keys are skipped.
struct TopLevel<'r, 'de>(&'r mut Option<Vec<&'de RawValue>>);

impl<'de> Visitor<'de> for TopLevel<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a top-level object {\"nftables\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "nftables" {
                let items = self.0.get_or_insert_with(Vec::new);
                map.next_value_seed(Items(items))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `nftables` array, item by item, unparsed.
struct Items<'r, 'de>(&'r mut Vec<&'de RawValue>);

impl<'de> DeserializeSeed<'de> for Items<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the \"nftables\" array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            self.0.push(item);
        }
        Ok(())
    }
}
