//! `T: Serialize` to HubSpot's string properties.

use std::collections::BTreeMap;
use std::fmt::{self, Display};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::ser::{self, Impossible, Serialize};

use crate::error::Error;
use crate::records::NoneAs;
use crate::records::values::{self, Refusal};

/// Converts any `Serialize` struct or map into HubSpot's string properties.
///
/// The table is the facade's one set of value rules: [`RecordInput::property`]
/// ([`IntoPropertyValue`]) and [`from_json_record`] (JSON values) follow it
/// too, so a value gets the same answer whichever way it comes.
///
/// | value | HubSpot value |
/// | --- | --- |
/// | strings, chars, unit enum variants | as they are (variant names honour `#[serde(rename)]`) |
/// | integers (JSON: those that fit 64 bits) | decimal, exact |
/// | finite floats below 2^53 in magnitude (`f32`: 2^24) | decimal: the shortest digits that read back as the same float, never exponent notation (`1e-7` is `0.0000001`); `-0` is `0` |
/// | floats at or beyond 2^53 (`f32`: 2^24) | an error: there floats skip integers, and the digits would not be the number meant (JSON `12345678901234567890123` reads as `1.2345678901234568e22`); send a string or an integer type |
/// | NaN, ±∞ | an error |
/// | `bool` | `"true"` / `"false"` |
/// | `chrono::DateTime`, `NaiveDateTime` | epoch milliseconds (`NaiveDateTime` read as UTC) |
/// | `chrono::NaiveDate` | epoch milliseconds at midnight UTC |
/// | `None`, `()`, JSON `null` | here: left out, or `""` (clear) with [`NoneAs::Clear`]; `""` from [`RecordInput::property`] and in JSON records |
/// | sequences (`Vec`, arrays, sets, JSON lists) of scalars | joined with `;` (multiple checkboxes); `None`/`null` items left out; an empty list is `""` |
/// | a list item holding `;` | an error: HubSpot would split it in two |
/// | nested lists; structs, maps and JSON objects inside a value; bytes; enum variants with data | an error |
/// | a value longer than [`MAX_VALUE_CHARS`](crate::cli_support::MAX_VALUE_CHARS) (65,536) characters | an error: HubSpot stores no more |
///
/// JSON numbers are read by `serde_json` without `arbitrary_precision`: one with a
/// fraction or an exponent, or an integer beyond 64 bits, arrives as an `f64`, so the
/// float rules apply to it. Its default float parsing is best effort: a number with
/// more than 15 significant digits, or an exponent beyond ±22, may arrive one unit in
/// the last place off (`9007199254740991.0` reads as `9007199254740990`); write such
/// numbers as JSON strings. JSON records also have rules on names and ids, listed at
/// [`from_json_record`]. Errors name the field.
///
/// Dates are recognised because `chrono` (and `time`, `jiff`) serialise them through
/// `Serializer::collect_str`; a plain `String` holding a date stays a string.
///
/// ```
/// use hubspot_tickets::records::{NoneAs, to_properties};
///
/// #[derive(serde::Serialize)]
/// struct Ticket { subject: String, priority: u8, escalated: bool,
///                 due: chrono::NaiveDate, tags: Vec<&'static str>, owner: Option<String> }
///
/// let t = Ticket { subject: "Printer jams".into(), priority: 2, escalated: true,
///                  due: chrono::NaiveDate::from_ymd_opt(2024, 11, 28).unwrap(),
///                  tags: vec!["printer", "floor-3"], owner: None };
/// let p = to_properties(&t, NoneAs::Clear)?;
/// assert_eq!(p["priority"], "2");
/// assert_eq!(p["escalated"], "true");
/// assert_eq!(p["due"], "1732752000000");
/// assert_eq!(p["tags"], "printer;floor-3");
/// assert_eq!(p["owner"], "");
/// # Ok::<(), hubspot_tickets::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the field.
///
/// [`RecordInput::property`]: crate::RecordInput::property
/// [`from_json_record`]: crate::cli_support::from_json_record
/// [`IntoPropertyValue`]: crate::records::IntoPropertyValue
pub fn to_properties<T: Serialize + ?Sized>(
    value: &T,
    none_as: NoneAs,
) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    serialize_into(value, none_as, &mut out)?;
    Ok(out)
}

pub(crate) fn serialize_into<T: Serialize + ?Sized>(
    value: &T,
    none_as: NoneAs,
    out: &mut BTreeMap<String, String>,
) -> Result<(), Error> {
    value
        .serialize(TopSerializer { out, none_as })
        .map_err(|e| Error::invalid_input(e.0))
}

pub(crate) fn date_millis(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_millis()
}

/// Recognises the text of a date or datetime (RFC 3339, `YYYY-MM-DD`,
/// `YYYY-MM-DDTHH:MM:SS[.f]`) and returns its epoch milliseconds.
fn date_text_to_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b.len() > 40 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    if b.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(date_millis);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|dt| dt.and_utc().timestamp_millis())
}

#[derive(Debug)]
pub(crate) struct SerError(String);

impl Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SerError {}
impl ser::Error for SerError {
    fn custom<T: Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}
impl From<Refusal> for SerError {
    fn from(r: Refusal) -> Self {
        Self(r.to_string())
    }
}

fn top_level_error(what: &str) -> SerError {
    SerError(format!(
        "properties must come from a struct or a map, not {what}"
    ))
}

struct TopSerializer<'a> {
    out: &'a mut BTreeMap<String, String>,
    none_as: NoneAs,
}

macro_rules! reject_top {
    ($($name:ident($($arg:ty),*) => $what:expr;)*) => {$(
        fn $name(self, $(_: $arg),*) -> Result<(), SerError> {
            Err(top_level_error($what))
        }
    )*};
}

impl<'a> ser::Serializer for TopSerializer<'a> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Impossible<(), SerError>;
    type SerializeTuple = Impossible<(), SerError>;
    type SerializeTupleStruct = Impossible<(), SerError>;
    type SerializeTupleVariant = Impossible<(), SerError>;
    type SerializeMap = MapFields<'a>;
    type SerializeStruct = MapFields<'a>;
    type SerializeStructVariant = Impossible<(), SerError>;

    reject_top! {
        serialize_bool(bool) => "a boolean";
        serialize_i8(i8) => "a number";
        serialize_i16(i16) => "a number";
        serialize_i32(i32) => "a number";
        serialize_i64(i64) => "a number";
        serialize_u8(u8) => "a number";
        serialize_u16(u16) => "a number";
        serialize_u32(u32) => "a number";
        serialize_u64(u64) => "a number";
        serialize_f32(f32) => "a number";
        serialize_f64(f64) => "a number";
        serialize_char(char) => "a character";
        serialize_str(&str) => "a string";
        serialize_bytes(&[u8]) => "bytes";
        serialize_unit_struct(&'static str) => "a unit struct";
        serialize_unit_variant(&'static str, u32, &'static str) => "an enum variant";
    }

    fn serialize_none(self) -> Result<(), SerError> {
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), SerError> {
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), SerError> {
        Err(top_level_error("an enum variant"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        Err(top_level_error("a sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
        Err(top_level_error("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(top_level_error("a tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(top_level_error("an enum variant"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Ok(MapFields {
            out: self.out,
            none_as: self.none_as,
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(top_level_error("an enum variant"))
    }
}

struct MapFields<'a> {
    out: &'a mut BTreeMap<String, String>,
    none_as: NoneAs,
    key: Option<String>,
}

impl MapFields<'_> {
    fn put<T: ?Sized + Serialize>(&mut self, key: String, value: &T) -> Result<(), SerError> {
        let value = value
            .serialize(ValueSerializer { in_seq: false })
            .and_then(|v| match v {
                Some(v) => values::check_len(&v)
                    .map(|()| Some(v))
                    .map_err(SerError::from),
                None => Ok(None),
            });
        match value {
            Ok(Some(v)) => {
                self.out.insert(key, v);
                Ok(())
            }
            Ok(None) => {
                if self.none_as == NoneAs::Clear {
                    self.out.insert(key, String::new());
                }
                Ok(())
            }
            Err(e) => Err(SerError(format!("field `{key}`: {}", e.0))),
        }
    }
}

impl ser::SerializeStruct for MapFields<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        self.put(key.to_owned(), value)
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

impl ser::SerializeMap for MapFields<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), SerError> {
        match key.serialize(ValueSerializer { in_seq: true }) {
            Ok(Some(k)) => {
                self.key = Some(k);
                Ok(())
            }
            _ => Err(SerError(
                "map keys must be strings or numbers to name properties".to_owned(),
            )),
        }
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        let key = self.key.take().unwrap_or_default();
        self.put(key, value)
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

/// Serialises one property value; `None` means "no value" (skip or clear).
#[derive(Clone, Copy)]
struct ValueSerializer {
    in_seq: bool,
}

fn nested(what: &'static str) -> SerError {
    SerError::from(Refusal::Nested(what))
}

type V = Result<Option<String>, SerError>;

/// Implements the integer methods of a `Serializer` whose values are `V`.
macro_rules! integers_as_decimal {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, v: $ty) -> V {
            Ok(Some(v.to_string()))
        })*
    };
}

impl ser::Serializer for ValueSerializer {
    type Ok = Option<String>;
    type Error = SerError;
    type SerializeSeq = Joined;
    type SerializeTuple = Joined;
    type SerializeTupleStruct = Joined;
    type SerializeTupleVariant = Impossible<Option<String>, SerError>;
    type SerializeMap = Impossible<Option<String>, SerError>;
    type SerializeStruct = Impossible<Option<String>, SerError>;
    type SerializeStructVariant = Impossible<Option<String>, SerError>;

    fn serialize_bool(self, v: bool) -> V {
        Ok(Some(values::bool_value(v).to_owned()))
    }
    // Every integer is sent as its decimal string.
    integers_as_decimal! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    }
    fn serialize_f32(self, v: f32) -> V {
        Ok(Some(values::f32_value(v)?))
    }
    fn serialize_f64(self, v: f64) -> V {
        Ok(Some(values::f64_value(v)?))
    }
    fn serialize_char(self, v: char) -> V {
        Ok(Some(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> V {
        Ok(Some(v.to_owned()))
    }
    fn collect_str<T: ?Sized + Display>(self, value: &T) -> V {
        let text = value.to_string();
        Ok(Some(match date_text_to_millis(&text) {
            Some(ms) => ms.to_string(),
            None => text,
        }))
    }
    fn serialize_bytes(self, _: &[u8]) -> V {
        Err(nested("bytes"))
    }
    fn serialize_none(self) -> V {
        Ok(None)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> V {
        value.serialize(self)
    }
    fn serialize_unit(self) -> V {
        Ok(None)
    }
    fn serialize_unit_struct(self, _: &'static str) -> V {
        Ok(None)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> V {
        Ok(Some(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> V {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> V {
        Err(nested("an enum variant with data"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Joined, SerError> {
        if self.in_seq {
            return Err(SerError::from(Refusal::NestedList));
        }
        Ok(Joined(values::Joined::default()))
    }
    fn serialize_tuple(self, len: usize) -> Result<Joined, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Joined, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(nested("an enum variant with data"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Err(nested("a nested map"))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Err(nested("a nested object"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(nested("an enum variant with data"))
    }
}

/// A multiple-checkbox value being joined with `;`; `None` items are left out.
struct Joined(values::Joined);

impl Joined {
    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        if let Some(v) = value.serialize(ValueSerializer { in_seq: true })? {
            self.0.push(&v)?;
        }
        Ok(())
    }
}

/// A list, a tuple and a tuple struct are all joined alike.
macro_rules! joined {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Joined {
            type Ok = Option<String>;
            type Error = SerError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
                self.push(value)
            }
            fn end(self) -> V {
                Ok(Some(self.0.finish()))
            }
        }
    )*};
}

joined!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde::Serialize;
    use std::collections::HashMap;

    #[derive(Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    enum Priority {
        High,
    }

    #[derive(Serialize)]
    struct Inner {
        a: u8,
    }

    #[derive(Serialize)]
    struct Ticket {
        subject: String,
        count: i64,
        ratio: f64,
        big: u128,
        ok: bool,
        at: DateTime<Utc>,
        day: NaiveDate,
        naive: NaiveDateTime,
        tags: Vec<String>,
        empty_tags: Vec<String>,
        maybe: Option<u32>,
        none: Option<u32>,
        priority: Priority,
        date_like_text: String,
        #[serde(flatten)]
        extra: HashMap<String, String>,
    }

    fn sample() -> Ticket {
        let at = Utc
            .with_ymd_and_hms(2024, 11, 28, 0, 0, 1)
            .single()
            .unwrap_or_default();
        Ticket {
            subject: "Printer".into(),
            count: -3,
            ratio: 0.1,
            big: u128::MAX,
            ok: true,
            at,
            day: NaiveDate::from_ymd_opt(1970, 1, 2).unwrap_or_default(),
            naive: at.naive_utc(),
            tags: vec!["a".into(), "b".into()],
            empty_tags: vec![],
            maybe: Some(7),
            none: None,
            priority: Priority::High,
            date_like_text: "2024-01-01".into(),
            extra: [("custom".to_owned(), "x".to_owned())].into(),
        }
    }

    #[test]
    fn converts_every_supported_shape() {
        let p = to_properties(&sample(), NoneAs::Skip).unwrap_or_default();
        assert_eq!(p["subject"], "Printer");
        assert_eq!(p["count"], "-3");
        assert_eq!(p["ratio"], "0.1");
        assert_eq!(p["big"], u128::MAX.to_string());
        assert_eq!(p["ok"], "true");
        assert_eq!(p["at"], "1732752001000");
        assert_eq!(p["naive"], "1732752001000");
        assert_eq!(p["day"], "86400000");
        assert_eq!(p["tags"], "a;b");
        assert_eq!(p["empty_tags"], "");
        assert_eq!(p["maybe"], "7");
        assert!(!p.contains_key("none"));
        assert_eq!(p["priority"], "HIGH");
        assert_eq!(
            p["date_like_text"], "2024-01-01",
            "plain strings stay strings"
        );
        assert_eq!(p["custom"], "x");
        let p = to_properties(&sample(), NoneAs::Clear).unwrap_or_default();
        assert_eq!(p["none"], "");
    }

    #[test]
    fn unrepresentable_values_name_the_field() {
        #[derive(Serialize)]
        struct Bad {
            fine: u8,
            inner: Inner,
        }
        let e = to_properties(
            &Bad {
                fine: 1,
                inner: Inner { a: 1 },
            },
            NoneAs::Skip,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.contains("field `inner`") && e.contains("nested object"),
            "{e}"
        );

        #[derive(Serialize)]
        struct Nan {
            x: f64,
        }
        let e = to_properties(&Nan { x: f64::INFINITY }, NoneAs::Skip)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("field `x`") && e.contains("finite"), "{e}");

        #[derive(Serialize)]
        struct Nested {
            x: Vec<Vec<u8>>,
        }
        assert!(to_properties(&Nested { x: vec![vec![1]] }, NoneAs::Skip).is_err());
        assert!(to_properties(&5_u8, NoneAs::Skip).is_err());
    }

    #[test]
    fn date_text_recognition() {
        assert_eq!(date_text_to_millis("1970-01-01"), Some(0));
        assert_eq!(date_text_to_millis("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(date_text_to_millis("1970-01-01T00:00:01.5"), Some(1500));
        assert_eq!(date_text_to_millis("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(date_text_to_millis("hello world"), None);
        assert_eq!(date_text_to_millis("2024-13-45"), None);
    }

    proptest::proptest! {
        /// Below 2^53 every float is sent in decimal and reads back as itself; at or
        /// beyond, none is sent.
        #[test]
        fn finite_floats_round_trip(x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            match values::f64_value(x) {
                Ok(s) => {
                    proptest::prop_assert!(x.abs() < 9_007_199_254_740_992.0, "{x} sent as {s}");
                    proptest::prop_assert!(!s.contains('e'), "{s}");
                    proptest::prop_assert_eq!(s.parse::<f64>().ok(), Some(x));
                }
                Err(r) => {
                    proptest::prop_assert!(x.abs() >= 9_007_199_254_740_992.0, "{x}: {r}");
                }
            }
        }
    }
}
