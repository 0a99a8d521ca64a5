//! CRM object type definitions: the standard ones (tickets, contacts, companies, deals)
//! and custom objects, with their names, ids, scopes, built-in and computed properties,
//! and how a path's `{objectType}` (name, id or fully qualified name) names one of them.

use serde::{Deserialize, Serialize};

use crate::properties::{
    Derived, PropertyDef, builtin_company_properties, builtin_contact_properties,
    builtin_custom_object_properties, builtin_deal_properties, builtin_ticket_properties,
    put_property,
};

/// Ticket property names echoed on every result (when they exist in the schema), besides
/// the `idProperty` and the properties the input sent.
pub const DEFAULT_ECHO: [&str; 8] = [
    "hs_object_id",
    "createdate",
    "hs_lastmodifieddate",
    "hs_pipeline",
    "hs_pipeline_stage",
    "hs_ticket_priority",
    "subject",
    "content",
];

/// A standard CRM object type the emulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandardObject {
    /// `tickets`, `0-5`.
    Tickets,
    /// `contacts`, `0-1`.
    Contacts,
    /// `companies`, `0-2`.
    Companies,
    /// `deals`, `0-3`.
    Deals,
}

impl StandardObject {
    /// Every standard object type, tickets first.
    pub const ALL: [StandardObject; 4] = [
        StandardObject::Tickets,
        StandardObject::Contacts,
        StandardObject::Companies,
        StandardObject::Deals,
    ];

    /// The name used in paths (`tickets`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Tickets => "tickets",
            Self::Contacts => "contacts",
            Self::Companies => "companies",
            Self::Deals => "deals",
        }
    }

    /// The object type id (`0-5` for tickets), also used in record URLs.
    pub fn type_id(self) -> &'static str {
        match self {
            Self::Tickets => "0-5",
            Self::Contacts => "0-1",
            Self::Companies => "0-2",
            Self::Deals => "0-3",
        }
    }

    /// The scope a token needs to write this object type.
    pub fn required_scope(self) -> &'static str {
        match self {
            Self::Tickets => "tickets",
            Self::Contacts => "crm.objects.contacts.write",
            Self::Companies => "crm.objects.companies.write",
            Self::Deals => "crm.objects.deals.write",
        }
    }

    /// The name or object type id given, if it is a standard object's.
    pub fn parse(s: &str) -> Option<StandardObject> {
        Self::ALL
            .into_iter()
            .find(|o| o.name() == s || o.type_id() == s)
    }

    /// The built-in properties the emulator knows for this object type. Only contacts
    /// have a built-in unique one (`email`); the others need a custom unique property
    /// to be upserted.
    pub fn builtin_properties(self) -> Vec<PropertyDef> {
        match self {
            Self::Tickets => builtin_ticket_properties(),
            Self::Contacts => builtin_contact_properties(),
            Self::Companies => builtin_company_properties(),
            Self::Deals => builtin_deal_properties(),
        }
    }

    /// The read-only properties computed by HubSpot, by name.
    pub(crate) fn derived(self) -> &'static [(&'static str, Derived)] {
        match self {
            Self::Contacts => &[
                ("hs_object_id", Derived::ObjectId),
                ("createdate", Derived::CreateDate),
                ("lastmodifieddate", Derived::LastModified),
            ],
            _ => &[
                ("hs_object_id", Derived::ObjectId),
                ("createdate", Derived::CreateDate),
                ("hs_lastmodifieddate", Derived::LastModified),
            ],
        }
    }

    /// Properties echoed on every result (when in the schema), besides the idProperty
    /// and the properties the input sent.
    pub(crate) fn echo(self) -> &'static [&'static str] {
        match self {
            Self::Tickets => &DEFAULT_ECHO,
            Self::Contacts => &[
                "hs_object_id",
                "createdate",
                "lastmodifieddate",
                "email",
                "firstname",
                "lastname",
            ],
            Self::Companies => &[
                "hs_object_id",
                "createdate",
                "hs_lastmodifieddate",
                "name",
                "domain",
            ],
            Self::Deals => &[
                "hs_object_id",
                "createdate",
                "hs_lastmodifieddate",
                "dealname",
                "amount",
                "dealstage",
                "pipeline",
            ],
        }
    }

    /// One record of this type, in messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Tickets => "ticket",
            Self::Contacts => "contact",
            Self::Companies => "company",
            Self::Deals => "deal",
        }
    }
}

impl std::fmt::Display for StandardObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The scope a token needs to write any custom object.
pub const CUSTOM_OBJECT_SCOPE: &str = "crm.objects.custom.write";

/// Read-only properties every custom object has.
pub(crate) const CUSTOM_DERIVED: &[(&str, Derived)] = &[
    ("hs_object_id", Derived::ObjectId),
    ("hs_createdate", Derived::CreateDate),
    ("hs_lastmodifieddate", Derived::LastModified),
];

/// A custom object type: its id (`2-<n>`), its fully qualified name
/// (`p_<portal>_<name>`) and its properties, at least one of them unique.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomObjectDef {
    /// Object type id, `2-` and digits.
    pub object_type_id: String,
    /// Fully qualified name, `p_<portal>_<name>` (`p<portal>_<name>` is accepted too).
    pub fully_qualified_name: String,
    /// Properties besides the built-in `hs_object_id`, `hs_createdate` and
    /// `hs_lastmodifieddate`.
    pub properties: Vec<PropertyDef>,
}

impl CustomObjectDef {
    /// A custom object with no properties yet (add a unique one before use).
    pub fn new(object_type_id: impl Into<String>, fully_qualified_name: impl Into<String>) -> Self {
        Self {
            object_type_id: object_type_id.into(),
            fully_qualified_name: fully_qualified_name.into(),
            properties: Vec::new(),
        }
    }

    /// Adds a property, replacing one of the same name.
    #[must_use]
    pub fn with_property(mut self, property: PropertyDef) -> Self {
        put_property(&mut self.properties, property);
        self
    }

    /// Adds a unique text property (usable as `idProperty`).
    #[must_use]
    pub fn with_unique_property(self, name: impl Into<String>) -> Self {
        self.with_property(PropertyDef::string(name).unique())
    }

    /// The built-in properties of every custom object.
    pub fn builtin_properties() -> Vec<PropertyDef> {
        builtin_custom_object_properties()
    }

    /// Checks the id and name forms, and that some property is unique.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let digits = self.object_type_id.strip_prefix("2-").unwrap_or_default();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "custom object id {:?} must be 2-<digits>, such as 2-123",
                self.object_type_id
            ));
        }
        if parse_fqn(&self.fully_qualified_name).is_none() {
            return Err(format!(
                "custom object name {:?} must be p_<portal>_<name>, such as p_2418337_cars",
                self.fully_qualified_name
            ));
        }
        if !self.properties.iter().any(|p| p.unique) {
            return Err(format!(
                "custom object {} has no unique property, so no upsert could succeed",
                self.fully_qualified_name
            ));
        }
        Ok(())
    }
}

/// `p_<portal>_<name>` or `p<portal>_<name>` -> `(portal, name)`.
pub(crate) fn parse_fqn(s: &str) -> Option<(u64, &str)> {
    let rest = s.strip_prefix('p')?;
    let rest = rest.strip_prefix('_').unwrap_or(rest);
    let (portal, name) = rest.split_once('_')?;
    if portal.is_empty() || !portal.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    Some((portal.parse().ok()?, name))
}

/// What a path's `{objectType}` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ObjectKey {
    Standard(StandardObject),
    /// Index into the configured custom objects.
    Custom(usize),
}

/// Resolves a name, object type id or fully qualified name.
pub(crate) fn resolve(custom: &[CustomObjectDef], s: &str) -> Option<ObjectKey> {
    if let Some(o) = StandardObject::parse(s) {
        return Some(ObjectKey::Standard(o));
    }
    if let Some(i) = custom.iter().position(|c| c.object_type_id == s) {
        return Some(ObjectKey::Custom(i));
    }
    let wanted = parse_fqn(s)?;
    custom
        .iter()
        .position(|c| parse_fqn(&c.fully_qualified_name) == Some(wanted))
        .map(ObjectKey::Custom)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn names_ids_and_fully_qualified_names_resolve() {
        let custom = vec![
            CustomObjectDef::new("2-123", "p_2418337_cars").with_unique_property("vin"),
            CustomObjectDef::new("2-7", "p99_boats").with_unique_property("hull"),
        ];
        assert_eq!(
            resolve(&custom, "0-1"),
            Some(ObjectKey::Standard(StandardObject::Contacts))
        );
        assert_eq!(
            resolve(&custom, "tickets"),
            Some(ObjectKey::Standard(StandardObject::Tickets))
        );
        assert_eq!(resolve(&custom, "2-123"), Some(ObjectKey::Custom(0)));
        assert_eq!(
            resolve(&custom, "p_2418337_cars"),
            Some(ObjectKey::Custom(0))
        );
        assert_eq!(
            resolve(&custom, "p2418337_cars"),
            Some(ObjectKey::Custom(0))
        );
        assert_eq!(resolve(&custom, "p_99_boats"), Some(ObjectKey::Custom(1)));
        for unknown in [
            "foo",
            "2-124",
            "p_1_cars",
            "p_2418337_",
            "0-9",
            "",
            "Tickets",
        ] {
            assert_eq!(resolve(&custom, unknown), None, "{unknown}");
        }
    }

    #[test]
    fn custom_objects_are_checked() {
        let ok = CustomObjectDef::new("2-1", "p_1_x").with_unique_property("k");
        assert!(ok.validate().is_ok());
        assert!(CustomObjectDef::new("2-1", "p_1_x").validate().is_err());
        let bad_id = CustomObjectDef::new("3-1", "p_1_x").with_unique_property("k");
        assert!(bad_id.validate().is_err());
        let bad_name = CustomObjectDef::new("2-1", "cars").with_unique_property("k");
        assert!(bad_name.validate().is_err());
    }
}
