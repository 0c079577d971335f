//! `traces serve --data DIR`: the store's traces, log records and counts kept in one redb
//! database, `DIR/traces.redb`, written through as exports arrive and read back at start.
//!
//! - `items`: each export's piece of each trace (see `fragments.rs`), keyed by the trace and a
//!   sequence number, so that a trace's pieces sit together in arrival order and evicting it
//!   deletes one key range. A trace's place in the eviction order is its first piece's number.
//! - `counts`: the monitor's counts, one record per minute and series, keyed by the minute
//!   first, so that the minutes past the retention are one key range too.
//! - `meta`: which program wrote the file, and in which format: a file of anything else is
//!   refused, never emptied.
//!
//! The viewer holds an exclusive lock on the directory for as long as it runs (redb's own lock on
//! the file goes while the file is opened again after an I/O error): a second `traces serve` on
//! the same directory is refused rather than corrupting it.

use std::{
    fs::{DirBuilder, File, TryLockError},
    os::unix::fs::{DirBuilderExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use redb::{
    Database, DatabaseError, ReadableTable as _, ReadableTableMetadata as _, TableDefinition,
    TableError,
};

use crate::ids::TraceId;

const ITEMS: TableDefinition<([u8; 16], u64), &[u8]> = TableDefinition::new("items");
const COUNTS: TableDefinition<(u32, &str, &str, u8), &[u8]> = TableDefinition::new("counts");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// The database's file in the data directory.
pub const FILE: &str = "traces.redb";
const PROGRAM: &str = "traces serve";
/// The layout of the tables above; a later layout gets a higher number.
const FORMAT: u32 = 1;

/// What a stored piece holds: the first byte of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Spans = b'S' as isize,
    Logs = b'L' as isize,
}

/// One write: the pieces of an export, the traces it evicts, and its counts.
pub(super) struct Write<'a> {
    pub(super) kind: Kind,
    pub(super) pieces: &'a [(TraceId, Vec<u8>)],
    pub(super) evicted: &'a [TraceId],
    pub(super) tally: Option<&'a crate::monitor::Tally>,
    pub(super) oldest_minute: u32,
}

pub(super) struct Disk {
    /// The directory, locked (`flock`) until the viewer ends.
    _lock: File,
    path: PathBuf,
    /// `None` after a failed write until it is opened again (redb refuses every write after an
    /// I/O error until then).
    database: Option<Database>,
    next_sequence: u64,
    /// Whether the last write failed: its error is said once, and so is the recovery.
    failing: bool,
}

impl Disk {
    /// Opens the data directory, creating it private (0700) if missing; refuses one that is
    /// in use, damaged, of another program or of a newer format, with one line that says so.
    pub(super) fn open(dir: &Path) -> Result<Self, String> {
        let shown = dir.display();
        match std::fs::metadata(dir) {
            Ok(metadata) if !metadata.is_dir() => {
                return Err(format!("--data {shown} is not a directory"));
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|error| format!("cannot create --data {shown}: {error}"))?;
                // The mode is masked by the umask: set it outright.
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|error| format!("cannot make --data {shown} private: {error}"))?;
            }
            Err(error) => return Err(format!("cannot read --data {shown}: {error}")),
        }
        let lock =
            File::open(dir).map_err(|error| format!("cannot open --data {shown}: {error}"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(in_use(dir)),
            Err(TryLockError::Error(error)) => {
                return Err(format!("cannot lock --data {shown}: {error}"));
            }
        }
        let path = dir.join(FILE);
        let database = if path.exists() {
            let database = Database::open(&path).map_err(|error| refusal(&path, error))?;
            check_meta(&database, &path)?;
            database
        } else {
            let foreign = std::fs::read_dir(dir)
                .map_err(|error| format!("cannot read --data {shown}: {error}"))?
                .next()
                .is_some();
            if foreign {
                return Err(format!(
                    "--data {shown} holds other files and no {FILE}: it is not a traces data \
                     directory; name a new or empty one"
                ));
            }
            let database = Database::create(&path).map_err(|error| refusal(&path, error))?;
            initialise(&database)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            database
        };
        Ok(Self {
            _lock: lock,
            path,
            database: Some(database),
            next_sequence: 0,
            failing: false,
        })
    }

    /// Reads back every stored piece, trace by trace in the order the traces arrived (each
    /// trace's pieces in the order they arrived), handing each to `each`.
    pub(super) fn replay(
        &mut self,
        mut each: impl FnMut(TraceId, Kind, &[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let damaged =
            |error: &dyn std::fmt::Display| format!("{} is damaged: {error}", self.path.display());
        let database = self.database.as_ref().expect("open until a write fails");
        let read = database.begin_read().map_err(|e| damaged(&e))?;
        let items = match read.open_table(ITEMS) {
            Ok(items) => items,
            Err(TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(error) => return Err(damaged(&error)),
        };
        // Keys sort by trace, then sequence: a trace's first key is its arrival.
        let mut arrivals: Vec<(u64, [u8; 16])> = Vec::new();
        let mut last = 0;
        for entry in items.iter().map_err(|e| damaged(&e))? {
            let (key, _) = entry.map_err(|e| damaged(&e))?;
            let (trace, sequence) = key.value();
            last = last.max(sequence);
            if arrivals
                .last()
                .is_none_or(|(_, previous)| *previous != trace)
            {
                arrivals.push((sequence, trace));
            }
        }
        self.next_sequence = last + 1;
        arrivals.sort_unstable();
        for (_, trace) in arrivals {
            for entry in items
                .range((trace, 0)..=(trace, u64::MAX))
                .map_err(|e| damaged(&e))?
            {
                let (_, value) = entry.map_err(|e| damaged(&e))?;
                let (kind, piece) = match value.value().split_first() {
                    Some((b'S', piece)) => (Kind::Spans, piece),
                    Some((b'L', piece)) => (Kind::Logs, piece),
                    _ => return Err(damaged(&"a stored piece of unknown kind")),
                };
                each(TraceId(trace), kind, piece).map_err(|e| damaged(&e))?;
            }
        }
        Ok(())
    }

    /// The saved counts from `oldest_minute` on: each series' key, minute and record.
    pub(super) fn saved_counts(
        &self,
        oldest_minute: u32,
    ) -> Result<Vec<(crate::monitor::SeriesKey, u32, Vec<u8>)>, String> {
        let damaged =
            |error: &dyn std::fmt::Display| format!("{} is damaged: {error}", self.path.display());
        let database = self.database.as_ref().expect("open until a write fails");
        let read = database.begin_read().map_err(|e| damaged(&e))?;
        let counts = match read.open_table(COUNTS) {
            Ok(counts) => counts,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(damaged(&error)),
        };
        let mut saved = Vec::with_capacity(counts.len().map_err(|e| damaged(&e))? as usize);
        for entry in counts
            .range((oldest_minute, "", "", 0)..)
            .map_err(|e| damaged(&e))?
        {
            let (key, value) = entry.map_err(|e| damaged(&e))?;
            let (minute, service, operation, kind) = key.value();
            saved.push((
                (service.into(), operation.into(), kind),
                minute,
                value.value().to_vec(),
            ));
        }
        Ok(saved)
    }

    /// Deletes what the store no longer holds: traces evicted at start (a smaller
    /// `--max-traces` than before) and counts past the retention.
    pub(super) fn forget(&mut self, evicted: &[TraceId], oldest_minute: u32) -> Result<(), String> {
        self.write(&Write {
            kind: Kind::Spans,
            pieces: &[],
            evicted,
            tally: None,
            oldest_minute,
        })
    }

    /// Writes one export durably (committed to the disk) or not at all. A failure is said on
    /// stderr once, until a write succeeds again.
    pub(super) fn write(&mut self, write: &Write<'_>) -> Result<(), String> {
        let result = self.try_write(write);
        match &result {
            Err(error) => {
                // Drop the database: redb takes no write after an I/O error until reopened.
                self.database = None;
                if !self.failing {
                    eprintln!(
                        "traces: cannot write to {}: {error}; exports are answered \"unavailable\" \
                         (retry later) until it can",
                        self.path.display()
                    );
                }
                self.failing = true;
            }
            Ok(()) if self.failing => {
                eprintln!("traces: writing to {} again", self.path.display());
                self.failing = false;
            }
            Ok(()) => {}
        }
        result
    }

    fn try_write(&mut self, write: &Write<'_>) -> Result<(), String> {
        if self.database.is_none() {
            self.database = Some(Database::open(&self.path).map_err(|e| e.to_string())?);
        }
        let database = self.database.as_ref().expect("opened above");
        let transaction = database.begin_write().map_err(|e| e.to_string())?;
        {
            let mut items = transaction.open_table(ITEMS).map_err(|e| e.to_string())?;
            let mut value = Vec::new();
            for (trace, piece) in write.pieces {
                value.clear();
                value.push(write.kind as u8);
                value.extend_from_slice(piece);
                items
                    .insert((trace.0, self.next_sequence), value.as_slice())
                    .map_err(|e| e.to_string())?;
                self.next_sequence += 1;
            }
            for trace in write.evicted {
                items
                    .retain_in((trace.0, 0)..=(trace.0, u64::MAX), |_, _| false)
                    .map_err(|e| e.to_string())?;
            }
            let mut counts = transaction.open_table(COUNTS).map_err(|e| e.to_string())?;
            if let Some(tally) = write.tally {
                let merged = tally.merged_with_saved(write.oldest_minute, |(s, o, k, m)| {
                    Ok(counts
                        .get((m, s, o, k))
                        .map_err(|e| e.to_string())?
                        .map(|saved| saved.value().to_vec()))
                })?;
                for ((service, operation, kind, minute), record) in merged {
                    counts
                        .insert((minute, service, operation, kind), record.as_slice())
                        .map_err(|e| e.to_string())?;
                }
            }
            counts
                .retain_in(..(write.oldest_minute, "", "", 0), |_, _| false)
                .map_err(|e| e.to_string())?;
        }
        transaction.commit().map_err(|e| e.to_string())
    }
}

/// A new database: which program and format it holds.
fn initialise(database: &Database) -> Result<(), String> {
    let transaction = database.begin_write().map_err(|e| e.to_string())?;
    {
        let mut meta = transaction.open_table(META).map_err(|e| e.to_string())?;
        meta.insert("program", PROGRAM).map_err(|e| e.to_string())?;
        meta.insert("format", FORMAT.to_string().as_str())
            .map_err(|e| e.to_string())?;
    }
    transaction.commit().map_err(|e| e.to_string())
}

/// Refuses a database of another program or of a newer format.
fn check_meta(database: &Database, path: &Path) -> Result<(), String> {
    let shown = path.display();
    let foreign = || {
        format!(
            "{shown} is not a traces database (a file of another program?); name another --data directory"
        )
    };
    let read = database
        .begin_read()
        .map_err(|error| format!("{shown} is damaged: {error}"))?;
    let meta = match read.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_) | TableError::TableTypeMismatch { .. }) => {
            return Err(foreign());
        }
        Err(error) => return Err(format!("{shown} is damaged: {error}")),
    };
    let value = |key: &str| -> Result<Option<String>, String> {
        Ok(meta
            .get(key)
            .map_err(|error| format!("{shown} is damaged: {error}"))?
            .map(|value| value.value().to_owned()))
    };
    if value("program")?.as_deref() != Some(PROGRAM) {
        return Err(foreign());
    }
    match value("format")?.and_then(|format| format.parse::<u32>().ok()) {
        Some(FORMAT) => Ok(()),
        Some(newer) if newer > FORMAT => Err(format!(
            "{shown} was written by a newer traces (format {newer}; this one reads format \
             {FORMAT}): run that version, or name another --data directory"
        )),
        _ => Err(format!("{shown} is damaged: no valid format number")),
    }
}

/// The one line for a directory or file another process holds.
fn in_use(path: &Path) -> String {
    format!(
        "{} is in use by another traces serve (or another program); stop it, or name another \
         --data directory",
        path.display()
    )
}

/// The one line for a database redb cannot open.
fn refusal(path: &Path, error: DatabaseError) -> String {
    let shown = path.display();
    match error {
        DatabaseError::DatabaseAlreadyOpen => in_use(path),
        DatabaseError::Storage(redb::StorageError::Io(error))
            if matches!(
                error.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotFound
            ) =>
        {
            format!("cannot open {shown}: {error}")
        }
        error => format!(
            "{shown} is damaged or not a traces database ({error}); move it away to start afresh"
        ),
    }
}

#[cfg(test)]
mod tests;
