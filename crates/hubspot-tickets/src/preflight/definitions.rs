//! One object type's property definitions, as the preflight reads them.

use std::collections::HashMap;

use hubspot_tickets_client::types::{PropertyDefinition as WireDefinition, PropertyList};

/// What kind of string a property accepts (HubSpot's `type`, with `fieldType` telling a
/// single choice from several).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueType {
    /// Any text.
    String,
    /// A decimal number (`42`, `-1.5`).
    Number,
    /// `true` or `false`.
    Bool,
    /// One option's value.
    Enumeration,
    /// Several options' values joined with `;` (`fieldType: checkbox`).
    MultipleChoice,
    /// An enumeration whose values come from elsewhere in the account
    /// (`externalOptions`: `hubspot_owner_id` takes owner ids, `OWNER`), so its listed
    /// options say nothing of what may be written: left for HubSpot to judge.
    ExternalOptions {
        /// What the values refer to (`referencedObjectType`), when HubSpot says.
        referenced: Option<String>,
    },
    /// `YYYY-MM-DD`, or epoch milliseconds at midnight UTC.
    Date,
    /// ISO 8601 (RFC 3339), or epoch milliseconds.
    DateTime,
    /// A type the preflight does not check (`phone_number`, `json`...), or a definition
    /// without one: its values are left for HubSpot to judge.
    Other(String),
}

impl ValueType {
    fn from_wire(wire: &WireDefinition) -> Self {
        let (kind, field_type) = (wire.type_.as_deref(), wire.field_type.as_deref());
        if kind == Some("enumeration") && wire.external_options == Some(true) {
            return Self::ExternalOptions {
                referenced: wire.referenced_object_type.clone(),
            };
        }
        match kind {
            Some("string") => Self::String,
            Some("number") => Self::Number,
            Some("bool") => Self::Bool,
            // HubSpot's multiple checkboxes are an enumeration edited as `checkbox`
            // (a single on/off box is `booleancheckbox` on a `bool`).
            Some("enumeration") if field_type == Some("checkbox") => Self::MultipleChoice,
            Some("enumeration") => Self::Enumeration,
            Some("date") => Self::Date,
            Some("datetime") => Self::DateTime,
            other => Self::Other(other.unwrap_or_default().to_owned()),
        }
    }
}

/// One property, reduced to what the checks need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PropertyDefinition {
    /// The internal name.
    pub name: String,
    /// The label shown in HubSpot (often what a spreadsheet column is called).
    pub label: Option<String>,
    /// What values it accepts.
    pub value_type: ValueType,
    /// Enumeration options as (value, label): the value is what is written.
    pub options: Vec<(String, Option<String>)>,
    /// `hasUniqueValue`: only such a property can be an `idProperty`.
    pub unique: bool,
    /// `calculated`: HubSpot computes it; a write is refused.
    pub calculated: bool,
    /// `modificationMetadata.readOnlyValue`: a write is refused.
    pub read_only: bool,
}

impl PropertyDefinition {
    /// From the generated wire type; absent flags read as `false` (HubSpot sends them).
    pub fn from_wire(wire: &WireDefinition) -> Self {
        Self {
            name: wire.name.clone(),
            label: wire.label.clone(),
            value_type: ValueType::from_wire(wire),
            options: wire
                .options
                .iter()
                .map(|o| (o.value.clone(), o.label.clone()))
                .collect(),
            unique: wire.has_unique_value.unwrap_or(false),
            calculated: wire.calculated.unwrap_or(false),
            read_only: wire
                .modification_metadata
                .as_ref()
                .and_then(|m| m.read_only_value)
                .unwrap_or(false),
        }
    }

    /// Whether a value can be written (neither calculated nor read-only).
    pub fn writable(&self) -> bool {
        !self.calculated && !self.read_only
    }
}

/// Every property of one object type, by internal name, with its labels indexed for
/// hints (a column named after a label).
#[derive(Clone, Debug, Default)]
pub struct PropertyDefinitions {
    // foldhash: every property of every record is looked up here.
    by_name: HashMap<String, PropertyDefinition, foldhash::fast::RandomState>,
    /// Lower-cased label or name → internal name, for "did you mean" hints.
    loose: HashMap<String, String, foldhash::fast::RandomState>,
}

impl PropertyDefinitions {
    /// From the properties operation's answer.
    pub fn from_list(list: &PropertyList) -> Self {
        list.results
            .iter()
            .map(PropertyDefinition::from_wire)
            .collect()
    }

    /// The definition of `name`, if the object type has that property.
    pub fn get(&self, name: &str) -> Option<&PropertyDefinition> {
        self.by_name.get(name)
    }

    /// How many properties there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Every definition, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &PropertyDefinition> {
        self.by_name.values()
    }

    /// The internal name `column` probably means: a property with that label, or with
    /// that name in another case (`Ticket name` → `subject`, `Subject` → `subject`).
    pub fn suggest(&self, column: &str) -> Option<&str> {
        self.loose
            .get(&column.trim().to_lowercase())
            .map(String::as_str)
    }
}

impl FromIterator<PropertyDefinition> for PropertyDefinitions {
    fn from_iter<I: IntoIterator<Item = PropertyDefinition>>(iter: I) -> Self {
        let mut out = Self::default();
        for def in iter {
            // Labels first and names after, so a name always wins over another
            // property's identical label.
            if let Some(label) = &def.label {
                out.loose
                    .entry(label.trim().to_lowercase())
                    .or_insert_with(|| def.name.clone());
            }
            out.by_name.insert(def.name.clone(), def);
        }
        for name in out.by_name.keys() {
            out.loose.insert(name.to_lowercase(), name.clone());
        }
        out
    }
}
