//! Why something was not done, typed end to end: the desk's refusals and the database's
//! failures keep their cause, the control socket chooses its HTTP status from the variant
//! (never from the text), the supervisor retries only what may pass ([`StoreError::is_transient`]),
//! and a database that cannot be trusted any more ends the daemon ([`StoreError::is_fatal`]) so
//! systemd restarts it and the operator reads why.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// Why the desk did not do what was asked. Nothing of the request was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request names something that does not exist (an incident, a team, a municipality).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed (a bad position, a count out of range, an oversized message).
    #[error("{0}")]
    Invalid(String),
    /// The request is well-formed but the station's state does not allow it now (a closed
    /// incident, an illegal transition, an ambulance already in play).
    #[error("{0}")]
    Conflict(String),
}

/// Why the store did not do something.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The desk refused the request: nothing changed.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// Another connection holds the database (SQLITE_BUSY / SQLITE_LOCKED): try again.
    #[error("database busy: {0}")]
    Busy(String),
    /// The disk is full: nothing was committed; it may pass when space is freed.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// The database or its file system is read-only.
    #[error("database is read-only: {0}")]
    ReadOnly(String),
    /// The database file is damaged or is not a database.
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    /// The database could not be opened (its path once, and the cause).
    #[error("cannot open the database {}: {cause}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why (permission, a missing parent, a read-only file system, a newer schema).
        cause: String,
    },
    /// Any other database failure (an I/O error): nothing was committed.
    #[error("database: {0}")]
    Db(String),
    /// The writer thread is gone.
    #[error("the store is stopped")]
    Stopped,
}

impl StoreError {
    /// May pass by itself: retrying the same work later is right.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Busy(_) | StoreError::DiskFull(_) | StoreError::Db(_)
        )
    }

    /// The database cannot be trusted or written any more: the daemon reports it and ends.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            StoreError::ReadOnly(_) | StoreError::Corrupt(_) | StoreError::Open { .. }
        )
    }

    /// A refusal that names something that does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::Refused(Refusal::NotFound(_)))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let code = e.sqlite_error_code();
        let text = e.to_string();
        match code {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy(text),
            Some(ErrorCode::DiskFull) => StoreError::DiskFull(text),
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly(text),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt(text),
            _ => StoreError::Db(text),
        }
    }
}

/// The cause of a failure to open a database file, in words an operator acts on.
pub fn open_cause(path: &std::path::Path, e: &rusqlite::Error) -> String {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        match std::fs::metadata(dir) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return "its directory does not exist".to_string()
            }
            Ok(m) if !m.is_dir() => return "its directory is a file".to_string(),
            _ => {}
        }
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            // SQLite says "unable to open database file" for every reason; find the real one.
            let probe = if path.exists() {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .err()
            } else {
                dir.and_then(|d| tempfile_probe(d).err())
            };
            match probe {
                Some(io) if io.kind() == std::io::ErrorKind::ReadOnlyFilesystem => {
                    "read-only file system".to_string()
                }
                Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                    "permission denied".to_string()
                }
                Some(io) => io.to_string(),
                None => e.to_string(),
            }
        }
        Some(ErrorCode::ReadOnly) => "read-only file system".to_string(),
        Some(ErrorCode::NotADatabase) => "the file is not a database".to_string(),
        _ => e.to_string(),
    }
}

/// Why a database file can only be read: its file system, its permissions, or the file.
pub fn readonly_cause(path: &std::path::Path) -> String {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem => {
            "read-only file system".to_string()
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            "permission denied".to_string()
        }
        Err(e) => e.to_string(),
        Ok(_) => "the database file is read-only".to_string(),
    }
}

/// Whether a file can be created in `dir` (created and removed at once).
fn tempfile_probe(dir: &std::path::Path) -> std::io::Result<()> {
    let p = dir.join(format!(".farod-probe-{}", std::process::id()));
    std::fs::File::create(&p)?;
    std::fs::remove_file(&p)
}
