//! `faroctl user`: the desk's users (farod's `/v1/users`, issue 15). Over the control socket
//! only root and the user farod runs as may manage users (`sudo faroctl user ...`). A password
//! is read from standard input (asked twice, without echo, on a terminal), never from an
//! argument: arguments show in `ps` and in the shell's history.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use serde_json::{json, Value};

use crate::render::{clean, table};
use crate::{print, say, Ctl, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum UserCmd {
    /// Add a user of the desk; the password (12 to 128 bytes) comes from standard input.
    Add {
        /// 1 to 32 of a-z, 0-9, '.', '_' and '-'.
        name: String,
        /// desk (incidents and casework), coordinator (everything, users too) or auditor
        /// (reads only).
        #[arg(long)]
        role: String,
    },
    /// The desk's users.
    List {
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// A user may no longer log in; their sessions end (users are never removed: the audit
    /// trail names them).
    Disable {
        /// The user.
        name: String,
    },
    /// A new password (from standard input); the user's sessions end.
    Password {
        /// The user.
        name: String,
    },
}

pub(crate) fn run(ctl: &Ctl, cmd: UserCmd) -> Result<(), Failure> {
    match cmd {
        UserCmd::Add { name, role } => {
            let password = read_password(&name)?;
            let v = ctl.post(
                "/v1/users",
                json!({ "name": name, "role": role, "password": password }),
            )?;
            say(format!(
                "user {} added ({})",
                clean(v["name"].as_str().unwrap_or(&name)),
                clean(v["role"].as_str().unwrap_or(&role))
            ))
        }
        UserCmd::List { json } => print(&ctl.get("/v1/users")?, json, list),
        UserCmd::Disable { name } => {
            ctl.post(&format!("/v1/users/{}/disable", path(&name)?), json!({}))?;
            say(format!("user {name} disabled"))
        }
        UserCmd::Password { name } => {
            let password = read_password(&name)?;
            ctl.post(
                &format!("/v1/users/{}/password", path(&name)?),
                json!({ "password": password }),
            )?;
            say(format!("password of {name} changed"))
        }
    }
}

/// A user name as a path segment (farod checks it; only its characters are allowed here).
fn path(name: &str) -> Result<&str, Failure> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(Failure::Usage(format!(
            "{:?} is not a user name (a-z, 0-9, '.', '_', '-')",
            clean(name)
        )));
    }
    Ok(name)
}

/// The password: twice without echo on a terminal, else the first line of standard input.
fn read_password(name: &str) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() {
            return Err(Failure::Usage(
                "no password on standard input (one line)".into(),
            ));
        }
        return Ok(pw);
    }
    let first = prompt(&format!("password for {name}: "))?;
    let again = prompt("again: ")?;
    if first != again {
        return Err(Failure::Usage("the passwords differ".into()));
    }
    Ok(first)
}

/// One line from the terminal, not echoed.
fn prompt(what: &str) -> Result<String, Failure> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let mut err = std::io::stderr();
    write!(err, "{what}")?;
    err.flush()?;
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).map_err(std::io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(std::io::Error::from)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let restored = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    writeln!(err)?;
    read?;
    restored.map_err(std::io::Error::from)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn list(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["users"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|u| {
            let text = |k: &str| clean(u[k].as_str().unwrap_or("-"));
            vec![
                text("name"),
                text("role"),
                if u["disabled_at"].is_null() {
                    "enabled".into()
                } else {
                    format!("disabled {}", text("disabled_at"))
                },
                text("created_at"),
                text("created_by"),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no users\n".into();
    }
    table(&["NAME", "ROLE", "STATE", "ADDED", "BY"], &rows)
}
