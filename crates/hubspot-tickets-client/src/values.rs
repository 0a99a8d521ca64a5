//! [`PropertyValues`]: the property values HubSpot echoes on each upserted ticket.
//!
//! The spec describes them as a map of name to nullable string (`TicketPropertyValues`).
//! The generator is configured (in `xtask`) to use this type for that schema instead of
//! a `BTreeMap<String, Option<String>>`. Every answer echoes about a dozen values per
//! ticket, and reading each name and value into its own string was the largest single
//! cost of a bulk upsert, while the facade reads none of them when trace ids match
//! results to inputs (the usual case). So this type keeps the object's JSON text as
//! received, and reads it into names and values the first time one is asked for.
//!
//! It keeps the map's meaning: the last of a repeated name wins, equality ignores order,
//! and `null` values are `None`. Being lazy, it is also lenient: numbers and booleans
//! read as their JSON text, arrays and objects are left out, and anything other than an
//! object reads as empty. It decodes from JSON only (`serde_json`, including
//! `serde_json::Value`), which is what the API speaks.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Property values of one ticket, by internal property name; a value is `None` where
/// HubSpot sent `null`.
///
/// ```
/// use hubspot_tickets_client::PropertyValues;
///
/// let values: PropertyValues =
///     serde_json::from_str(r#"{"subject":"Printer jams","hs_object_id":"7","content":null}"#)?;
/// assert_eq!(values.value("subject"), Some("Printer jams"));
/// assert_eq!(values.get("content"), Some(None)); // present, but null
/// assert_eq!(values.get("missing"), None);
/// let names: Vec<&str> = values.names().collect();
/// assert_eq!(names, ["subject", "hs_object_id", "content"]); // as sent
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct PropertyValues {
    /// The object as HubSpot sent it; `None` for an empty set built here.
    raw: Option<Box<RawValue>>,
    /// `raw` read into names and values, on first use.
    read: OnceLock<Read>,
}

/// All names and values of one object in one buffer.
#[derive(Clone, Debug, Default)]
struct Read {
    text: String,
    /// In the order received, repeats included. Lookups scan it from the end: HubSpot
    /// echoes about a dozen values, where a scan beats hashing or sorting.
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    name: Range<usize>,
    value: Option<Range<usize>>,
}

impl PropertyValues {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name`: `None` when absent, `Some(None)` when HubSpot sent `null`.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        let read = self.read();
        read.find(name).map(|e| read.value_of(e))
    }

    /// The value of `name` as text; `None` when absent or `null`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// Whether `name` is present (with a value or `null`).
    pub fn contains_key(&self, name: &str) -> bool {
        self.read().find(name).is_some()
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.read().live().count()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.read().entries.is_empty()
    }

    /// Names and values, in the order HubSpot sent them (a repeated name once, with
    /// its last value, at the place of its last occurrence).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        let read = self.read();
        read.live().map(|e| (read.name_of(e), read.value_of(e)))
    }

    /// Names, in the order of [`iter`](Self::iter).
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(name, _)| name)
    }

    /// A copy as an ordinary map.
    pub fn to_map(&self) -> BTreeMap<String, Option<String>> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.map(str::to_owned)))
            .collect()
    }

    /// The JSON text HubSpot sent (`{}` when built here from nothing).
    pub fn raw_json(&self) -> &str {
        self.raw.as_deref().map_or("{}", RawValue::get)
    }

    fn read(&self) -> &Read {
        self.read.get_or_init(|| Read::from_json(self.raw_json()))
    }
}

impl Read {
    /// Anything but a JSON object reads as empty (see the module docs).
    fn from_json(json: &str) -> Self {
        let mut de = serde_json::Deserializer::from_str(json);
        ReadSeed.deserialize(&mut de).unwrap_or_default()
    }

    fn name_of(&self, e: &Entry) -> &str {
        self.text.get(e.name.clone()).unwrap_or_default()
    }

    fn value_of(&self, e: &Entry) -> Option<&str> {
        e.value.clone().and_then(|r| self.text.get(r))
    }

    /// The last entry named `name` (JSON allows a name twice; a map keeps the last).
    fn find(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| self.name_of(e) == name)
    }

    /// Entries not overridden by a later one of the same name.
    fn live(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                let name = self.name_of(e);
                !self
                    .entries
                    .get(i + 1..)
                    .unwrap_or_default()
                    .iter()
                    .any(|later| self.name_of(later) == name)
            })
            .map(|(_, e)| e)
    }
}

fn push(text: &mut String, s: &str) -> Range<usize> {
    let start = text.len();
    text.push_str(s);
    start..text.len()
}

impl fmt::Debug for PropertyValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Map equality: the same names with the same values, in any order.
impl PartialEq for PropertyValues {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for PropertyValues {}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, Option<V>)> for PropertyValues {
    fn from_iter<I: IntoIterator<Item = (K, Option<V>)>>(iter: I) -> Self {
        let mut read = Read::default();
        for (k, v) in iter {
            read.entries.push(Entry {
                name: push(&mut read.text, k.as_ref()),
                value: v.map(|v| push(&mut read.text, v.as_ref())),
            });
        }
        let mut out = Self::new();
        // The JSON text is written from what was read, so both always agree.
        out.raw = serde_json::value::to_raw_value(&ReadAsMap(&read)).ok();
        out.read = OnceLock::from(read);
        out
    }
}

/// A [`Read`] serialized as a JSON object, repeats included, in order.
struct ReadAsMap<'a>(&'a Read);

impl Serialize for ReadAsMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let read = self.0;
        let mut map = s.serialize_map(Some(read.entries.len()))?;
        for e in &read.entries {
            map.serialize_entry(read.name_of(e), &read.value_of(e))?;
        }
        map.end()
    }
}

impl From<BTreeMap<String, Option<String>>> for PropertyValues {
    fn from(map: BTreeMap<String, Option<String>>) -> Self {
        map.into_iter().collect()
    }
}

impl From<PropertyValues> for BTreeMap<String, Option<String>> {
    fn from(values: PropertyValues) -> Self {
        values.to_map()
    }
}

/// As a map of the values read (so any serializer works, not only JSON).
impl Serialize for PropertyValues {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, &v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PropertyValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // serde_json only checks the text is well-formed JSON here, much faster than
        // reading every name and value.
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(Self {
            raw: Some(raw),
            read: OnceLock::new(),
        })
    }
}

/// Reads a JSON object into a [`Read`]; anything else into an empty one.
struct ReadSeed;

impl<'de> DeserializeSeed<'de> for ReadSeed {
    type Value = Read;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Read, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ReadSeed {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of property names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        let mut read = Read {
            // A dozen names and values of up to ~100 bytes fit without growing.
            text: String::with_capacity(512),
            entries: Vec::with_capacity(16),
        };
        while let Some(name) = map.next_key_seed(AppendStr(&mut read.text))? {
            match map.next_value_seed(AppendValue(&mut read.text))? {
                Value::Text(value) => read.entries.push(Entry {
                    name,
                    value: Some(value),
                }),
                Value::Null => read.entries.push(Entry { name, value: None }),
                Value::Skipped => {}
            }
        }
        Ok(read)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Read, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Read::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Read, E> {
        Ok(Read::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Read, E> {
        Ok(Read::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Read, E> {
        Ok(Read::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Read, E> {
        Ok(Read::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Read, E> {
        Ok(Read::default())
    }
    fn visit_unit<E>(self) -> Result<Read, E> {
        Ok(Read::default())
    }
}

/// Decodes a string straight onto the end of the shared buffer.
struct AppendStr<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for AppendStr<'_> {
    type Value = Range<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Range<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for AppendStr<'_> {
    type Value = Range<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Range<usize>, E> {
        Ok(push(self.0, v))
    }
}

enum Value {
    Text(Range<usize>),
    Null,
    Skipped,
}

/// A property value: text (numbers and booleans as their JSON text), `null`, or an
/// array or object, which is skipped.
struct AppendValue<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for AppendValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AppendValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(push(self.0, v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Text(push(self.0, if v { "true" } else { "false" })))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Text(push(self.0, &v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Text(push(self.0, &v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Text(push(self.0, &v.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Skipped)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Skipped)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decodes_like_a_map() {
        let json = r#"{"b":"2","a":"1","c":null,"a":"again","e":"tab\tquote\"\u00e9"}"#;
        let values: PropertyValues = serde_json::from_str(json).unwrap();
        let map: BTreeMap<String, Option<String>> = serde_json::from_str(json).unwrap();
        assert_eq!(values.to_map(), map);
        assert_eq!(values.len(), 4);
        assert_eq!(values.value("a"), Some("again"));
        assert_eq!(values.get("c"), Some(None));
        assert_eq!(values.value("e"), Some("tab\tquote\"é"));
        assert!(!values.contains_key("d"));
        assert_eq!(values.raw_json(), json);
        let again: BTreeMap<String, Option<String>> =
            serde_json::from_str(&serde_json::to_string(&values).unwrap()).unwrap();
        assert_eq!(again, map);
        let names: Vec<&str> = values.names().collect();
        assert_eq!(names, ["b", "c", "a", "e"]);
        assert_eq!(PropertyValues::from(map), values);
        // Through serde_json::Value too.
        let via_value: PropertyValues =
            serde_json::from_value(serde_json::from_str(json).unwrap()).unwrap();
        assert_eq!(via_value, values);
    }

    #[test]
    fn lenient_where_the_map_refuses() {
        let odd: PropertyValues =
            serde_json::from_str(r#"{"n":1,"f":1.5,"t":true,"l":["x"],"o":{"k":"v"},"s":"x"}"#)
                .unwrap();
        assert_eq!(
            odd.to_map(),
            [("n", "1"), ("f", "1.5"), ("t", "true"), ("s", "x")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
                .collect()
        );
        for other in [r#"["a"]"#, "5", r#""text""#, "null", "true"] {
            let v: PropertyValues = serde_json::from_str(other).unwrap();
            assert!(v.is_empty(), "{other}");
        }
        for broken in [r#"{"a":"x""#, r#"{"a":}"#, "{"] {
            assert!(
                serde_json::from_str::<PropertyValues>(broken).is_err(),
                "{broken}"
            );
        }
    }

    #[test]
    fn built_here() {
        let v: PropertyValues = [("z", Some("1")), ("a", None), ("z", Some("2"))]
            .into_iter()
            .collect();
        assert_eq!(format!("{v:?}"), r#"{"a": None, "z": Some("2")}"#);
        assert_eq!(v.raw_json(), r#"{"z":"1","a":null,"z":"2"}"#);
        let reordered: PropertyValues = [("a", None), ("z", Some("2"))].into_iter().collect();
        assert_eq!(v, reordered);
        let empty = PropertyValues::default();
        assert!(empty.is_empty());
        assert_eq!(empty.raw_json(), "{}");
        assert_eq!(serde_json::from_str::<PropertyValues>("{}").unwrap(), empty);
    }

    proptest::proptest! {
        /// Any JSON object of names to strings or nulls, repeats included, reads as the
        /// same map as `BTreeMap` gives, and survives a round trip.
        #[test]
        fn same_as_a_map(
            pairs in proptest::collection::vec(
                ("[a-c]{0,2}|\\PC{0,6}", proptest::option::of("\\PC{0,8}")),
                0..24,
            )
        ) {
            let mut json = String::from("{");
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(&serde_json::to_string(k).unwrap());
                json.push(':');
                json.push_str(&serde_json::to_string(v).unwrap());
            }
            json.push('}');
            let values: PropertyValues = serde_json::from_str(&json).unwrap();
            let map: BTreeMap<String, Option<String>> = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(values.to_map(), map.clone());
            proptest::prop_assert_eq!(values.len(), map.len());
            for (k, v) in &map {
                proptest::prop_assert_eq!(values.get(k), Some(v.as_deref()));
            }
            let again: PropertyValues =
                serde_json::from_str(&serde_json::to_string(&values).unwrap()).unwrap();
            proptest::prop_assert_eq!(&again, &values);
            let built: PropertyValues = pairs.iter().map(|(k, v)| (k, v.as_ref())).collect();
            proptest::prop_assert_eq!(&built, &values);
            proptest::prop_assert_eq!(PropertyValues::from(map), values);
        }
    }
}
