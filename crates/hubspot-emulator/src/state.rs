//! The state file: every object type's records, saved at shutdown and loaded at start.
//!
//! Format 2 holds one entry per object type; format 1 (tickets only, written by earlier
//! versions) is still loaded, into the tickets store.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::registry::{ObjectEntry, Registry};
use crate::store::{SNAPSHOT_FORMAT, Snapshot, StoredRecord, temp_path};

const STATE_FORMAT: &str = "hubspot-emulator-state/2";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    format: String,
    objects: Vec<ObjectState>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectState {
    /// `0-5`, `2-123`...: how the entry finds its store again.
    object_type_id: String,
    /// `tickets`, `p_2418337_cars`...: for people reading the file.
    object_type: String,
    next_object_id: u64,
    records: Vec<StoredRecord>,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: String,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Writes every object type's records to `path` (atomically, via a temp file).
pub(crate) fn save(registry: &Registry, path: &Path) -> io::Result<()> {
    let objects = registry
        .all()
        .map(|e| {
            let (next_object_id, records) = e.store.records_snapshot();
            ObjectState {
                object_type_id: e.schema.type_id.clone(),
                object_type: e.schema.name.clone(),
                next_object_id,
                records,
            }
        })
        .collect();
    let state = State {
        format: STATE_FORMAT.to_owned(),
        objects,
    };
    let bytes = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
    let tmp = temp_path(path);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Replaces every store's content with the file's, after checking all of it (a bad
/// file changes nothing). Object types no longer configured are dropped with a warning.
/// Returns how many records were loaded.
pub(crate) fn load(registry: &Registry, path: &Path) -> io::Result<usize> {
    let bytes = std::fs::read(path)?;
    let FormatOnly { format } = serde_json::from_slice(&bytes).map_err(invalid_json)?;
    let entries: Vec<(&ObjectEntry, u64, Vec<StoredRecord>)> = match format.as_str() {
        SNAPSHOT_FORMAT => {
            let s: Snapshot = serde_json::from_slice(&bytes).map_err(invalid_json)?;
            vec![(registry.tickets(), s.next_object_id, s.tickets)]
        }
        STATE_FORMAT => {
            let s: State = serde_json::from_slice(&bytes).map_err(invalid_json)?;
            let mut out: Vec<(&ObjectEntry, u64, Vec<StoredRecord>)> = Vec::new();
            for o in s.objects {
                let Some(entry) = registry.resolve(&o.object_type_id) else {
                    tracing::warn!(
                        object_type = %o.object_type,
                        object_type_id = %o.object_type_id,
                        records = o.records.len(),
                        "state file object type not served; dropped"
                    );
                    continue;
                };
                if out.iter().any(|(e, _, _)| std::ptr::eq(*e, entry)) {
                    return Err(invalid(format!(
                        "object type {} appears more than once in the state file",
                        o.object_type_id
                    )));
                }
                out.push((entry, o.next_object_id, o.records));
            }
            out
        }
        other => return Err(invalid(format!("unknown snapshot format {other:?}"))),
    };
    for (entry, _, records) in &entries {
        entry.store.check_records(records).map_err(invalid)?;
    }
    Ok(entries
        .into_iter()
        .map(|(entry, next, records)| entry.store.replace(next, records))
        .sum())
}

fn invalid_json(e: serde_json::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
