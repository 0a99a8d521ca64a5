//! Property definitions: what a property is ([`PropertyDef`], [`PropertyKind`]), the
//! rule for internal names, and the built-in properties of each object type.

use serde::{Deserialize, Serialize};

/// Longest accepted value of a string property, in characters (HubSpot's limit for text).
pub const MAX_STRING_VALUE_LENGTH: usize = 65_536;

/// Properties the emulator computes rather than stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Derived {
    ObjectId,
    CreateDate,
    LastModified,
}

/// The type of a property, which decides which string values it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "options")]
pub enum PropertyKind {
    /// Any text up to [`MAX_STRING_VALUE_LENGTH`] characters.
    String,
    /// A decimal number such as `42` or `-1.5`.
    Number,
    /// `true` or `false`.
    Bool,
    /// One of the listed options (a dropdown or radio select).
    Enumeration(Vec<String>),
    /// Several of the listed options joined with `;` (multiple checkboxes).
    Checkboxes(Vec<String>),
    /// A date: epoch milliseconds at midnight UTC, or `YYYY-MM-DD`.
    Date,
    /// A date and time: epoch milliseconds, or an RFC 3339 timestamp.
    DateTime,
}

/// One property known to the emulator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PropertyDef {
    /// Internal name, as used in `properties` and `idProperty`.
    pub name: String,
    /// What values it accepts.
    pub kind: PropertyKind,
    /// Whether its values are unique across tickets (`hasUniqueValue`): only such a
    /// property can be an upsert's `idProperty`.
    pub unique: bool,
    /// Whether writes to it are refused (per-input error).
    pub read_only: bool,
    /// Whether HubSpot computes it from other properties (`calculated`); such a
    /// property is also read-only.
    #[serde(default)]
    pub calculated: bool,
    /// The name shown in HubSpot's interface; when absent the properties operation
    /// shows one made from the internal name (`ticket_ref` → `Ticket ref`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Labels of enumeration options, by option value; an option without one is shown
    /// with a label made from its value (`HIGH` → `High`), so labels and values differ
    /// as they do at HubSpot, where writing a label instead of a value is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub option_labels: Vec<(String, String)>,
}

impl PropertyDef {
    fn new(name: impl Into<String>, kind: PropertyKind) -> Self {
        Self {
            name: name.into(),
            kind,
            unique: false,
            read_only: false,
            calculated: false,
            label: None,
            option_labels: Vec::new(),
        }
    }

    /// A text property.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::String)
    }

    /// A number property.
    pub fn number(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::Number)
    }

    /// A boolean property (`"true"` / `"false"`).
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::Bool)
    }

    /// A single-choice property with the given options.
    pub fn enumeration<I, S>(name: impl Into<String>, options: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(
            name,
            PropertyKind::Enumeration(options.into_iter().map(Into::into).collect()),
        )
    }

    /// A multiple-checkboxes property with the given options (values joined by `;`).
    pub fn checkboxes<I, S>(name: impl Into<String>, options: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(
            name,
            PropertyKind::Checkboxes(options.into_iter().map(Into::into).collect()),
        )
    }

    /// A date property.
    pub fn date(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::Date)
    }

    /// A date-time property.
    pub fn datetime(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::DateTime)
    }

    /// Marks the property as having unique values (usable as `idProperty`).
    #[must_use]
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Marks the property as read-only.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Marks the property as calculated by HubSpot (and so read-only).
    #[must_use]
    pub fn calculated(mut self) -> Self {
        self.calculated = true;
        self.read_only = true;
        self
    }

    /// Sets the label shown in HubSpot's interface.
    #[must_use]
    pub fn labelled(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the labels of enumeration options, as (value, label) pairs.
    #[must_use]
    pub fn with_option_labels<I, V, L>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = (V, L)>,
        V: Into<String>,
        L: Into<String>,
    {
        for (value, label) in labels {
            let value = value.into();
            self.option_labels.retain(|(v, _)| *v != value);
            self.option_labels.push((value, label.into()));
        }
        self
    }

    /// The label shown for the property.
    pub fn display_label(&self) -> String {
        self.label.clone().unwrap_or_else(|| humanize(&self.name))
    }

    /// The label shown for the option `value`.
    pub fn option_label(&self, value: &str) -> String {
        self.option_labels
            .iter()
            .find(|(v, _)| v == value)
            .map_or_else(|| humanize(value), |(_, l)| l.clone())
    }
}

/// A label made from an internal name or option value: `_` as spaces, the first letter
/// upper-case and the rest lower-case (`PRODUCT_ISSUE` → `Product issue`).
fn humanize(raw: &str) -> String {
    let spaced = raw.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// Adds `property` to a schema, replacing one of the same name.
pub(crate) fn put_property(schema: &mut Vec<PropertyDef>, property: PropertyDef) {
    schema.retain(|p| p.name != property.name);
    schema.push(property);
}

/// Longest property internal name HubSpot accepts.
pub const MAX_PROPERTY_NAME_LENGTH: usize = 100;

/// Checks a property internal name against HubSpot's rule: a lowercase letter, then
/// lowercase letters, digits and `_`, at most [`MAX_PROPERTY_NAME_LENGTH`] characters.
pub fn validate_property_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > MAX_PROPERTY_NAME_LENGTH {
        return Err(format!(
            "invalid property name {name:?}: HubSpot internal names start with a lowercase \
             letter, then use lowercase letters, digits and _ only, at most \
             {MAX_PROPERTY_NAME_LENGTH} characters"
        ));
    }
    Ok(())
}

/// The built-in ticket properties the emulator knows about.
///
/// `hs_object_id`, `createdate` and `hs_lastmodifieddate` are read-only and computed by
/// the emulator; `time_to_close` is calculated (read-only, never filled in here).
/// `hs_object_id` is not a unique property as far as upserts are concerned (HubSpot
/// refuses it as `idProperty`).
pub fn builtin_ticket_properties() -> Vec<PropertyDef> {
    vec![
        PropertyDef::number("hs_object_id").read_only(),
        PropertyDef::datetime("createdate").read_only(),
        PropertyDef::datetime("hs_lastmodifieddate").read_only(),
        PropertyDef::string("subject").labelled("Ticket name"),
        PropertyDef::string("content").labelled("Ticket description"),
        PropertyDef::enumeration("hs_pipeline", ["0"])
            .labelled("Pipeline")
            .with_option_labels([("0", "Support Pipeline")]),
        PropertyDef::enumeration("hs_pipeline_stage", ["1", "2", "3", "4"])
            .labelled("Ticket status")
            .with_option_labels([
                ("1", "New"),
                ("2", "Waiting on contact"),
                ("3", "Waiting on us"),
                ("4", "Closed"),
            ]),
        PropertyDef::enumeration("hs_ticket_priority", ["LOW", "MEDIUM", "HIGH"])
            .labelled("Priority"),
        PropertyDef::checkboxes(
            "hs_ticket_category",
            [
                "PRODUCT_ISSUE",
                "BILLING_ISSUE",
                "FEATURE_REQUEST",
                "GENERAL_INQUIRY",
            ],
        ),
        PropertyDef::enumeration("source_type", ["CHAT", "EMAIL", "FORM", "PHONE"]),
        PropertyDef::number("hubspot_owner_id"),
        PropertyDef::datetime("closed_date"),
        // Computed by HubSpot from the create and close dates: listed by the
        // properties operation as calculated, refused on write like the read-only ones.
        PropertyDef::number("time_to_close").calculated(),
    ]
}

/// The built-in contact properties: `email` is the one unique property.
pub(crate) fn builtin_contact_properties() -> Vec<PropertyDef> {
    vec![
        PropertyDef::number("hs_object_id").read_only(),
        PropertyDef::datetime("createdate").read_only(),
        PropertyDef::datetime("lastmodifieddate").read_only(),
        PropertyDef::string("email").unique(),
        PropertyDef::string("firstname"),
        PropertyDef::string("lastname"),
        PropertyDef::string("phone"),
        PropertyDef::string("company"),
        PropertyDef::string("website"),
        PropertyDef::string("jobtitle"),
        PropertyDef::enumeration(
            "lifecyclestage",
            [
                "subscriber",
                "lead",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "customer",
                "evangelist",
                "other",
            ],
        ),
        PropertyDef::number("hubspot_owner_id"),
    ]
}

/// The built-in company properties; none is unique (a custom unique property is needed
/// to upsert companies).
pub(crate) fn builtin_company_properties() -> Vec<PropertyDef> {
    vec![
        PropertyDef::number("hs_object_id").read_only(),
        PropertyDef::datetime("createdate").read_only(),
        PropertyDef::datetime("hs_lastmodifieddate").read_only(),
        PropertyDef::string("name"),
        // Not unique at HubSpot: several companies may share a domain.
        PropertyDef::string("domain"),
        PropertyDef::string("phone"),
        PropertyDef::string("city"),
        PropertyDef::string("country"),
        PropertyDef::number("numberofemployees"),
        PropertyDef::number("annualrevenue"),
        PropertyDef::enumeration(
            "lifecyclestage",
            ["lead", "opportunity", "customer", "other"],
        ),
        PropertyDef::number("hubspot_owner_id"),
    ]
}

/// The built-in deal properties; none is unique (a custom unique property is needed to
/// upsert deals).
pub(crate) fn builtin_deal_properties() -> Vec<PropertyDef> {
    vec![
        PropertyDef::number("hs_object_id").read_only(),
        PropertyDef::datetime("createdate").read_only(),
        PropertyDef::datetime("hs_lastmodifieddate").read_only(),
        PropertyDef::string("dealname"),
        PropertyDef::number("amount"),
        PropertyDef::enumeration(
            "dealstage",
            [
                "appointmentscheduled",
                "qualifiedtobuy",
                "presentationscheduled",
                "decisionmakerboughtin",
                "contractsent",
                "closedwon",
                "closedlost",
            ],
        ),
        PropertyDef::enumeration("pipeline", ["default"]),
        PropertyDef::datetime("closedate"),
        PropertyDef::enumeration("dealtype", ["newbusiness", "existingbusiness"]),
        PropertyDef::number("hubspot_owner_id"),
    ]
}

/// The built-in properties of every custom object.
pub(crate) fn builtin_custom_object_properties() -> Vec<PropertyDef> {
    vec![
        PropertyDef::number("hs_object_id").read_only(),
        PropertyDef::datetime("hs_createdate").read_only(),
        PropertyDef::datetime("hs_lastmodifieddate").read_only(),
    ]
}
