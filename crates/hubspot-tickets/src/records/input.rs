//! One upsert input: an ergonomic builder over the generated
//! [`TicketUpsertInput`](hubspot_tickets_client::types::TicketUpsertInput).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use hubspot_tickets_client::types::TicketUpsertInput;
use serde::Serialize;

use crate::error::Error;
use crate::records::serialize;
use crate::records::values::{self, Refusal, truncate};

/// The longest `id` (unique property value) the facade sends, in characters. Longer ids are
/// reported as [`Failed`](crate::Outcome::Failed) without a request.
pub const MAX_ID_LEN: usize = 1000;

/// What a `None` field becomes when properties come from a `Serialize` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoneAs {
    /// Leave the property out: HubSpot keeps its current value (the default).
    #[default]
    Skip,
    /// Send `""`, which clears the property in HubSpot.
    Clear,
}

/// One record to create or update (a ticket, contact, company, deal or custom object:
/// the client's object type says which), identified by the value of a unique property.
///
/// ```
/// use hubspot_tickets::RecordInput;
///
/// let input = RecordInput::new("ZD-1")
///     .property("subject", "Printer jams")
///     .property("hs_pipeline_stage", 1)           // "1"
///     .property("is_escalated", true)             // "true"
///     .clear("hs_ticket_priority")                // "" clears it
///     .with_trace_id("import-7-line-1");
/// assert_eq!(input.properties()["hs_pipeline_stage"], "1");
/// assert_eq!(input.trace_id(), Some("import-7-line-1"));
/// assert_eq!(input.to_string(), "ZD-1 (4 properties)");
/// ```
///
/// [`cli_support::from_json_record`](crate::cli_support::from_json_record) reads one
/// from a JSON object.
///
/// A value that cannot be sent (a NaN float, a nested object) does not panic and does
/// not stop a bulk run: the input remembers the problem and is reported
/// [`Failed`](crate::Outcome::Failed) with it; [`RecordInput::validate`] checks early.
#[derive(Clone, PartialEq)]
pub struct RecordInput {
    pub(crate) inner: TicketUpsertInput,
    pub(crate) problem: Option<Box<str>>,
}

impl RecordInput {
    /// An input for the ticket whose unique property has the value `id`.
    ///
    /// The property's name (`idProperty`) comes from the client's
    /// [`id_property`](crate::ClientBuilder::id_property) unless set with
    /// [`RecordInput::with_id_property`].
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            inner: TicketUpsertInput {
                id: id.into(),
                id_property: None,
                object_write_trace_id: None,
                properties: BTreeMap::new(),
            },
            problem: None,
        }
    }

    /// An input whose properties come from any `Serialize` struct or map, converted to
    /// HubSpot's string values (see [`to_properties`](crate::records::to_properties)); `None`
    /// fields are left out.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the field
    /// when a value has no HubSpot representation (nested object, NaN...).
    pub fn from_serialize<T: Serialize + ?Sized>(
        id: impl Into<String>,
        value: &T,
    ) -> Result<Self, Error> {
        Self::from_serialize_with(id, value, NoneAs::Skip)
    }

    /// [`RecordInput::from_serialize`] with an explicit choice for `None` fields.
    ///
    /// # Errors
    /// As [`RecordInput::from_serialize`].
    pub fn from_serialize_with<T: Serialize + ?Sized>(
        id: impl Into<String>,
        value: &T,
        none_as: NoneAs,
    ) -> Result<Self, Error> {
        let mut input = Self::new(id);
        serialize::serialize_into(value, none_as, &mut input.inner.properties)?;
        Ok(input)
    }

    /// Adds the properties of a `Serialize` value, like [`RecordInput::from_serialize`],
    /// but never fails: a value that cannot be converted marks the input invalid, and
    /// it is reported `Failed` when sent (the right choice inside a bulk stream).
    #[must_use]
    pub fn properties_from<T: Serialize + ?Sized>(self, value: &T, none_as: NoneAs) -> Self {
        let mut this = self;
        if let Err(e) = serialize::serialize_into(value, none_as, &mut this.inner.properties) {
            this.set_problem(e.message().to_owned());
        }
        this
    }

    /// Sets one property. Values convert with [`IntoPropertyValue`], by the rules that
    /// [`to_properties`](crate::records::to_properties) lists: strings as they are, numbers in
    /// decimal, booleans as `true`/`false`, `chrono` dates and datetimes as epoch
    /// milliseconds, `None` as `""` (clear), a `Vec` joined with `;`. A value longer
    /// than [`MAX_VALUE_CHARS`](crate::cli_support::MAX_VALUE_CHARS) characters marks the input
    /// invalid, like any value that cannot be converted.
    #[must_use]
    pub fn property(mut self, name: impl Into<String>, value: impl IntoPropertyValue) -> Self {
        let name = name.into();
        let value = value
            .into_property_value()
            .and_then(|v| values::check_len(&v).map(|()| v).map_err(String::from));
        match value {
            Ok(v) => {
                self.inner.properties.insert(name, v);
            }
            Err(why) => self.set_problem(format!("property `{name}`: {why}")),
        }
        self
    }

    /// Sets several properties.
    #[must_use]
    pub fn with_properties<K, V>(self, props: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: IntoPropertyValue,
    {
        props
            .into_iter()
            .fold(self, |this, (k, v)| this.property(k, v))
    }

    /// Clears a property (sends `""`).
    #[must_use]
    pub fn clear(mut self, name: impl Into<String>) -> Self {
        self.inner.properties.insert(name.into(), String::new());
        self
    }

    /// Sets `objectWriteTraceId`. Without one, the client assigns a unique value; it
    /// is what maps HubSpot's per-input errors back to this input.
    #[must_use]
    pub fn with_trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.inner.object_write_trace_id = Some(trace_id.into());
        self
    }

    /// Sets `idProperty` for this input (overrides the client's default).
    #[must_use]
    pub fn with_id_property(mut self, name: impl Into<String>) -> Self {
        self.inner.id_property = Some(name.into());
        self
    }

    /// The unique property value that identifies the record.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The properties to write.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.inner.properties
    }

    /// The `objectWriteTraceId`, if set.
    pub fn trace_id(&self) -> Option<&str> {
        self.inner.object_write_trace_id.as_deref()
    }

    /// The `idProperty`, if set on this input.
    pub fn id_property(&self) -> Option<&str> {
        self.inner.id_property.as_deref()
    }

    /// Unwraps into the generated wire type (dropping any recorded problem).
    pub fn into_generated(self) -> TicketUpsertInput {
        self.inner
    }

    /// Checks what the facade checks before sending: a non-blank id of at most
    /// [`MAX_ID_LEN`] characters, non-empty property names, and convertible values.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) describing the problem.
    pub fn validate(&self) -> Result<(), Error> {
        match self.problem_text() {
            None => Ok(()),
            Some(why) => Err(Error::invalid_input(why)),
        }
    }

    pub(crate) fn problem_text(&self) -> Option<String> {
        if let Some(p) = &self.problem {
            return Some(format!("record {:?}: {p}", truncate(&self.inner.id, 64)));
        }
        let id = &self.inner.id;
        if id.trim().is_empty() {
            return Some("record has an empty id".to_owned());
        }
        if id.len() > MAX_ID_LEN && id.chars().count() > MAX_ID_LEN {
            return Some(format!(
                "record {:?}: id is {} characters long, over the {MAX_ID_LEN}-character limit",
                truncate(id, 64),
                id.chars().count()
            ));
        }
        if self
            .inner
            .properties
            .keys()
            .any(|k| k.chars().all(char::is_whitespace))
        {
            return Some(format!(
                "record {:?}: a property name is empty",
                truncate(id, 64)
            ));
        }
        None
    }

    fn set_problem(&mut self, why: String) {
        if self.problem.is_none() {
            self.problem = Some(why.into_boxed_str());
        }
    }
}

// Every field is a string, a map of strings or a flag: equality is total.
impl Eq for RecordInput {}

/// What the input holds, without the wire type it wraps.
impl std::fmt::Debug for RecordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordInput")
            .field("id", &self.inner.id)
            .field("id_property", &self.inner.id_property)
            .field("trace_id", &self.inner.object_write_trace_id)
            .field("properties", &self.inner.properties)
            .field("problem", &self.problem)
            .finish()
    }
}

/// `ZD-1 (4 properties)`, or `email=a@example.com (2 properties)` with an
/// `idProperty` of its own; property values are left out.
impl std::fmt::Display for RecordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(name) = &self.inner.id_property {
            write!(f, "{name}=")?;
        }
        let n = self.inner.properties.len();
        let s = if n == 1 { "y" } else { "ies" };
        write!(f, "{} ({n} propert{s})", self.inner.id)
    }
}

impl From<TicketUpsertInput> for RecordInput {
    fn from(inner: TicketUpsertInput) -> Self {
        Self {
            inner,
            problem: None,
        }
    }
}

impl From<RecordInput> for TicketUpsertInput {
    fn from(input: RecordInput) -> Self {
        input.inner
    }
}

/// A value that can be sent as a HubSpot property (always a string on the wire), by the
/// rules that [`to_properties`](crate::records::to_properties) lists.
pub trait IntoPropertyValue {
    /// The wire string, or why there is none.
    ///
    /// # Errors
    /// A short reason (e.g. "NaN cannot be sent") when the value has no representation.
    fn into_property_value(self) -> Result<String, String>;

    /// The value as one item of a list (a `Vec` is a multiple-checkbox value, its items
    /// joined with `;`): `None` when the item is left out. By default the item's
    /// property value, refused when it holds `;`, which HubSpot would split on;
    /// `Option` leaves `None` out and `Vec` refuses itself (lists do not nest).
    ///
    /// # Errors
    /// As [`IntoPropertyValue::into_property_value`], and the item rules above.
    fn into_list_item(self) -> Result<Option<String>, String>
    where
        Self: Sized,
    {
        let item = self.into_property_value()?;
        values::check_item(&item)?;
        Ok(Some(item))
    }
}

impl IntoPropertyValue for String {
    fn into_property_value(self) -> Result<String, String> {
        Ok(self)
    }
}
impl IntoPropertyValue for &str {
    fn into_property_value(self) -> Result<String, String> {
        Ok(self.to_owned())
    }
}
impl IntoPropertyValue for &String {
    fn into_property_value(self) -> Result<String, String> {
        Ok(self.clone())
    }
}
impl IntoPropertyValue for std::borrow::Cow<'_, str> {
    fn into_property_value(self) -> Result<String, String> {
        Ok(self.into_owned())
    }
}
impl IntoPropertyValue for bool {
    fn into_property_value(self) -> Result<String, String> {
        Ok(values::bool_value(self).to_owned())
    }
}
impl IntoPropertyValue for char {
    fn into_property_value(self) -> Result<String, String> {
        Ok(self.to_string())
    }
}
macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl IntoPropertyValue for $t {
            fn into_property_value(self) -> Result<String, String> {
                Ok(self.to_string())
            }
        }
    )*};
}
int_values!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);
impl IntoPropertyValue for f64 {
    fn into_property_value(self) -> Result<String, String> {
        Ok(values::f64_value(self)?)
    }
}
impl IntoPropertyValue for f32 {
    fn into_property_value(self) -> Result<String, String> {
        Ok(values::f32_value(self)?)
    }
}
impl<Tz: TimeZone> IntoPropertyValue for DateTime<Tz> {
    fn into_property_value(self) -> Result<String, String> {
        Ok(self.timestamp_millis().to_string())
    }
}
impl<Tz: TimeZone> IntoPropertyValue for &DateTime<Tz> {
    fn into_property_value(self) -> Result<String, String> {
        Ok(self.timestamp_millis().to_string())
    }
}
impl IntoPropertyValue for NaiveDate {
    fn into_property_value(self) -> Result<String, String> {
        Ok(serialize::date_millis(self).to_string())
    }
}
impl IntoPropertyValue for NaiveDateTime {
    fn into_property_value(self) -> Result<String, String> {
        Ok(self.and_utc().timestamp_millis().to_string())
    }
}
impl<T: IntoPropertyValue> IntoPropertyValue for Option<T> {
    /// `None` clears the property (`""`).
    fn into_property_value(self) -> Result<String, String> {
        match self {
            Some(v) => v.into_property_value(),
            None => Ok(String::new()),
        }
    }
    /// A `None` item is left out of its list.
    fn into_list_item(self) -> Result<Option<String>, String> {
        match self {
            Some(v) => v.into_list_item(),
            None => Ok(None),
        }
    }
}
impl<T: IntoPropertyValue> IntoPropertyValue for Vec<T> {
    /// A multiple-checkbox value: the items joined with `;`.
    fn into_property_value(self) -> Result<String, String> {
        let mut joined = values::Joined::default();
        for item in self {
            if let Some(item) = item.into_list_item()? {
                joined.push(&item)?;
            }
        }
        Ok(joined.finish())
    }
    /// Lists do not nest: HubSpot has no way to tell `[["a", "b"]]` from `["a", "b"]`.
    fn into_list_item(self) -> Result<Option<String>, String> {
        Err(Refusal::NestedList.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_converts_values() {
        let d = NaiveDate::from_ymd_opt(2024, 11, 28).unwrap_or_default();
        let input = RecordInput::new("ZD-1")
            .property("a", 3_u8)
            .property("b", -1.5_f64)
            .property("c", false)
            .property("d", d)
            .property("e", vec!["x", "y"])
            .property("f", None::<&str>)
            .with_trace_id("t");
        let p = input.properties();
        assert_eq!(p["a"], "3");
        assert_eq!(p["b"], "-1.5");
        assert_eq!(p["c"], "false");
        assert_eq!(p["d"], "1732752000000");
        assert_eq!(p["e"], "x;y");
        assert_eq!(p["f"], "");
        assert!(input.validate().is_ok());
        assert_eq!(input.trace_id(), Some("t"));
    }

    /// Code written against the old name still compiles (with a deprecation warning).
    #[test]
    #[allow(deprecated)]
    fn the_old_name_still_builds_inputs() {
        let old: crate::TicketInput = crate::TicketInput::new("ZD-1").with_id_property("p");
        assert_eq!(old, RecordInput::new("ZD-1").with_id_property("p"));
        assert_eq!(old.to_string(), "p=ZD-1 (0 properties)");
    }

    #[test]
    fn bad_values_mark_the_record_without_panicking() {
        let input = RecordInput::new("ZD-9").property("x", f64::NAN);
        let err = input
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("ZD-9") && err.contains("`x`"), "{err}");
        assert!(RecordInput::new("  ").validate().is_err());
        assert!(
            RecordInput::new("x".repeat(MAX_ID_LEN + 1))
                .validate()
                .is_err()
        );
        assert!(RecordInput::new("ok").property("", "v").validate().is_err());
    }
}
