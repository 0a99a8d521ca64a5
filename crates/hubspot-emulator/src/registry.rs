//! The runtime registry of served object types: for each one, its compiled schema, its
//! store and the scope that writes it, and how a path's `{objectType}` finds its entry.

use std::sync::Arc;

use crate::config::EmulatorConfig;
use crate::object_types::{
    CUSTOM_OBJECT_SCOPE, CustomObjectDef, ObjectKey, StandardObject, resolve,
};
use crate::schema::{ObjectSpec, Schema};
use crate::store::Store;

/// One served object type: its schema, its store and the scope that writes it.
pub(crate) struct ObjectEntry {
    pub schema: Arc<Schema>,
    pub store: Store,
    pub scope: &'static str,
}

/// Every object type the emulator serves, each with its own store.
pub(crate) struct Registry {
    /// In [`StandardObject::ALL`] order.
    standard: Vec<ObjectEntry>,
    custom: Vec<ObjectEntry>,
    custom_defs: Vec<CustomObjectDef>,
}

impl Registry {
    pub fn build(config: &EmulatorConfig) -> Result<Self, String> {
        let standard = StandardObject::ALL
            .into_iter()
            .map(|o| {
                let schema = Arc::new(Schema::standard(config, o)?);
                Ok(ObjectEntry {
                    store: Store::new(Arc::clone(&schema), config.first_object_id),
                    schema,
                    scope: o.required_scope(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let custom = config
            .custom_objects
            .iter()
            .map(|def| {
                let schema = Arc::new(
                    Schema::compile(&ObjectSpec::custom(def))
                        .map_err(|e| format!("custom object {}: {e}", def.fully_qualified_name))?,
                );
                Ok(ObjectEntry {
                    store: Store::new(Arc::clone(&schema), config.first_object_id),
                    schema,
                    scope: CUSTOM_OBJECT_SCOPE,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            standard,
            custom,
            custom_defs: config.custom_objects.clone(),
        })
    }

    /// The entry a path's `{objectType}` names, if served.
    pub fn resolve(&self, object_type: &str) -> Option<&ObjectEntry> {
        match resolve(&self.custom_defs, object_type)? {
            ObjectKey::Standard(o) => self.standard(o),
            ObjectKey::Custom(i) => self.custom.get(i),
        }
    }

    pub fn standard(&self, object: StandardObject) -> Option<&ObjectEntry> {
        let i = StandardObject::ALL.iter().position(|o| *o == object)?;
        self.standard.get(i)
    }

    /// The tickets entry (always built first).
    pub fn tickets(&self) -> &ObjectEntry {
        &self.standard[0]
    }

    /// Every entry, tickets first.
    pub fn all(&self) -> impl Iterator<Item = &ObjectEntry> {
        self.standard.iter().chain(&self.custom)
    }
}
