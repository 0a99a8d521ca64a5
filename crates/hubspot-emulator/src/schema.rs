//! One object type's property schema, compiled for the upsert path (lookup by name,
//! unique slots, computed properties, create defaults), and the check of a value against
//! its property's type.

use crate::config::EmulatorConfig;
use crate::fast::{FastMap, map_with_capacity};
use crate::object_types::{CUSTOM_DERIVED, CustomObjectDef, StandardObject};
use crate::properties::{
    Derived, MAX_STRING_VALUE_LENGTH, PropertyDef, PropertyKind, validate_property_name,
};

/// Index of a property in [`Schema::defs`].
pub(crate) type PropId = u16;

/// One problem with one input, as reported in a 207 error or a refused batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Detail {
    pub code: &'static str,
    pub message: String,
    pub property: Option<String>,
}

impl Detail {
    pub fn new(code: &'static str, message: String, property: Option<&str>) -> Self {
        Self {
            code,
            message,
            property: property.map(str::to_owned),
        }
    }
}

/// How one object type's schema is compiled.
pub(crate) struct ObjectSpec<'a> {
    pub type_id: &'a str,
    pub name: &'a str,
    pub noun: &'a str,
    pub properties: Vec<PropertyDef>,
    pub derived: &'a [(&'a str, Derived)],
    pub echo: &'a [&'a str],
    pub create_defaults: &'a [(String, String)],
    pub required_on_create: &'a [String],
    /// Refuse a schema without a unique property (nothing could be upserted).
    pub needs_unique: bool,
}

impl<'a> ObjectSpec<'a> {
    pub fn custom(def: &'a CustomObjectDef) -> Self {
        // A configured property replaces a built-in of the same name, as
        // `with_property` does for tickets, so redefining a computed one is refused as such.
        let mut properties = CustomObjectDef::builtin_properties();
        properties.retain(|b| def.properties.iter().all(|p| p.name != b.name));
        properties.extend(def.properties.iter().cloned());
        Self {
            type_id: &def.object_type_id,
            name: &def.fully_qualified_name,
            noun: "record",
            properties,
            derived: CUSTOM_DERIVED,
            echo: &["hs_object_id", "hs_createdate", "hs_lastmodifieddate"],
            create_defaults: &[],
            required_on_create: &[],
            needs_unique: true,
        }
    }
}

pub(crate) struct Schema {
    /// Object type id (`0-5`), for record URLs.
    pub type_id: String,
    /// Name (`tickets`) or fully qualified name of a custom object.
    pub name: String,
    /// One record of this type, in messages (`ticket`).
    pub noun: String,
    pub defs: Vec<PropertyDef>,
    by_name: FastMap<String, PropId>,
    /// Each name as a JSON object key, `"name":`, escaped once.
    pub key_json: Vec<Vec<u8>>,
    /// For each property, its slot in the store's unique indexes (if unique).
    pub unique_slot: Vec<Option<usize>>,
    /// Property of each unique slot.
    pub unique_props: Vec<PropId>,
    pub derived: Vec<Option<Derived>>,
    pub echo_default: Vec<PropId>,
    pub create_defaults: Vec<(PropId, String)>,
    pub required_on_create: Vec<PropId>,
}

impl Schema {
    /// The schema of a standard object type, as configured.
    pub fn standard(config: &EmulatorConfig, object: StandardObject) -> Result<Self, String> {
        let (create_defaults, required_on_create): (&[_], &[_]) = match object {
            StandardObject::Tickets => (&config.create_defaults, &config.required_on_create),
            _ => (&[], &[]),
        };
        Self::compile(&ObjectSpec {
            type_id: object.type_id(),
            name: object.name(),
            noun: object.noun(),
            properties: config.properties_of(object),
            derived: object.derived(),
            echo: object.echo(),
            create_defaults,
            required_on_create,
            // Tickets have always needed one (the default config adds it); contacts have
            // `email`; companies and deals have none until configured, like at HubSpot.
            needs_unique: object == StandardObject::Tickets,
        })
    }

    pub fn compile(spec: &ObjectSpec<'_>) -> Result<Self, String> {
        let defs = spec.properties.clone();
        if defs.len() > usize::from(u16::MAX) {
            return Err("too many properties".to_owned());
        }
        let mut by_name = map_with_capacity(defs.len());
        let mut unique_slot = Vec::with_capacity(defs.len());
        let mut unique_props = Vec::new();
        let mut derived = Vec::with_capacity(defs.len());
        for (i, def) in defs.iter().enumerate() {
            let id = PropId::try_from(i).map_err(|_| "too many properties".to_owned())?;
            validate_property_name(&def.name)?;
            if by_name.insert(def.name.clone(), id).is_some() {
                return Err(format!("property {:?} is defined twice", def.name));
            }
            if let PropertyKind::Enumeration(o) | PropertyKind::Checkboxes(o) = &def.kind
                && o.is_empty()
            {
                return Err(format!("property {:?} has no options", def.name));
            }
            let d = spec
                .derived
                .iter()
                .find(|(n, _)| *n == def.name)
                .map(|(_, d)| *d);
            // The computed properties stay what HubSpot makes them: read-only, never an
            // idProperty.
            if d.is_some() && (def.unique || !def.read_only) {
                return Err(format!(
                    "property {:?} is read-only (computed by HubSpot): it cannot be redefined or made unique",
                    def.name
                ));
            }
            derived.push(d);
            if def.unique && d.is_none() {
                unique_slot.push(Some(unique_props.len()));
                unique_props.push(id);
            } else {
                unique_slot.push(None);
            }
        }
        if spec.needs_unique && unique_props.is_empty() {
            return Err(format!(
                "the {} schema has no unique property, so no upsert could succeed",
                spec.name
            ));
        }
        let echo_default = spec
            .echo
            .iter()
            .filter_map(|n| by_name.get(*n).copied())
            .collect();
        let mut create_defaults = Vec::new();
        for (name, value) in spec.create_defaults {
            let id = *by_name
                .get(name)
                .ok_or_else(|| format!("create default for unknown property {name:?}"))?;
            if let Err(d) = validate_value(&defs[usize::from(id)], value) {
                return Err(format!("create default {name}={value:?}: {}", d.message));
            }
            create_defaults.push((id, value.clone()));
        }
        let mut required_on_create = Vec::new();
        for name in spec.required_on_create {
            let id = *by_name
                .get(name)
                .ok_or_else(|| format!("required property {name:?} is not in the schema"))?;
            required_on_create.push(id);
        }
        let key_json = defs
            .iter()
            .map(|d| {
                let mut k = serde_json::to_vec(&d.name).unwrap_or_default();
                k.push(b':');
                k
            })
            .collect();
        Ok(Self {
            type_id: spec.type_id.to_owned(),
            name: spec.name.to_owned(),
            noun: spec.noun.to_owned(),
            defs,
            by_name,
            key_json,
            unique_slot,
            unique_props,
            derived,
            echo_default,
            create_defaults,
            required_on_create,
        })
    }

    pub fn lookup(&self, name: &str) -> Option<PropId> {
        self.by_name.get(name).copied()
    }

    pub fn def(&self, id: PropId) -> &PropertyDef {
        &self.defs[usize::from(id)]
    }

    pub fn name(&self, id: PropId) -> &str {
        &self.defs[usize::from(id)].name
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }
}

/// Checks one non-empty-or-empty string value against a property's type. `""` always
/// passes: it clears the value.
pub(crate) fn validate_value(def: &PropertyDef, value: &str) -> Result<(), Detail> {
    if value.is_empty() {
        return Ok(());
    }
    let name = def.name.as_str();
    let bad = |code: &'static str, what: &str| {
        Err(Detail::new(
            code,
            format!("{value:?} is not a valid {what} for property \"{name}\""),
            Some(name),
        ))
    };
    match &def.kind {
        PropertyKind::String => {
            if value.len() > MAX_STRING_VALUE_LENGTH
                && value.chars().count() > MAX_STRING_VALUE_LENGTH
            {
                return Err(Detail::new(
                    "VALUE_TOO_LONG",
                    format!(
                        "Property \"{name}\" value is longer than {MAX_STRING_VALUE_LENGTH} characters"
                    ),
                    Some(name),
                ));
            }
            Ok(())
        }
        PropertyKind::Number => {
            if is_decimal_number(value) {
                Ok(())
            } else {
                bad("INVALID_NUMBER", "number")
            }
        }
        PropertyKind::Bool => {
            if value == "true" || value == "false" {
                Ok(())
            } else {
                bad("INVALID_BOOLEAN", "boolean (use \"true\" or \"false\")")
            }
        }
        PropertyKind::Enumeration(options) => {
            if options.iter().any(|o| o == value) {
                Ok(())
            } else {
                Err(Detail::new(
                    "INVALID_OPTION",
                    format!(
                        "{value:?} was not one of the allowed options for property \"{name}\": [{}]",
                        options.join(", ")
                    ),
                    Some(name),
                ))
            }
        }
        PropertyKind::Checkboxes(options) => {
            // Empty pieces choose nothing (HubSpot's own values start with `;`).
            for part in value.split(';').filter(|p| !p.is_empty()) {
                if !options.iter().any(|o| o == part) {
                    return Err(Detail::new(
                        "INVALID_OPTION",
                        format!(
                            "{part:?} was not one of the allowed options for property \"{name}\": [{}]",
                            options.join(", ")
                        ),
                        Some(name),
                    ));
                }
            }
            Ok(())
        }
        PropertyKind::Date => {
            if let Ok(ms) = value.parse::<i64>() {
                if ms.rem_euclid(86_400_000) == 0 {
                    Ok(())
                } else {
                    Err(Detail::new(
                        "INVALID_DATE",
                        format!(
                            "{value} is not midnight UTC; date property \"{name}\" needs epoch milliseconds at midnight UTC"
                        ),
                        Some(name),
                    ))
                }
            } else if chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
                || chrono::DateTime::parse_from_rfc3339(value)
                    .is_ok_and(|t| t.timestamp_millis().rem_euclid(86_400_000) == 0)
            {
                // A day, or ISO 8601 at midnight UTC.
                Ok(())
            } else {
                bad("INVALID_DATE", "date")
            }
        }
        PropertyKind::DateTime => {
            // ISO 8601 with a time or a day alone (taken as its midnight UTC), or epoch
            // milliseconds.
            if value.parse::<i64>().is_ok()
                || chrono::DateTime::parse_from_rfc3339(value).is_ok()
                || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
            {
                Ok(())
            } else {
                bad("INVALID_DATETIME", "datetime")
            }
        }
    }
}

fn is_decimal_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match frac {
        None => all_digits(int),
        Some(f) => (all_digits(int) || int.is_empty()) && all_digits(f),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::object_types::DEFAULT_ECHO;

    #[test]
    fn values() {
        let n = PropertyDef::number("n");
        for ok in ["0", "42", "-1.5", ".5", ""] {
            assert!(validate_value(&n, ok).is_ok(), "{ok}");
        }
        for bad in ["abc", "1e5", "1.", "--1", "NaN", " 1"] {
            assert!(validate_value(&n, bad).is_err(), "{bad}");
        }
        let b = PropertyDef::boolean("b");
        assert!(validate_value(&b, "true").is_ok());
        assert!(validate_value(&b, "yes").is_err());
        let d = PropertyDef::date("d");
        assert!(validate_value(&d, "1732752000000").is_ok());
        assert!(validate_value(&d, "2024-11-28").is_ok());
        assert!(validate_value(&d, "1732752000001").is_err());
        let dt = PropertyDef::datetime("dt");
        assert!(validate_value(&dt, "1732752000001").is_ok());
        assert!(validate_value(&dt, "2024-11-28T10:00:00.000Z").is_ok());
        assert!(validate_value(&dt, "yesterday").is_err());
        let c = PropertyDef::checkboxes("c", ["A", "B"]);
        assert!(validate_value(&c, "A;B").is_ok());
        assert!(validate_value(&c, "A;C").is_err());
        let e = PropertyDef::enumeration("e", ["LOW"]);
        let err = validate_value(&e, "URGENT").unwrap_err();
        assert_eq!(err.code, "INVALID_OPTION");
    }

    #[test]
    fn default_schema_compiles() {
        let s = Schema::standard(&EmulatorConfig::default(), StandardObject::Tickets).unwrap();
        assert_eq!(s.unique_props.len(), 1);
        assert!(s.lookup("hs_object_id").is_some());
        assert!(s.unique_slot[usize::from(s.lookup("hs_object_id").unwrap())].is_none());
        assert_eq!(s.echo_default.len(), DEFAULT_ECHO.len());
        assert!(
            Schema::standard(
                &EmulatorConfig {
                    properties: crate::properties::builtin_ticket_properties(),
                    ..EmulatorConfig::default()
                },
                StandardObject::Tickets
            )
            .is_err()
        );
        let contacts =
            Schema::standard(&EmulatorConfig::default(), StandardObject::Contacts).unwrap();
        assert_eq!(contacts.unique_props.len(), 1);
        assert_eq!(contacts.name(contacts.unique_props[0]), "email");
        assert!(
            contacts.derived[usize::from(contacts.lookup("lastmodifieddate").unwrap())].is_some()
        );
        let companies =
            Schema::standard(&EmulatorConfig::default(), StandardObject::Companies).unwrap();
        assert!(companies.unique_props.is_empty(), "domain is not unique");
    }
}
