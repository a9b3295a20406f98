//! Who may read what farod creates (docs/SECURITY.md), whatever umask it was started with:
//!
//! - `farod run` sets its umask to [`UMASK`] (0077) before it creates anything, so every file
//!   is born for farod alone: the database (`faro.db`, and SQLite's `-wal` and `-shm`, which
//!   take the database file's mode), the lock file, the socket at the moment it is bound;
//! - the directories it creates (the data directory, the socket's) are then widened to
//!   [`DIR_MODE`] (0750), so a group can be let in, and nobody else;
//! - the control socket is mode 0660; its group is `$FARO_SOCKET_GROUP` (a group name or
//!   number: `faro-desk` under farod.service, whose members are the operators), else farod's
//!   own. The group is set before the mode is widened, so there is no moment at which anyone
//!   else could connect.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// The umask of `farod run`: nothing it creates is born readable by its group or others.
pub const UMASK: u32 = 0o077;

/// Sets the process's umask to [`UMASK`]; call it before any file is created.
pub fn set_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(UMASK as _));
}

/// Modes of the database files, tightened when an earlier farod (or a wider umask) left them
/// readable by others: each of `faro.db`, `-wal`, `-shm` that exists and has group or other
/// bits is set to 0600. Returns the files changed.
pub fn tighten_database(db: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut changed = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| err("cannot set the mode of", &p, e))?;
            changed.push(p);
        }
    }
    Ok(changed)
}

/// The environment variable naming the control socket's group.
pub const SOCKET_GROUP_ENV: &str = "FARO_SOCKET_GROUP";

/// Mode of the control socket: farod and the socket's group.
pub const SOCKET_MODE: u32 = 0o660;
/// Mode of a directory farod creates for its socket or data: the group may enter.
pub const DIR_MODE: u32 = 0o750;

fn err(what: &str, path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// The group of `$FARO_SOCKET_GROUP`, if set (an unknown group is an error: a socket the
/// operators cannot reach would look up yet be useless).
pub fn socket_group() -> std::io::Result<Option<u32>> {
    let Some(raw) = std::env::var_os(SOCKET_GROUP_ENV) else {
        return Ok(None);
    };
    let name = raw.to_string_lossy();
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(Some(gid));
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(Some(g.gid.as_raw())),
        Ok(None) => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{SOCKET_GROUP_ENV}: no group {name:?} (systemd-sysusers creates faro-desk)"),
        )),
        Err(e) => Err(std::io::Error::other(format!(
            "{SOCKET_GROUP_ENV}: cannot look up group {name:?}: {e}"
        ))),
    }
}

/// Creates `dir` (and its parents) if missing: the ones farod creates are [`DIR_MODE`] and,
/// with a socket group, of that group (a directory that exists is left as it is).
pub fn create_dir(dir: &Path, group: Option<u32>) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent, group)?;
    }
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {}
        // Another process made it meanwhile: theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(err("cannot create the directory", dir, e)),
    }
    if let Some(gid) = group {
        std::os::unix::fs::chown(dir, None, Some(gid))
            .map_err(|e| err("cannot give the socket group", dir, e))?;
    }
    // The umask may have taken the group's bits.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
        .map_err(|e| err("cannot set the mode of", dir, e))
}

/// Gives the freshly bound socket at `path` its group, then mode [`SOCKET_MODE`].
pub fn open_socket(path: &Path, group: Option<u32>) -> std::io::Result<()> {
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| err("cannot give the socket group to", path, e))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(|e| err("cannot set the mode of", path, e))
}
