//! One JSON record (flat, or HubSpot's own nested form) to a [`RecordInput`], by the value rules.

use std::collections::BTreeMap;
use std::fmt;

use hubspot_tickets_client::types::TicketUpsertInput;
use serde::de::DeserializeSeed;

use crate::records::RecordInput;
use crate::records::values::{At, JsonValue, ValueSeed, check_id, check_property_name};

/// Why a JSON record cannot become a [`RecordInput`].
///
/// The [`reason`](JsonRecordError::reason) names the property or key at fault; the
/// [`id`](JsonRecordError::id) is the record's id when it could be read. `Display` gives
/// both: `record "ZD-1": property 'score': ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonRecordError {
    kind: JsonRecordErrorKind,
    id: Option<String>,
    reason: String,
}

/// What kind of problem a [`JsonRecordError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonRecordErrorKind {
    /// Not JSON, or not a JSON object.
    Syntax,
    /// No key named `id_key` holds the id (flat form): the caller may name another key.
    MissingId,
    /// The id is blank, not a string or an integer, or missing from the nested form.
    Id,
    /// A property's name or value breaks a rule, or a property appears twice.
    Property,
    /// The nested form has a key it should not, one twice, or a bad `objectWriteTraceId`.
    Key,
}

impl JsonRecordError {
    fn new(kind: JsonRecordErrorKind, id: Option<&str>, reason: String) -> Self {
        Self {
            kind,
            id: id.map(str::to_owned),
            reason,
        }
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> JsonRecordErrorKind {
        self.kind
    }

    /// The record's id, when it could be read.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Why the record is refused (names the property or key; not the id).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The id and the reason, without copying them.
    pub fn into_parts(self) -> (Option<String>, String) {
        (self.id, self.reason)
    }
}

impl fmt::Display for JsonRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "record {id:?}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for JsonRecordError {}

/// Reads one JSON object into an input, by the value rules that
/// [`to_properties`](crate::records::to_properties) lists (one set for every way in).
///
/// Two forms are read:
/// * flat: `{"external_ticket_id": "ZD-1", "subject": "Printer jams", "count": 3}`,
///   where the key `id_key` holds the id and every other key is a property;
/// * nested, HubSpot's own input shape: `{"id": "ZD-1", "properties": {...},
///   "objectWriteTraceId": "..."}` (and `idProperty`), chosen when `properties`
///   holds an object. Any other key next to `properties` is refused.
///
/// A key that appears twice (a property, the id key, `properties`...) is refused
/// rather than one of its values silently kept. Property names must be HubSpot
/// internal names ([`check_property_name`](crate::cli_support::check_property_name)). The id must
/// be a non-blank string or an integer. An empty `objectWriteTraceId` counts as none.
///
/// `json` is the object's bytes (one JSON line, one array element); it is parsed
/// straight into the input, without a `serde_json::Value` tree.
///
/// ```
/// use hubspot_tickets::cli_support::{from_json_record, JsonRecordError};
///
/// let flat = br#"{"external_ticket_id": "ZD-1", "subject": "Hi", "tags": ["a", "b"], "n": 1.5}"#;
/// let input = from_json_record(flat, "external_ticket_id")?;
/// assert_eq!(input.id(), "ZD-1");
/// assert_eq!(input.properties()["tags"], "a;b");
/// assert_eq!(input.properties()["n"], "1.5");
///
/// let nested = br#"{"id": 42, "properties": {"subject": null}, "objectWriteTraceId": "t-1"}"#;
/// let input = from_json_record(nested, "external_ticket_id")?;
/// assert_eq!((input.id(), input.trace_id()), ("42", Some("t-1")));
/// assert_eq!(input.properties()["subject"], "");
///
/// let e = from_json_record(br#"{"id": "ZD-2", "properties": {"n": [[1]]}}"#, "x")
///     .unwrap_err();
/// assert_eq!(e.id(), Some("ZD-2"));
/// assert!(e.reason().starts_with("property 'n': a nested list"));
/// # Ok::<(), JsonRecordError>(())
/// ```
///
/// # Errors
/// A [`JsonRecordError`] with the reason, and the id when it could be read.
pub fn from_json_record(json: &[u8], id_key: &str) -> Result<RecordInput, JsonRecordError> {
    // One UTF-8 check of the whole record, then serde_json's `str` reader, which
    // skips the check it would otherwise make on every string; on bad UTF-8 the
    // slice reader says where it is.
    let top = match std::str::from_utf8(json) {
        Ok(text) => read(serde_json::Deserializer::from_str(text)),
        Err(_) => read(serde_json::Deserializer::from_slice(json)),
    };
    let entries = match top {
        Ok(Some(entries)) => entries,
        Ok(None) => {
            return Err(JsonRecordError::new(
                JsonRecordErrorKind::Syntax,
                None,
                "expected a JSON object".to_owned(),
            ));
        }
        Err(e) => {
            return Err(JsonRecordError::new(
                JsonRecordErrorKind::Syntax,
                None,
                syntax_reason(&e),
            ));
        }
    };
    let nested = entries
        .iter()
        .any(|(k, v)| k == "properties" && matches!(v, JsonValue::Object(_)));
    let inner = if nested {
        nested_form(entries)?
    } else {
        flat_form(entries, id_key)?
    };
    Ok(RecordInput::from(inner))
}

fn read<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> serde_json::Result<Option<Entries>> {
    let top = ValueSeed(At::Record).deserialize(&mut de)?;
    de.end()?;
    Ok(match top {
        JsonValue::Object(entries) => Some(entries),
        _ => None,
    })
}

type Entries = Vec<(String, JsonValue)>;

/// `{"external_ticket_id": "ZD-1", "subject": "...", ...}`.
fn flat_form(mut entries: Entries, id_key: &str) -> Result<TicketUpsertInput, JsonRecordError> {
    use JsonRecordErrorKind as K;
    // The id is moved out of its entry; the entry's key stays, so a second id key is
    // still caught below.
    let Some(id) = entries
        .iter_mut()
        .find(|(k, _)| k == id_key)
        .map(|(_, v)| std::mem::replace(v, JsonValue::Null))
    else {
        return Err(JsonRecordError::new(
            K::MissingId,
            None,
            format!("no '{id_key}' key holds the id"),
        ));
    };
    let id = id
        .into_id()
        .map_err(|why| JsonRecordError::new(K::Id, None, format!("the id '{id_key}' {why}")))?;
    check_id(&id).map_err(|why| JsonRecordError::new(K::Id, None, why.to_string()))?;
    let mut properties = Vec::with_capacity(entries.len());
    let mut seen_id = false;
    for (name, value) in entries {
        if name == id_key {
            if seen_id {
                return Err(JsonRecordError::new(
                    K::Key,
                    Some(&id),
                    format!("key '{name}' appears twice"),
                ));
            }
            seen_id = true;
            continue;
        }
        push_property(&mut properties, name, value, &id)?;
    }
    Ok(TicketUpsertInput {
        properties: into_map(properties, &id)?,
        id,
        id_property: None,
        object_write_trace_id: None,
    })
}

/// `{"id": "ZD-1", "properties": {...}, "objectWriteTraceId": "...", "idProperty": "..."}`.
fn nested_form(entries: Entries) -> Result<TicketUpsertInput, JsonRecordError> {
    use JsonRecordErrorKind as K;
    let mut id = None;
    let mut props = None;
    let mut trace = None;
    let mut id_property = None;
    // Key problems are reported after the id is read, so that they can name it.
    let mut key_problem = None;
    for (key, value) in entries {
        let slot = match key.as_str() {
            "id" => &mut id,
            "properties" => &mut props,
            "objectWriteTraceId" => &mut trace,
            "idProperty" => &mut id_property,
            other => {
                key_problem.get_or_insert_with(|| {
                    format!(
                        "unexpected key '{other}' next to 'properties' (expected only id, \
                         properties, objectWriteTraceId, idProperty)"
                    )
                });
                continue;
            }
        };
        if slot.is_some() {
            key_problem.get_or_insert_with(|| format!("key '{key}' appears twice"));
        } else {
            *slot = Some(value);
        }
    }
    let Some(id) = id else {
        return Err(JsonRecordError::new(
            K::Id,
            None,
            "no 'id' next to 'properties'".to_owned(),
        ));
    };
    let id = id
        .into_id()
        .map_err(|why| JsonRecordError::new(K::Id, None, format!("'id' {why}")))?;
    check_id(&id).map_err(|why| JsonRecordError::new(K::Id, None, why.to_string()))?;
    let key_error = |reason: String| JsonRecordError::new(K::Key, Some(&id), reason);
    if let Some(reason) = key_problem {
        return Err(key_error(reason));
    }
    let string_key = |value: Option<JsonValue>, key: &str| match value {
        None => Ok(None),
        Some(JsonValue::Str(s)) => Ok(Some(s).filter(|s| !s.is_empty())),
        Some(other) => Err(key_error(format!(
            "'{key}' must be a string, not {}",
            other.kind()
        ))),
    };
    let object_write_trace_id = string_key(trace, "objectWriteTraceId")?;
    let id_property = string_key(id_property, "idProperty")?;
    let entries = match props {
        Some(JsonValue::Object(entries)) => entries,
        // The nested form is chosen only when `properties` holds an object.
        _ => Vec::new(),
    };
    let mut properties = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        push_property(&mut properties, name, value, &id)?;
    }
    Ok(TicketUpsertInput {
        properties: into_map(properties, &id)?,
        id,
        id_property,
        object_write_trace_id,
    })
}

/// Checks one property's name and value and adds it (repeats are found by
/// [`into_map`] once the record is complete).
fn push_property(
    properties: &mut Vec<(String, String)>,
    name: String,
    value: JsonValue,
    id: &str,
) -> Result<(), JsonRecordError> {
    let refuse =
        |reason: String| JsonRecordError::new(JsonRecordErrorKind::Property, Some(id), reason);
    check_property_name(&name).map_err(|e| refuse(e.to_string()))?;
    match value.into_property_value() {
        Ok(value) => {
            properties.push((name, value));
            Ok(())
        }
        Err(why) => Err(refuse(format!("property '{name}': {why}"))),
    }
}

/// The map of a record's properties, refused when a name appears twice. Sorting the
/// few pairs and building the map in one go costs a fraction of inserting them one by
/// one, and every record of a run passes here.
fn into_map(
    mut properties: Vec<(String, String)>,
    id: &str,
) -> Result<BTreeMap<String, String>, JsonRecordError> {
    properties.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = properties.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(JsonRecordError::new(
            JsonRecordErrorKind::Property,
            Some(id),
            format!("property '{}' appears twice", pair[0].0),
        ));
    }
    Ok(properties.into_iter().collect())
}

/// serde_json's message without its "at line L column C" (positions are relative to the
/// record; a caller reading a file knows the record's own line).
fn syntax_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = match text.rsplit_once(" at line ") {
        Some((m, _)) => m,
        None => text.as_str(),
    };
    if e.line() > 1 {
        format!(
            "invalid JSON: {message} (line {} of the record, column {})",
            e.line(),
            e.column()
        )
    } else {
        format!("invalid JSON: {message} (column {})", e.column())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use JsonRecordErrorKind as K;

    /// What a record must become: (id, properties, trace id, idProperty), or the kind
    /// of error, the id it names and a substring of its reason.
    enum Expect {
        Input(
            &'static str,
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
            Option<&'static str>,
        ),
        Refused(K, Option<&'static str>, &'static str),
    }
    use Expect::{Input, Refused};

    /// The record forms, the id and key rules, and the syntax errors; the value rules
    /// have their own table (values.rs).
    #[rustfmt::skip]
    fn cases() -> Vec<(&'static str, &'static [u8], Expect)> {
        vec![
            ("flat", br#"{"external_ticket_id": "A", "subject": "Hi", "n": 3}"#, Input("A", &[("n", "3"), ("subject", "Hi")], None, None)),
            ("flat: a property named 'properties' that is not an object", br#"{"external_ticket_id": "A", "properties": "x"}"#, Input("A", &[("properties", "x")], None, None)),
            ("flat: no id key", br#"{"subject": "Hi"}"#, Refused(K::MissingId, None, "no 'external_ticket_id' key holds the id")),
            ("flat: a property twice", br#"{"external_ticket_id": "A", "subject": "a", "subject": "b"}"#, Refused(K::Property, Some("A"), "property 'subject' appears twice")),
            ("flat: the id key twice", br#"{"external_ticket_id": "A", "external_ticket_id": "B"}"#, Refused(K::Key, Some("A"), "key 'external_ticket_id' appears twice")),
            ("flat: an invalid name", br#"{"external_ticket_id": "A", "Bad Name": "x"}"#, Refused(K::Property, Some("A"), "invalid property name 'Bad Name'")),
            ("nested", br#"{"id": "B", "properties": {"subject": "Hi"}, "objectWriteTraceId": "t-1", "idProperty": "ext"}"#, Input("B", &[("subject", "Hi")], Some("t-1"), Some("ext"))),
            ("nested: an empty trace id is none", br#"{"properties": {}, "id": 7, "objectWriteTraceId": ""}"#, Input("7", &[], None, None)),
            ("nested: no id", br#"{"properties": {"a": "b"}}"#, Refused(K::Id, None, "no 'id' next to 'properties'")),
            ("nested: an id that is a list", br#"{"id": ["B"], "properties": {}}"#, Refused(K::Id, None, "'id' must be a string or an integer, not a list")),
            ("nested: a blank id", br#"{"id": " ", "properties": {}}"#, Refused(K::Id, None, "empty id")),
            ("nested: 'properties' twice", br#"{"id": "B", "properties": {"a": "1"}, "properties": {"a": "2"}}"#, Refused(K::Key, Some("B"), "key 'properties' appears twice")),
            ("nested: 'id' twice", br#"{"id": "B", "properties": {}, "id": "C"}"#, Refused(K::Key, Some("B"), "key 'id' appears twice")),
            ("nested: 'objectWriteTraceId' twice", br#"{"objectWriteTraceId": "t", "id": "B", "properties": {}, "objectWriteTraceId": "u"}"#, Refused(K::Key, Some("B"), "key 'objectWriteTraceId' appears twice")),
            ("nested: a property twice", br#"{"id": "B", "properties": {"a": "1", "a": "2"}}"#, Refused(K::Property, Some("B"), "property 'a' appears twice")),
            ("nested: another key, named with the id read after it", br#"{"createdAt": "2024", "id": "B", "properties": {}}"#, Refused(K::Key, Some("B"), "unexpected key 'createdAt' next to 'properties'")),
            ("nested: the flat id key is another key", br#"{"external_ticket_id": "A", "id": "B", "properties": {}}"#, Refused(K::Key, Some("B"), "unexpected key 'external_ticket_id'")),
            ("nested: a trace id that is not a string", br#"{"id": "B", "properties": {}, "objectWriteTraceId": 5}"#, Refused(K::Key, Some("B"), "'objectWriteTraceId' must be a string, not a number")),
            ("nested: an idProperty that is not a string", br#"{"id": "B", "properties": {}, "idProperty": null}"#, Refused(K::Key, Some("B"), "'idProperty' must be a string, not null")),
            ("nested: a value rule, naming the property", br#"{"id": "B", "properties": {"tags": ["x;y"]}}"#, Refused(K::Property, Some("B"), "property 'tags': a list element contains ';'")),
            ("not an object: a list", b"[1, 2]", Refused(K::Syntax, None, "expected a JSON object")),
            ("not an object: a string", br#""text""#, Refused(K::Syntax, None, "expected a JSON object")),
            ("not an object: null", b"null", Refused(K::Syntax, None, "expected a JSON object")),
            ("cut short", br#"{"external_ticket_id": "A", "subj"#, Refused(K::Syntax, None, "invalid JSON: EOF while parsing a string (column 33)")),
            ("on several lines", b"{\"external_ticket_id\": \"A\",\n \"n\": 01}", Refused(K::Syntax, None, "(line 2 of the record, column 8)")),
            ("invalid UTF-8, placed", b"{\"external_ticket_id\": \"A\", \"s\": \"caf\xe9\"}", Refused(K::Syntax, None, "invalid JSON: invalid unicode code point (column 38)")),
            ("trailing data", br#"{"external_ticket_id": "A"} x"#, Refused(K::Syntax, None, "invalid JSON: trailing characters")),
            ("a number out of range", br#"{"external_ticket_id": "A", "n": 1e400}"#, Refused(K::Syntax, None, "invalid JSON: number out of range")),
        ]
    }

    #[test]
    fn record_forms_keys_and_syntax() {
        let mut wrong = Vec::new();
        for (name, json, expect) in cases() {
            let got = from_json_record(json, "external_ticket_id");
            let ok = match (&expect, &got) {
                (Input(id, props, trace, id_property), Ok(t)) => {
                    let want: BTreeMap<String, String> = props
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect();
                    t.id() == *id
                        && *t.properties() == want
                        && t.trace_id() == *trace
                        && t.id_property() == *id_property
                        && t.validate().is_ok()
                }
                (Refused(kind, id, reason), Err(e)) => {
                    e.kind() == *kind && e.id() == *id && e.reason().contains(reason)
                }
                _ => false,
            };
            if !ok {
                wrong.push(format!("{name}: {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn errors_display_the_id_when_known() {
        let e = from_json_record(br#"{"k": "Z", "n": {}}"#, "k").unwrap_err();
        assert_eq!(
            e.to_string(),
            "record \"Z\": property 'n': a nested object cannot be sent as a HubSpot property (values are strings)"
        );
        assert_eq!(
            e.into_parts().0.as_deref(),
            Some("Z"),
            "the id comes back without a copy"
        );
        let e = from_json_record(b"{}", "k").unwrap_err();
        assert_eq!(e.to_string(), "no 'k' key holds the id");
    }
}
