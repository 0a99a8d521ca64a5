//! The value rules: how one Rust or JSON value becomes a HubSpot property string, or why it cannot.
//!
//! HubSpot stores every property as a string. The three ways in — `RecordInput::property`
//! (`IntoPropertyValue`), `to_properties` (any `Serialize` value) and
//! `cli_support::from_json_record` (one JSON object) — all take their rules from here, so
//! a value gets the same answer whichever way it comes. The rules are stated once, for
//! users, in the table of `to_properties`' docs (serialize.rs): keep it in step, and add a
//! row to the table test below for any rule added.

use std::fmt::{self, Display};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// HubSpot stores at most this many characters in a property value.
pub const MAX_VALUE_CHARS: usize = 65_536;

/// HubSpot's internal property names are at most this many characters long.
pub const MAX_PROPERTY_NAME_CHARS: usize = 100;

/// Below 2^53 an `f64` holds every integer; at 2^53 it may already be a rounded 2^53 + 1.
const F64_EXACT_BELOW: f64 = 9_007_199_254_740_992.0;
/// The same bound for `f32`: 2^24.
const F32_EXACT_BELOW: f32 = 16_777_216.0;

/// Why a value cannot be sent. Its text is the reason, without the property's name
/// (each caller names the property its own way).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Refusal {
    NotFinite(f64),
    /// A float at or beyond the bound where it stops holding every integer.
    InexactInteger {
        value: f64,
        bound: &'static str,
    },
    SeparatorInItem,
    NestedList,
    /// An object-like value: "a nested object", "a nested map", "bytes"...
    Nested(&'static str),
    TooLong,
}

impl Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotFinite(v) => write!(f, "{v} cannot be sent (numbers must be finite)"),
            Refusal::InexactInteger { value, bound } => write!(
                f,
                "integer too large to keep exactly ({value:e}: floating-point numbers hold \
                 every integer only below {bound}): write it as a string"
            ),
            Refusal::SeparatorInItem => f.write_str("a list element contains ';', the separator"),
            Refusal::NestedList => f.write_str(
                "a nested list cannot be sent as a HubSpot property (values are strings)",
            ),
            Refusal::Nested(what) => write!(
                f,
                "{what} cannot be sent as a HubSpot property (values are strings)"
            ),
            Refusal::TooLong => write!(
                f,
                "the value is longer than HubSpot's {MAX_VALUE_CHARS} characters"
            ),
        }
    }
}

impl From<Refusal> for String {
    fn from(r: Refusal) -> String {
        r.to_string()
    }
}

/// An `f64` as HubSpot's decimal text.
pub(crate) fn f64_value(v: f64) -> Result<String, Refusal> {
    if !v.is_finite() {
        return Err(Refusal::NotFinite(v));
    }
    if v.abs() >= F64_EXACT_BELOW {
        return Err(Refusal::InexactInteger {
            value: v,
            bound: "2^53",
        });
    }
    if v == 0.0 {
        // Also -0.0, whose `Display` is "-0".
        return Ok("0".to_owned());
    }
    // `Display` for floats never uses exponent notation: 1e-7 is "0.0000001".
    Ok(v.to_string())
}

/// An `f32` as HubSpot's decimal text: its own shortest digits (`0.1_f32` is `0.1`, not
/// the `0.10000000149011612` of the same value as an `f64`).
pub(crate) fn f32_value(v: f32) -> Result<String, Refusal> {
    if !v.is_finite() {
        return Err(Refusal::NotFinite(f64::from(v)));
    }
    if v.abs() >= F32_EXACT_BELOW {
        return Err(Refusal::InexactInteger {
            value: f64::from(v),
            bound: "2^24 for an f32",
        });
    }
    if v == 0.0 {
        return Ok("0".to_owned());
    }
    Ok(v.to_string())
}

pub(crate) fn bool_value(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

/// The length rule, on a finished value.
pub(crate) fn check_len(value: &str) -> Result<(), Refusal> {
    // A character takes at least one byte: characters are counted only past the limit
    // in bytes, which no ordinary value reaches.
    if value.len() > MAX_VALUE_CHARS && value.chars().count() > MAX_VALUE_CHARS {
        Err(Refusal::TooLong)
    } else {
        Ok(())
    }
}

/// The rule on one list item's text: HubSpot splits multiple values on `;`.
pub(crate) fn check_item(item: &str) -> Result<(), Refusal> {
    if item.contains(';') {
        Err(Refusal::SeparatorInItem)
    } else {
        Ok(())
    }
}

/// A multiple-checkbox value being joined with `;`.
#[derive(Default)]
pub(crate) struct Joined {
    out: String,
    any: bool,
}

impl Joined {
    /// Adds one item (refused when it holds `;`).
    pub(crate) fn push(&mut self, item: &str) -> Result<(), Refusal> {
        check_item(item)?;
        if self.any {
            self.out.push(';');
        }
        self.out.push_str(item);
        self.any = true;
        Ok(())
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Why an id, a property name or a value read from a file cannot be sent (the
/// error of [`check_id`], [`check_property_name`] and [`check_property_value`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The id is empty or blank.
    #[error("empty id")]
    EmptyId,
    /// The property name is empty.
    #[error("empty property name")]
    EmptyName,
    /// The property name is longer than [`MAX_PROPERTY_NAME_CHARS`] (its first 40
    /// characters).
    #[error("property name '{}...' is longer than {MAX_PROPERTY_NAME_CHARS} characters", .0.escape_debug())]
    NameTooLong(String),
    /// Not a HubSpot internal name (its first 60 characters), with the lowercase name
    /// when that one is valid.
    #[error(
        "invalid property name '{}': HubSpot internal names start with a lowercase letter \
         and hold only lowercase letters, digits and '_'{}",
        .name.escape_debug(),
        .suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default()
    )]
    InvalidName {
        /// The name (its first 60 characters).
        name: String,
        /// The lowercase name, when valid.
        suggestion: Option<String>,
    },
    /// The value is longer than [`MAX_VALUE_CHARS`] characters.
    #[error("the value is longer than HubSpot's {MAX_VALUE_CHARS} characters")]
    ValueTooLong,
}

/// Checks a value that is already a string (a CSV cell): today, only its length.
///
/// # Errors
/// [`FieldError::ValueTooLong`].
pub fn check_property_value(value: &str) -> Result<(), FieldError> {
    check_len(value).map_err(|_| FieldError::ValueTooLong)
}

/// Checks an id read from a record: it must not be empty or blank.
///
/// Ids longer than [`MAX_ID_LEN`](crate::records::MAX_ID_LEN) characters are refused when sent
/// (reported [`Failed`](crate::Outcome::Failed)), as for any [`RecordInput`](crate::RecordInput).
///
/// # Errors
/// [`FieldError::EmptyId`].
pub fn check_id(id: &str) -> Result<(), FieldError> {
    if id.trim().is_empty() {
        Err(FieldError::EmptyId)
    } else {
        Ok(())
    }
}

/// The bytes allowed in an internal property name: `a`-`z`, `0`-`9`, `_`.
static NAME_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_';
        b += 1;
    }
    t
};

/// Checks a HubSpot internal property name: a lowercase letter first, then lowercase
/// letters, digits and `_`, at most [`MAX_PROPERTY_NAME_CHARS`] characters.
///
/// Applied to every property of [`from_json_record`](crate::cli_support::from_json_record);
/// not by [`RecordInput::property`](crate::RecordInput::property), which leaves names to HubSpot.
///
/// ```
/// use hubspot_tickets::cli_support::{FieldError, check_property_name};
///
/// assert!(check_property_name("hs_ticket_priority").is_ok());
/// let why = check_property_name("Subject").unwrap_err();
/// assert!(matches!(&why, FieldError::InvalidName { suggestion: Some(s), .. } if s == "subject"));
/// assert!(why.to_string().contains("did you mean 'subject'?"), "{why}");
/// ```
///
/// # Errors
/// What is wrong, with the lowercase name as a suggestion when that one is valid.
pub fn check_property_name(name: &str) -> Result<(), FieldError> {
    let bytes = name.as_bytes();
    // One table lookup a byte: every name of every record passes here.
    let valid = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes.iter().all(|&b| NAME_BYTES[usize::from(b)]);
    if valid && bytes.len() <= MAX_PROPERTY_NAME_CHARS {
        return Ok(());
    }
    if name.is_empty() {
        return Err(FieldError::EmptyName);
    }
    if name.chars().count() > MAX_PROPERTY_NAME_CHARS {
        return Err(FieldError::NameTooLong(truncate(name, 40).to_owned()));
    }
    let lower = name.trim().to_ascii_lowercase();
    Err(FieldError::InvalidName {
        name: truncate(name, 60).to_owned(),
        suggestion: (lower != name && check_property_name(&lower).is_ok()).then_some(lower),
    })
}

/// `s` cut to its first `max_chars` characters: the one cut for every text the facade
/// shortens (ids and names in messages, HubSpot's words in errors).
pub(crate) fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ---------------------------------------------------------------------------------------
// JSON values

/// One JSON value as read from a record, kept as what it was until it is known to be a
/// property value, the id, or one of the nested form's keys (each has its own rule).
#[derive(Debug, PartialEq)]
pub(crate) enum JsonValue {
    Str(String),
    /// An integer that fitted 64 bits, in decimal.
    Int(String),
    Float(f64),
    Bool(bool),
    Null,
    /// A list, already joined, or the first of its items' refusals.
    List(Result<String, Refusal>),
    /// An object; its entries are read only where [`At`] says.
    Object(Vec<(String, JsonValue)>),
}

impl JsonValue {
    /// The property value it stands for.
    pub(crate) fn into_property_value(self) -> Result<String, Refusal> {
        let value = match self {
            JsonValue::Str(s) | JsonValue::Int(s) => s,
            JsonValue::Float(v) => f64_value(v)?,
            JsonValue::Bool(b) => bool_value(b).to_owned(),
            JsonValue::Null => String::new(),
            JsonValue::List(joined) => joined?,
            JsonValue::Object(_) => return Err(Refusal::Nested("a nested object")),
        };
        check_len(&value)?;
        Ok(value)
    }

    /// The id it stands for: a string, or an integer. The reason completes "the id ... ".
    pub(crate) fn into_id(self) -> Result<String, String> {
        match self {
            JsonValue::Str(s) | JsonValue::Int(s) => Ok(s),
            JsonValue::Float(v) => match f64_value(v) {
                Ok(s) if v.fract() == 0.0 => Ok(s),
                _ => Err(format!(
                    "must be a string or an integer; write {} as a JSON string",
                    short_float(v)
                )),
            },
            other => Err(format!(
                "must be a string or an integer, not {}",
                other.kind()
            )),
        }
    }

    /// "a string", "a list"... for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            JsonValue::Str(_) => "a string",
            JsonValue::Int(_) | JsonValue::Float(_) => "a number",
            JsonValue::Bool(_) => "a boolean",
            JsonValue::Null => "null",
            JsonValue::List(_) => "a list",
            JsonValue::Object(_) => "an object",
        }
    }
}

/// A float as a person would write it: `1.5`, `1.5e300`.
fn short_float(v: f64) -> String {
    let plain = v.to_string();
    if plain.len() <= 20 {
        plain
    } else {
        format!("{v:e}")
    }
}

/// Where a JSON value stands in a record: it decides how much of an object or a list
/// is read.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum At {
    /// The record itself: an object's entries are read, `properties` as [`At::Properties`].
    Record,
    /// The nested form's `properties`: an object's entries are read as values.
    Properties,
    /// A property value (or a key of the nested form): an object is refused whatever it
    /// holds, and skipped; a list is joined.
    Value,
    /// A list item: a nested list or object is refused, and skipped.
    Item,
}

/// Reads one JSON value straight from the parser into a [`JsonValue`]: strings are
/// moved or copied once, lists joined as they are read, no `serde_json::Value` tree.
#[derive(Clone, Copy)]
pub(crate) struct ValueSeed(pub(crate) At);

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = JsonValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JsonValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = JsonValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<JsonValue, E> {
        Ok(JsonValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<JsonValue, E> {
        Ok(JsonValue::Int(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JsonValue, E> {
        Ok(JsonValue::Int(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<JsonValue, E> {
        Ok(JsonValue::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<JsonValue, E> {
        Ok(JsonValue::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<JsonValue, E> {
        Ok(JsonValue::Str(v))
    }
    fn visit_unit<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }
    fn visit_none<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue, A::Error> {
        if self.0 == At::Item {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(JsonValue::List(Err(Refusal::NestedList)));
        }
        // The first item refused is the list's answer; the rest is still read, to keep
        // the parser in step.
        let mut joined = Ok(Joined::default());
        while let Some(item) = seq.next_element_seed(ValueSeed(At::Item))? {
            if let Ok(list) = &mut joined
                && let Err(r) = push_item(list, item)
            {
                joined = Err(r);
            }
        }
        Ok(JsonValue::List(joined.map(Joined::finish)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonValue, A::Error> {
        let mut entries = Vec::new();
        if let At::Record | At::Properties = self.0 {
            entries.reserve(map.size_hint().unwrap_or(8));
            while let Some(key) = map.next_key::<String>()? {
                // Only the nested form's `properties` object is read entry by entry.
                let at = if self.0 == At::Record && key == "properties" {
                    At::Properties
                } else {
                    At::Value
                };
                let value = map.next_value_seed(ValueSeed(at))?;
                entries.push((key, value));
            }
        } else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        }
        Ok(JsonValue::Object(entries))
    }
}

/// One list item by the scalar rules; `null` items are left out, as `None` items are on
/// the Rust side.
fn push_item(list: &mut Joined, item: JsonValue) -> Result<(), Refusal> {
    match item {
        JsonValue::Str(s) | JsonValue::Int(s) => list.push(&s),
        JsonValue::Float(v) => list.push(&f64_value(v)?),
        JsonValue::Bool(b) => list.push(bool_value(b)),
        JsonValue::Null => Ok(()),
        JsonValue::List(_) => Err(Refusal::NestedList),
        JsonValue::Object(_) => Err(Refusal::Nested("a nested object")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::BTreeMap;

    use super::*;
    use crate::RecordInput;
    use crate::records::{NoneAs, to_properties};

    const ID_KEY: &str = "external_ticket_id";
    const ID: &str = "T-1";

    /// Where a case's JSON goes in a flat record `{"external_ticket_id": ..., "v": ...}`.
    enum At {
        /// The value of property `v`.
        Value,
        /// The id.
        Id,
        /// A property's name (the case's text is the name, not JSON).
        Name,
    }

    /// The Rust spelling of a value case: `RecordInput::property` and `to_properties` of
    /// `{"v": value}`.
    type Rust = Box<dyn Fn() -> (RecordInput, Result<BTreeMap<String, String>, crate::Error>)>;

    struct Case {
        rule: &'static str,
        at: At,
        /// The JSON text (or the name); `None` where JSON cannot spell it (NaN, f32).
        json: Option<String>,
        rust: Option<Rust>,
        /// The string sent, or a substring of the reason.
        expect: Result<String, &'static str>,
    }

    macro_rules! rust {
        ($value:expr) => {
            Some(Box::new(move || {
                let v = $value;
                (
                    RecordInput::new(ID).property("v", v.clone()),
                    to_properties(&BTreeMap::from([("v", v)]), NoneAs::Clear),
                )
            }) as Rust)
        };
    }

    fn value(
        rule: &'static str,
        json: Option<String>,
        rust: Option<Rust>,
        expect: Result<&str, &'static str>,
    ) -> Case {
        Case {
            rule,
            at: At::Value,
            json,
            rust,
            expect: expect.map(str::to_owned),
        }
    }

    fn id(rule: &'static str, json: &str, expect: Result<&str, &'static str>) -> Case {
        Case {
            rule,
            at: At::Id,
            json: Some(json.to_owned()),
            rust: None,
            expect: expect.map(str::to_owned),
        }
    }

    fn name(rule: &'static str, name: &str, expect: Result<(), &'static str>) -> Case {
        Case {
            rule,
            at: At::Name,
            json: Some(name.to_owned()),
            rust: None,
            expect: expect.map(|()| "x".to_owned()),
        }
    }

    fn j(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    /// One row per rule.
    #[rustfmt::skip]
    fn table() -> Vec<Case> {
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        let wide = "é".repeat(MAX_VALUE_CHARS);
        let wide_rust = wide.clone();
        let half = "y".repeat(MAX_VALUE_CHARS / 2);
        vec![
            value("a string is sent as it is", j(r#""Printer \"jams\"""#), rust!("Printer \"jams\""), Ok("Printer \"jams\"")),
            value("an integer is sent in decimal", j("-42"), rust!(-42_i64), Ok("-42")),
            value("integers are kept exactly, even beyond 2^53", j("18446744073709551615"), rust!(u64::MAX), Ok("18446744073709551615")),
            value("a float is sent in decimal", j("1.5"), rust!(1.5_f64), Ok("1.5")),
            value("never exponent notation", j("1e-7"), rust!(1e-7_f64), Ok("0.0000001")),
            value("an integer-valued float is an integer", j("1.5e3"), rust!(1500.0_f64), Ok("1500")),
            value("-0 is 0", j("-0.0"), rust!(-0.0_f64), Ok("0")),
            value("a float just below 2^53 is exact", j("9007199254740991e0"), rust!(9_007_199_254_740_991.0_f64), Ok("9007199254740991")),
            value("a float at 2^53 may be rounded: refused", j("9007199254740992e0"), rust!(9_007_199_254_740_992.0_f64), Err("integer too large to keep exactly (9.007199254740992e15")),
            value("a float far beyond 2^53: refused", j("1e300"), rust!(1e300_f64), Err("below 2^53): write it as a string")),
            value("a JSON integer beyond 64 bits is a float: refused", j("12345678901234567890123"), rust!(12_345_678_901_234_567_890_123.0_f64), Err("integer too large to keep exactly (1.2345678901234568e22")),
            value("NaN: refused", None, rust!(f64::NAN), Err("NaN cannot be sent (numbers must be finite)")),
            value("infinity: refused", None, rust!(f64::NEG_INFINITY), Err("-inf cannot be sent (numbers must be finite)")),
            value("an f32 in its own shortest digits", None, rust!(0.1_f32), Ok("0.1")),
            value("an f32 at 2^24: refused", None, rust!(16_777_216.0_f32), Err("below 2^24 for an f32")),
            value("booleans", j("true"), rust!(true), Ok("true")),
            value("null clears", j("null"), rust!(None::<&str>), Ok("")),
            value("a list is joined with ';'", j(r#"["printer", "floor 3"]"#), rust!(vec!["printer", "floor 3"]), Ok("printer;floor 3")),
            value("list items follow the scalar rules", j("[2, 1.5, true, -0.0]"), None, Ok("2;1.5;true;0")),
            value("null items are left out", j(r#"["a", null, "b"]"#), rust!(vec![Some("a"), None, Some("b")]), Ok("a;b")),
            value("an empty list clears", j("[]"), rust!(Vec::<&str>::new()), Ok("")),
            value("a list item holding ';': refused", j(r#"["a", "b;c"]"#), rust!(vec!["a", "b;c"]), Err("a list element contains ';'")),
            value("a nested list: refused", j(r#"["a", []]"#), rust!(vec![vec!["a"], vec![]]), Err("a nested list cannot be sent")),
            value("a list item beyond 2^53: refused", j("[1e300]"), rust!(vec![1e300_f64]), Err("integer too large")),
            value("an object: refused", j(r#"{"city": "Paris"}"#), None, Err("cannot be sent as a HubSpot property")),
            value("an object in a list: refused", j(r#"[{"a": 1}]"#), None, Err("cannot be sent as a HubSpot property")),
            value("over 65,536 characters: refused", Some(format!("\"{long}\"")), rust!(long.clone()), Err("longer than HubSpot's 65536 characters")),
            value("the limit counts characters, not bytes", Some(format!("\"{wide}\"")), rust!(wide_rust.clone()), Ok(wide.as_str())),
            value("the limit applies to the joined list", Some(format!("[\"{half}\", \"{half}\"]")), rust!(vec![half.clone(), half.clone()]), Err("longer than HubSpot's 65536 characters")),
            id("a string id", r#""ZD-1""#, Ok("ZD-1")),
            id("an integer id, exactly", "18446744073709551615", Ok("18446744073709551615")),
            id("an integer-valued float id below 2^53", "1e3", Ok("1000")),
            id("a fractional id: refused", "1.5", Err("the id 'external_ticket_id' must be a string or an integer; write 1.5 as a JSON string")),
            id("a float id beyond 2^53: refused", "1.5e300", Err("must be a string or an integer; write 1.5e300 as a JSON string")),
            id("a list id: refused", r#"["LI-7"]"#, Err("must be a string or an integer, not a list")),
            id("a boolean id: refused", "true", Err("must be a string or an integer, not a boolean")),
            id("a null id: refused", "null", Err("must be a string or an integer, not null")),
            id("an object id: refused", r#"{"a": 1}"#, Err("must be a string or an integer, not an object")),
            id("a blank id: refused", r#"" \t""#, Err("empty id")),
            name("an internal name", "hs_ticket_priority", Ok(())),
            name("100 characters", &"a".repeat(100), Ok(())),
            name("101 characters: refused", &"a".repeat(101), Err("longer than 100 characters")),
            name("uppercase: refused, with a hint", "Subject", Err("(did you mean 'subject'?)")),
            name("a digit first: refused", "1a", Err("invalid property name '1a'")),
            name("non-ASCII: refused as invalid, whatever its length in bytes", &"é".repeat(60), Err("invalid property name")),
            name("empty: refused", "", Err("empty property name")),
        ]
    }

    /// Checks one path's answer against the case.
    fn check(
        case: &Case,
        path: &str,
        got: Result<String, String>,
        named: &str,
        wrong: &mut Vec<String>,
    ) {
        let ok = match (&case.expect, &got) {
            (Ok(want), Ok(got)) => want == got,
            (Err(want), Err(got)) => got.contains(want) && got.contains(named),
            _ => false,
        };
        if !ok {
            let shorten = |s: &str| s.chars().take(200).collect::<String>();
            let got = match &got {
                Ok(s) => format!("Ok({})", shorten(s)),
                Err(e) => format!("Err({})", shorten(e)),
            };
            wrong.push(format!("{} [{path}]: {got}", case.rule));
        }
    }

    /// Every value rule once, through every way in: a JSON record, `to_properties` of
    /// the same JSON value, and the Rust spelling through `RecordInput::property` and
    /// `to_properties`.
    #[test]
    fn every_value_rule_once_through_every_way_in() {
        let mut wrong = Vec::new();
        for case in table() {
            if let Some(json) = &case.json {
                let record = match case.at {
                    At::Value => format!(r#"{{"{ID_KEY}": "{ID}", "v": {json}}}"#),
                    At::Id => format!(r#"{{"{ID_KEY}": {json}, "subject": "x"}}"#),
                    At::Name => format!(r#"{{"{ID_KEY}": "{ID}", "{json}": "x"}}"#),
                };
                let got = crate::cli_support::from_json_record(record.as_bytes(), ID_KEY);
                let (got, named) = match case.at {
                    At::Value => (got.map(|t| t.properties()["v"].clone()), "property 'v': "),
                    At::Id => (got.map(|t| t.id().to_owned()), ""),
                    At::Name => (got.map(|t| t.properties()[json.as_str()].clone()), ""),
                };
                let got = got.map_err(|e| {
                    let id_named = match case.at {
                        At::Id => e.id().is_none(),
                        At::Value | At::Name => e.id() == Some(ID),
                    };
                    if id_named {
                        e.reason().to_owned()
                    } else {
                        format!("wrong id {:?}: {}", e.id(), e.reason())
                    }
                });
                check(&case, "JSON record", got, named, &mut wrong);
                if let At::Name = case.at {
                    let direct = check_property_name(json)
                        .map(|()| "x".to_owned())
                        .map_err(|e| e.to_string());
                    check(&case, "check_property_name", direct, "", &mut wrong);
                }
                // The same JSON value through the serializer, when serde_json reads it.
                if let (At::Value, Ok(v)) =
                    (&case.at, serde_json::from_str::<serde_json::Value>(json))
                {
                    let got = to_properties(&serde_json::json!({ "v": v }), NoneAs::Clear)
                        .map(|p| p["v"].clone())
                        .map_err(|e| e.to_string());
                    check(
                        &case,
                        "to_properties(serde_json::Value)",
                        got,
                        "field `v`: ",
                        &mut wrong,
                    );
                }
            }
            if let Some(rust) = &case.rust {
                let (input, props) = rust();
                let got = input
                    .validate()
                    .map(|()| input.properties()["v"].clone())
                    .map_err(|e| e.to_string());
                check(
                    &case,
                    "RecordInput::property",
                    got,
                    "property `v`: ",
                    &mut wrong,
                );
                let got = props.map(|p| p["v"].clone()).map_err(|e| e.to_string());
                check(
                    &case,
                    "to_properties(Rust value)",
                    got,
                    "field `v`: ",
                    &mut wrong,
                );
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn check_property_value_and_check_id() {
        assert!(check_property_value(&"x".repeat(MAX_VALUE_CHARS)).is_ok());
        let e = check_property_value(&"x".repeat(MAX_VALUE_CHARS + 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the value is longer than HubSpot's 65536 characters"
        );
        assert!(check_id("ZD-1").is_ok());
        assert_eq!(check_id(" \n").unwrap_err(), FieldError::EmptyId);
    }
}
