//! The record store of one object type: records, unique-value indexes, snapshots.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fast::{FastMap, map_with_capacity};
use crate::schema::{PropId, Schema, validate_value};

/// A record as kept by the emulator (a ticket, or a record of another object type:
/// see [`StoredRecord`]).
///
/// `properties` holds the values that were written (including the unique value and
/// create defaults), never the computed `hs_object_id`, `createdate` and
/// `hs_lastmodifieddate`. Cleared values are absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredTicket {
    /// The record id (`hs_object_id`).
    pub object_id: u64,
    /// Property values by name.
    pub properties: BTreeMap<String, String>,
    /// Creation time (millisecond precision).
    pub created_at: DateTime<Utc>,
    /// Last write time (millisecond precision).
    pub updated_at: DateTime<Utc>,
}

/// A record of any object type; the same type as [`StoredTicket`].
pub type StoredRecord = StoredTicket;

/// A unique value for which more than one record was created over the store's life
/// (since the last reset): proof of a duplicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateCreate {
    /// The object type (`tickets`, `contacts`, or a custom object's fully qualified
    /// name).
    #[serde(default)]
    pub object_type: String,
    /// The unique property.
    pub property: String,
    /// Its value.
    pub value: String,
    /// How many records were created with it.
    pub creates: u32,
}

/// Why [`Store::insert`] refused a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The property is not in the schema.
    #[error("property {0:?} does not exist")]
    UnknownProperty(String),
    /// The property cannot be written.
    #[error("property {0:?} is read-only")]
    ReadOnly(String),
    /// The value does not fit the property's type.
    #[error("{0}")]
    InvalidValue(String),
    /// No unique property was given a value.
    #[error("a record needs a value for at least one unique property")]
    NoUniqueValue,
    /// Another record already holds this unique value.
    #[error("record {object_id} already has {property}={value:?}")]
    Conflict {
        /// The unique property.
        property: String,
        /// The value.
        value: String,
        /// The record holding it.
        object_id: u64,
    },
}

#[derive(Debug)]
pub(crate) struct Record {
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Sorted by property id.
    pub props: Vec<(PropId, String)>,
}

impl Record {
    pub fn get(&self, p: PropId) -> Option<&str> {
        self.props
            .binary_search_by_key(&p, |(k, _)| *k)
            .ok()
            .map(|i| self.props[i].1.as_str())
    }

    fn set(&mut self, p: PropId, v: &str) {
        match self.props.binary_search_by_key(&p, |(k, _)| *k) {
            Ok(i) => {
                let s = &mut self.props[i].1;
                s.clear();
                s.push_str(v);
            }
            Err(i) => self.props.insert(i, (p, v.to_owned())),
        }
    }

    fn remove(&mut self, p: PropId) -> Option<String> {
        match self.props.binary_search_by_key(&p, |(k, _)| *k) {
            Ok(i) => Some(self.props.remove(i).1),
            Err(_) => None,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct UniqueEntry {
    pub object_id: Option<u64>,
    pub creates: u32,
}

pub(crate) struct StoreInner {
    pub schema: Arc<Schema>,
    pub records: FastMap<u64, Record>,
    /// One index per unique property slot: value -> holder and creation count.
    pub unique: Vec<FastMap<String, UniqueEntry>>,
    pub next_id: u64,
    pub created: u64,
    pub updated: u64,
}

impl StoreInner {
    fn new(schema: Arc<Schema>, first_id: u64) -> Self {
        let unique = schema
            .unique_props
            .iter()
            .map(|_| map_with_capacity(0))
            .collect();
        Self {
            schema,
            records: map_with_capacity(0),
            unique,
            next_id: first_id,
            created: 0,
            updated: 0,
        }
    }

    /// The record currently holding `value` for unique property `prop`.
    pub fn holder(&self, prop: PropId, value: &str) -> Option<u64> {
        let slot = self.schema.unique_slot[usize::from(prop)]?;
        self.unique[slot].get(value).and_then(|e| e.object_id)
    }

    /// Writes one value (or clears it, for `""`), keeping unique indexes right.
    fn write_value(
        schema: &Schema,
        unique: &mut [FastMap<String, UniqueEntry>],
        object_id: u64,
        rec: &mut Record,
        p: PropId,
        v: &str,
    ) {
        match schema.unique_slot[usize::from(p)] {
            None => {
                if v.is_empty() {
                    rec.remove(p);
                } else {
                    rec.set(p, v);
                }
            }
            Some(slot) => {
                if rec.get(p) == Some(v) {
                    return;
                }
                if let Some(old) = rec.remove(p)
                    && let Some(e) = unique[slot].get_mut(&old)
                    && e.object_id == Some(object_id)
                {
                    e.object_id = None;
                }
                if !v.is_empty() {
                    rec.set(p, v);
                    match unique[slot].get_mut(v) {
                        Some(e) => e.object_id = Some(object_id),
                        None => {
                            unique[slot].insert(
                                v.to_owned(),
                                UniqueEntry {
                                    object_id: Some(object_id),
                                    creates: 0,
                                },
                            );
                        }
                    }
                }
            }
        }
    }

    /// Creates a record identified by `(id_prop, id_value)` and applies `ops`.
    pub fn create<'v>(
        &mut self,
        now_ms: i64,
        id_prop: PropId,
        id_value: &str,
        ops: impl Iterator<Item = (PropId, &'v str)>,
    ) -> u64 {
        let object_id = self.next_id;
        self.next_id += 1;
        let schema = Arc::clone(&self.schema);
        let mut rec = Record {
            created_ms: now_ms,
            updated_ms: now_ms,
            props: Vec::with_capacity(8),
        };
        Self::write_value(
            &schema,
            &mut self.unique,
            object_id,
            &mut rec,
            id_prop,
            id_value,
        );
        if let Some(slot) = schema.unique_slot[usize::from(id_prop)]
            && let Some(e) = self.unique[slot].get_mut(id_value)
        {
            e.creates = e.creates.saturating_add(1);
        }
        for (p, v) in ops {
            Self::write_value(&schema, &mut self.unique, object_id, &mut rec, p, v);
        }
        for (p, v) in &schema.create_defaults {
            if rec.get(*p).is_none() {
                Self::write_value(&schema, &mut self.unique, object_id, &mut rec, *p, v);
            }
        }
        self.records.insert(object_id, rec);
        self.created += 1;
        object_id
    }

    /// Merges `ops` into an existing record.
    pub fn update<'v>(
        &mut self,
        object_id: u64,
        now_ms: i64,
        ops: impl Iterator<Item = (PropId, &'v str)>,
    ) {
        let schema = Arc::clone(&self.schema);
        if let Some(rec) = self.records.get_mut(&object_id) {
            for (p, v) in ops {
                Self::write_value(&schema, &mut self.unique, object_id, rec, p, v);
            }
            rec.updated_ms = now_ms;
            self.updated += 1;
        }
    }

    fn ticket(&self, object_id: u64, rec: &Record) -> StoredTicket {
        StoredTicket {
            object_id,
            properties: rec
                .props
                .iter()
                .map(|(p, v)| (self.schema.name(*p).to_owned(), v.clone()))
                .collect(),
            created_at: ms_to_datetime(rec.created_ms),
            updated_at: ms_to_datetime(rec.updated_ms),
        }
    }

    /// Record ids in increasing order.
    fn sorted_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.records.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    fn tickets(&self, ids: impl Iterator<Item = u64>) -> Vec<StoredTicket> {
        ids.filter_map(|id| self.records.get(&id).map(|r| self.ticket(id, r)))
            .collect()
    }

    pub fn duplicate_creates(&self) -> Vec<DuplicateCreate> {
        let mut out = Vec::new();
        for (slot, index) in self.unique.iter().enumerate() {
            let prop = self.schema.name(self.schema.unique_props[slot]);
            for (value, e) in index {
                if e.creates > 1 {
                    out.push(DuplicateCreate {
                        object_type: self.schema.name.clone(),
                        property: prop.to_owned(),
                        value: value.clone(),
                        creates: e.creates,
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.property, &a.value).cmp(&(&b.property, &b.value)));
        out
    }
}

pub(crate) fn ms_to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Thread-safe handle on the records of one object type; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<StoreInner>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("object_type", &self.object_type())
            .field("count", &self.count())
            .finish()
    }
}

/// A snapshot of one store (the tickets-only format of the emulator's state file).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Snapshot {
    pub format: String,
    pub next_object_id: u64,
    pub tickets: Vec<StoredTicket>,
}

pub(crate) const SNAPSHOT_FORMAT: &str = "hubspot-emulator-state/1";

impl Store {
    /// The object type this store holds (`tickets`, `contacts`, or a custom object's
    /// fully qualified name).
    pub fn object_type(&self) -> String {
        self.lock().schema.name.clone()
    }

    /// The object type id (`0-5` for tickets).
    pub fn object_type_id(&self) -> String {
        self.lock().schema.type_id.clone()
    }

    pub(crate) fn new(schema: Arc<Schema>, first_id: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(StoreInner::new(schema, first_id))),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, StoreInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of records.
    pub fn count(&self) -> usize {
        self.lock().records.len()
    }

    /// Every record, by increasing record id.
    pub fn list(&self) -> Vec<StoredTicket> {
        let g = self.lock();
        g.tickets(g.sorted_ids().into_iter())
    }

    /// A page of records, by increasing record id.
    pub fn list_page(&self, offset: usize, limit: usize) -> Vec<StoredTicket> {
        let g = self.lock();
        g.tickets(g.sorted_ids().into_iter().skip(offset).take(limit))
    }

    /// The record with this record id.
    pub fn get(&self, object_id: u64) -> Option<StoredTicket> {
        let g = self.lock();
        g.records.get(&object_id).map(|r| g.ticket(object_id, r))
    }

    /// The record whose unique property `property` has value `value`.
    pub fn get_by_unique(&self, property: &str, value: &str) -> Option<StoredTicket> {
        let g = self.lock();
        let prop = g.schema.lookup(property)?;
        let id = g.holder(prop, value)?;
        g.records.get(&id).map(|r| g.ticket(id, r))
    }

    /// How many records were created with this unique value (since the last reset).
    /// More than 1 means a duplicate was created.
    pub fn creates_for(&self, property: &str, value: &str) -> u32 {
        let g = self.lock();
        let Some(slot) = g
            .schema
            .lookup(property)
            .and_then(|p| g.schema.unique_slot[usize::from(p)])
        else {
            return 0;
        };
        g.unique[slot].get(value).map_or(0, |e| e.creates)
    }

    /// Unique values with more than one creation (empty when no duplicate was made).
    pub fn duplicate_creates(&self) -> Vec<DuplicateCreate> {
        self.lock().duplicate_creates()
    }

    /// Records created and updated by upserts since the last reset.
    pub fn write_counts(&self) -> (u64, u64) {
        let g = self.lock();
        (g.created, g.updated)
    }

    /// Removes every record and resets the creation counters (record ids keep growing).
    pub fn clear(&self) {
        let mut g = self.lock();
        g.records.clear();
        for index in &mut g.unique {
            index.clear();
        }
        g.created = 0;
        g.updated = 0;
    }

    /// Adds a record directly (to seed a test), checking names, values and uniqueness.
    pub fn insert<I, K, V>(&self, properties: I) -> Result<StoredTicket, StoreError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut g = self.lock();
        let schema = Arc::clone(&g.schema);
        let mut ops: Vec<(PropId, String)> = Vec::new();
        for (k, v) in properties {
            let (k, v) = (k.as_ref(), v.as_ref());
            let p = schema
                .lookup(k)
                .ok_or_else(|| StoreError::UnknownProperty(k.to_owned()))?;
            let def = schema.def(p);
            if def.read_only {
                return Err(StoreError::ReadOnly(k.to_owned()));
            }
            validate_value(def, v).map_err(|d| StoreError::InvalidValue(d.message))?;
            ops.push((p, v.to_owned()));
        }
        let mut id: Option<(PropId, String)> = None;
        for (p, v) in &ops {
            if schema.unique_slot[usize::from(*p)].is_some() && !v.is_empty() {
                if let Some(object_id) = g.holder(*p, v) {
                    return Err(StoreError::Conflict {
                        property: schema.name(*p).to_owned(),
                        value: v.clone(),
                        object_id,
                    });
                }
                if id.is_none() {
                    id = Some((*p, v.clone()));
                }
            }
        }
        let (id_prop, id_value) = id.ok_or(StoreError::NoUniqueValue)?;
        let now = Utc::now().timestamp_millis();
        let object_id = g.create(
            now,
            id_prop,
            &id_value,
            ops.iter().map(|(p, v)| (*p, v.as_str())),
        );
        // Seeding is not an upsert: do not count it as one.
        g.created -= 1;
        let rec = g.records.get(&object_id);
        Ok(rec.map_or_else(
            || StoredTicket {
                object_id,
                properties: BTreeMap::new(),
                created_at: ms_to_datetime(now),
                updated_at: ms_to_datetime(now),
            },
            |r| g.ticket(object_id, r),
        ))
    }

    /// Writes a JSON snapshot of this store alone to `path` (atomically, via a temp
    /// file). The emulator's state file holds every object type instead.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let (next_object_id, tickets) = self.records_snapshot();
        let snapshot = Snapshot {
            format: SNAPSHOT_FORMAT.to_owned(),
            next_object_id,
            tickets,
        };
        let bytes = serde_json::to_vec_pretty(&snapshot).map_err(std::io::Error::other)?;
        let tmp = temp_path(path);
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }

    /// Replaces the store's content with a snapshot written by [`Store::save`].
    /// Properties unknown to the current schema are dropped (with a warning).
    pub fn load(&self, path: &Path) -> std::io::Result<usize> {
        let bytes = std::fs::read(path)?;
        let snapshot: Snapshot = serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unknown snapshot format {:?}", snapshot.format),
            ));
        }
        self.check_records(&snapshot.tickets)
            .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidData, m))?;
        Ok(self.replace(snapshot.next_object_id, snapshot.tickets))
    }

    /// The next record id and every record, for a snapshot.
    pub(crate) fn records_snapshot(&self) -> (u64, Vec<StoredTicket>) {
        let g = self.lock();
        (g.next_id, g.tickets(g.sorted_ids().into_iter()))
    }

    /// Refuses a repeated record id or unique value, which would silently overwrite a
    /// record or an index entry if loaded.
    pub(crate) fn check_records(&self, records: &[StoredTicket]) -> Result<(), String> {
        let schema = Arc::clone(&self.lock().schema);
        check_snapshot(&schema, records)
    }

    /// Replaces the content with `records` (checked by [`Store::check_records`]).
    pub(crate) fn replace(&self, next_object_id: u64, records: Vec<StoredTicket>) -> usize {
        let mut g = self.lock();
        let schema = Arc::clone(&g.schema);
        g.records.clear();
        for index in &mut g.unique {
            index.clear();
        }
        let mut max_id = 0;
        let count = records.len();
        for t in records {
            let mut rec = Record {
                created_ms: t.created_at.timestamp_millis(),
                updated_ms: t.updated_at.timestamp_millis(),
                props: Vec::with_capacity(t.properties.len()),
            };
            for (name, value) in &t.properties {
                match schema.lookup(name) {
                    Some(p) if schema.derived[usize::from(p)].is_none() => {
                        StoreInner::write_value(
                            &schema,
                            &mut g.unique,
                            t.object_id,
                            &mut rec,
                            p,
                            value,
                        );
                    }
                    _ => tracing::warn!(
                        object_type = %schema.name,
                        property = %name,
                        record = t.object_id,
                        "state file property not in the schema; dropped"
                    ),
                }
            }
            max_id = max_id.max(t.object_id);
            g.records.insert(t.object_id, rec);
        }
        g.next_id = g.next_id.max(next_object_id).max(max_id.saturating_add(1));
        count
    }
}

/// The temporary file [`Store::save`] writes before renaming it over `path`.
pub(crate) fn temp_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("tmp")
}

/// Finds a repeated object id, or a unique value held by two records, in a snapshot.
fn check_snapshot(schema: &Schema, tickets: &[StoredTicket]) -> Result<(), String> {
    let mut ids = std::collections::HashSet::with_capacity(tickets.len());
    let mut holders: std::collections::HashMap<(&str, &str), u64> =
        std::collections::HashMap::new();
    for t in tickets {
        if !ids.insert(t.object_id) {
            return Err(format!(
                "{} object id {} appears more than once in the state file",
                schema.name, t.object_id
            ));
        }
        for (name, value) in &t.properties {
            let unique = schema
                .lookup(name)
                .is_some_and(|p| schema.unique_slot[usize::from(p)].is_some());
            if !unique || value.is_empty() {
                continue;
            }
            if let Some(first) = holders.insert((name, value), t.object_id) {
                return Err(format!(
                    "{noun} {} repeats the unique value {name}={value:?} of {noun} {first}",
                    t.object_id,
                    noun = schema.noun
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::config::EmulatorConfig;

    fn store() -> Store {
        let schema = Arc::new(
            Schema::standard(
                &EmulatorConfig::default(),
                crate::object_types::StandardObject::Tickets,
            )
            .unwrap(),
        );
        Store::new(schema, 100)
    }

    #[test]
    fn insert_get_and_conflict() {
        let s = store();
        let t = s
            .insert([("external_ticket_id", "A"), ("subject", "x")])
            .unwrap();
        assert_eq!(t.object_id, 100);
        assert_eq!(t.properties["hs_pipeline"], "0");
        assert_eq!(s.get_by_unique("external_ticket_id", "A").unwrap(), t);
        assert!(matches!(
            s.insert([("external_ticket_id", "A")]),
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            s.insert([("subject", "no id")]),
            Err(StoreError::NoUniqueValue)
        ));
        assert!(matches!(
            s.insert([("nope", "x")]),
            Err(StoreError::UnknownProperty(_))
        ));
        assert_eq!(s.count(), 1);
        assert_eq!(s.write_counts(), (0, 0));
    }

    #[test]
    fn update_moves_unique_values() {
        let s = store();
        let schema = Arc::clone(&s.lock().schema);
        let ext = schema.lookup("external_ticket_id").unwrap();
        let subject = schema.lookup("subject").unwrap();
        let id = s.lock().create(1, ext, "A", [(subject, "s")].into_iter());
        s.lock()
            .update(id, 2, [(ext, "B"), (subject, "")].into_iter());
        assert!(s.get_by_unique("external_ticket_id", "A").is_none());
        let t = s.get_by_unique("external_ticket_id", "B").unwrap();
        assert!(!t.properties.contains_key("subject"));
        assert_eq!(s.creates_for("external_ticket_id", "A"), 1);
        // A second create for "A" is a duplicate creation.
        s.lock().create(3, ext, "A", std::iter::empty());
        assert_eq!(s.creates_for("external_ticket_id", "A"), 2);
        assert_eq!(s.duplicate_creates().len(), 1);
    }

    #[test]
    fn snapshot_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let s = store();
        s.insert([("external_ticket_id", "A"), ("subject", "x")])
            .unwrap();
        s.insert([("external_ticket_id", "B")]).unwrap();
        s.save(&path).unwrap();
        let s2 = store();
        assert_eq!(s2.load(&path).unwrap(), 2);
        assert_eq!(s.list(), s2.list());
        let t = s2.insert([("external_ticket_id", "C")]).unwrap();
        assert_eq!(t.object_id, 102);
    }
}
