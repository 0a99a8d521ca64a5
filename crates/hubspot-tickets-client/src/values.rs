//! [`PropertyValues`]: the property values HubSpot echoes on each upserted ticket.
//!
//! The spec describes them as a map of name to nullable string (`TicketPropertyValues`).
//! The generator is configured (in `xtask`) to use this type for that schema instead of
//! a `BTreeMap<String, Option<String>>`: every answer carries about a dozen such values
//! per ticket, and one small allocation per name and per value made decoding them the
//! largest single cost of a bulk upsert. Here all names and values of one ticket share
//! one string buffer with a small index, and the type keeps the map's meaning: names are
//! unique (the last duplicate wins, as with a map), equality ignores order, and `null`
//! values are kept as `None`. Iteration follows the order HubSpot sent.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

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
    /// Every name and value, one after the other (duplicates' text included).
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
        self.find(name).map(|e| self.value_of(e))
    }

    /// The value of `name` as text; `None` when absent or `null`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// Whether `name` is present (with a value or `null`).
    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.live().count()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names and values, in the order HubSpot sent them (a repeated name once, with
    /// its last value, at the place of its last occurrence).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.live().map(|e| (self.name_of(e), self.value_of(e)))
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

    /// Sets `name` to `value`: in place of an earlier value, else at the end.
    pub fn insert(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(|v| push(&mut self.text, v));
        let at = self.entries.iter().rposition(|e| self.name_of(e) == name);
        match at.and_then(|i| self.entries.get_mut(i)) {
            Some(slot) => slot.value = value,
            None => {
                let name = push(&mut self.text, name);
                self.entries.push(Entry { name, value });
            }
        }
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

    /// Entries not overridden by a later one of the same name. Repeats are resolved
    /// here rather than while decoding: decoding is the hot path, and a repeated name
    /// is something HubSpot does not send.
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
        let mut out = Self::new();
        for (k, v) in iter {
            out.entries.push(Entry {
                name: push(&mut out.text, k.as_ref()),
                value: v.map(|v| push(&mut out.text, v.as_ref())),
            });
        }
        out
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
        d.deserialize_map(ValuesVisitor)
    }
}

struct ValuesVisitor;

impl<'de> Visitor<'de> for ValuesVisitor {
    type Value = PropertyValues;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of property names to strings or null")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PropertyValues, A::Error> {
        let mut out = PropertyValues {
            // A dozen names and values of up to ~100 bytes fit without growing.
            text: String::with_capacity(512),
            entries: Vec::with_capacity(map.size_hint().unwrap_or(16).min(64)),
        };
        while let Some(name) = map.next_key_seed(AppendStr(&mut out.text))? {
            let value = map.next_value_seed(AppendOptStr(&mut out.text))?;
            out.entries.push(Entry { name, value });
        }
        Ok(out)
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

/// A string or `null`, as [`AppendStr`].
struct AppendOptStr<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for AppendOptStr<'_> {
    type Value = Option<Range<usize>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Range<usize>>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for AppendOptStr<'_> {
    type Value = Option<Range<usize>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        AppendStr(self.0).deserialize(d).map(Some)
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
        let again: BTreeMap<String, Option<String>> =
            serde_json::from_str(&serde_json::to_string(&values).unwrap()).unwrap();
        assert_eq!(again, map);
        let names: Vec<&str> = values.names().collect();
        assert_eq!(names, ["b", "c", "a", "e"]);
        assert_eq!(PropertyValues::from(map), values);
    }

    #[test]
    fn refuses_what_the_map_refuses() {
        for bad in [
            r#"{"a":1}"#,
            r#"{"a":["x"]}"#,
            r#"["a"]"#,
            r#"{"a":"x""#,
            r#"{"a":{}}"#,
        ] {
            assert!(
                serde_json::from_str::<PropertyValues>(bad).is_err(),
                "{bad}"
            );
            assert!(
                serde_json::from_str::<BTreeMap<String, Option<String>>>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn insert_replaces_and_keeps_order() {
        let mut v = PropertyValues::new();
        v.insert("z", Some("1"));
        v.insert("a", None);
        v.insert("z", Some("2"));
        assert_eq!(format!("{v:?}"), r#"{"z": Some("2"), "a": None}"#);
        let reordered: PropertyValues = [("a", None), ("z", Some("2"))].into_iter().collect();
        assert_eq!(v, reordered);
        let empty: PropertyValues = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty, PropertyValues::default());
    }

    proptest::proptest! {
        /// Any JSON object of names to strings or nulls, repeats included, decodes to
        /// the same map as `BTreeMap` gives, and survives a round trip.
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
            proptest::prop_assert_eq!(PropertyValues::from(map), values);
        }
    }
}
