//! The state file: every object type's records, saved at shutdown and loaded at start.
//!
//! Format 2 holds one entry per object type; format 1 (tickets only, written by earlier
//! versions) is still loaded, into the tickets store.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

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

/// `path` with its symlinks resolved: the file itself when it exists, else its
/// directory's real path and its name (a symlink to a file not created yet leads to
/// where it would be).
pub(crate) fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let mut path = path.to_path_buf();
    for _ in 0..16 {
        match std::fs::read_link(&path) {
            Ok(target) => {
                path = match path.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                }
            }
            Err(_) => break,
        }
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(path.clone()),
        _ => path,
    }
}

/// The lock file of a state file: `FILE.lock`, beside it. Not the state file itself:
/// saving renames a new file over it, and a lock on the replaced file would no longer
/// keep a newcomer out.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive lock on a state file, held for the emulator's life: two emulators on one
/// state file would each save their own records at shutdown, the last silently
/// overwriting the other's. Dropping it removes the lock file and releases the lock; if
/// the process dies instead, the kernel releases it and the file left behind is taken
/// over by the next start.
#[derive(Debug)]
pub(crate) struct StateLock {
    // Read only where the lock file is removed at drop.
    #[cfg_attr(not(unix), allow(dead_code))]
    path: PathBuf,
    /// Held open: closing it releases the lock.
    _file: File,
    /// The state file as it was at start, locked too: a hard link to it (another
    /// name, another `.lock`) meets this lock.
    _state: Option<File>,
}

/// Why a state file could not be locked.
pub(crate) enum LockError {
    /// Another emulator holds it: that process's id, when its lock file says.
    Held(Option<u32>),
    /// The lock file could not be created or locked.
    Io(io::Error),
}

/// How often a lock file replaced under our feet is tried again before giving up (each
/// replacement is another emulator starting or stopping at that very moment).
const LOCK_ATTEMPTS: usize = 8;

impl StateLock {
    /// Takes the lock of `state` without waiting. `Ok(None)` when the file system cannot
    /// lock at all (the emulator then runs unguarded, as before locks, with a warning).
    pub(crate) fn acquire(state: &Path) -> Result<Option<StateLock>, LockError> {
        let path = lock_path(state);
        for _ in 0..LOCK_ATTEMPTS {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(LockError::Io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(LockError::Held(holder(&file))),
                Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
                    tracing::warn!(lock = %path.display(), error = %e, "cannot lock the state file here; another emulator on it would not be refused");
                    return Ok(None);
                }
                Err(TryLockError::Error(e)) => return Err(LockError::Io(e)),
            }
            // A holder removes the lock file as it stops: the file opened just before is
            // then no longer the lock file, and locking it kept no one out. Try again.
            if !is_same_file(&file, &path) {
                continue;
            }
            // Our process id, for the message a second emulator gives; the lock is what
            // counts, so a failure here changes nothing.
            let _ = file
                .set_len(0)
                .and_then(|()| writeln!(file, "{}", std::process::id()));
            let state_file = match File::open(state) {
                Ok(f) => match f.try_lock() {
                    Ok(()) => Some(f),
                    Err(TryLockError::WouldBlock) => {
                        // Held under another name (a hard link): its holder's id is in
                        // that name's lock file. Ours goes, as at a stop.
                        let _ = std::fs::remove_file(&path);
                        return Err(LockError::Held(None));
                    }
                    Err(TryLockError::Error(_)) => None,
                },
                Err(_) => None,
            };
            return Ok(Some(StateLock {
                path,
                _file: file,
                _state: state_file,
            }));
        }
        Err(LockError::Io(io::Error::other(format!(
            "{} was replaced {LOCK_ATTEMPTS} times while being locked",
            path.display()
        ))))
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Removed while still locked (the file closes after this), so that a newcomer
        // that opened it meanwhile sees it gone and locks a new one.
        #[cfg(unix)]
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The process id in a held lock file (a short line; read no further).
fn holder(file: &File) -> Option<u32> {
    let mut text = String::new();
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Whether `path` still names the open `file`.
#[cfg(unix)]
fn is_same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Elsewhere the lock file is never removed (see [`StateLock`]'s `Drop`), so the file
/// opened is the lock file.
#[cfg(not(unix))]
fn is_same_file(_file: &File, _path: &Path) -> bool {
    true
}
