//! faroctl: the station operator's command line. It maps one to one onto farod's control
//! socket (HTTP/JSON on a Unix socket, docs/ARCHITECTURE.md §9): tables for people, `--json`
//! for scripts (farod's answer, untouched), and on any failure exactly one line on stderr,
//! `faroctl: <reason>`, with an exit status scripts can branch on:
//!
//! - 0 done; 1 farod refused (unknown incident, illegal transition, bad input, database down);
//! - 2 usage (bad arguments); 69 farod unreachable or not answering;
//! - 76 farod's answer was not what this faroctl understands.

mod casework;
mod http;
mod locate;
mod render;
mod user;
mod watch;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use http::{Client, Error};

/// Faro operator console: the incident queue of the local farod.
#[derive(Debug, Parser)]
#[command(name = "faroctl", version, about, long_about = None)]
struct Cli {
    /// farod's control socket.
    #[arg(
        long,
        global = true,
        env = "FARO_SOCKET",
        default_value = "/run/faro/faro.sock",
        value_name = "PATH"
    )]
    socket: PathBuf,
    /// A label kept beside your user name in the audit trail (farod names you by the user you
    /// run faroctl as; the label is recorded too when it differs, e.g. a shift's name).
    #[arg(long, global = true, env = "FARO_OPERATOR", value_name = "NAME")]
    operator: Option<String>,
    /// Show times in UTC instead of the station's time zone (`[station] timezone`).
    #[arg(long, global = true)]
    utc: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record aid given (first aid, transfers, water, food, a call home, orientation, legal
    /// advice), for an incident or on its own.
    Assist(casework::AssistArgs),
    /// The aid recorded in the last days.
    Aid {
        /// Days back (1..=3660).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Complaints channelled: record (with consent), list, refer, follow.
    Complaint {
        #[command(subcommand)]
        cmd: casework::ComplaintCmd,
    },
    /// Where complaints are referred, with the contacts the operator uses.
    Referrals {
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Consents: record who consented to what, or withdraw one.
    Consent {
        #[command(subcommand)]
        cmd: casework::ConsentCmd,
    },
    /// Personal records (sealed): add (value on standard input), show, erase.
    Personal {
        #[command(subcommand)]
        cmd: casework::PersonalCmd,
    },
    /// Give a record's export to an authority, a relative, a consulate, headquarters or a
    /// municipality, within the person's consent; the disclosure is recorded.
    Disclose(casework::DiscloseArgs),
    /// What headquarters may have of a period: the figures and every record with no personal
    /// data (JSON). A single case's export goes with `disclose`, which records it.
    Export {
        /// Only headquarters is exported in bulk.
        #[arg(long, default_value = "headquarters", value_parser = ["headquarters", "hq"])]
        profile: String,
        /// First day (YYYY-MM-DD; default: the first of this month).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last day, inclusive (default: today).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Write it here (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Destroy the personal-data key (a station overrun): personal records become unreadable
    /// for good; the incident queue keeps working.
    WipeKey {
        /// The station code, to confirm without the question.
        #[arg(long, value_name = "CODE")]
        confirm: Option<String>,
    },
    /// Radios, open incidents, outbox and teams at a glance.
    Status {
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// The incident queue, most urgent first.
    Incidents {
        /// open, all, or one state (new, acknowledged, assigned, en_route, on_scene, closed).
        #[arg(long, default_value = "open")]
        state: String,
        /// At most this many, most urgent first (1..=1000).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Skip this many first (the next page: --offset 1000).
        #[arg(long, default_value_t = 0)]
        offset: u32,
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
    /// One incident: details, priority reasons, nearest teams and its audit trail.
    Show {
        /// Incident id (SAS-17; any case).
        id: String,
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open an incident from a phone call or a walk-in; prints its id. With --month, print the
    /// monthly report instead (nothing is opened).
    Report {
        /// Not an incident: the monthly report of this month (YYYY-MM) for the station head,
        /// one printable HTML page.
        #[arg(long, value_name = "YYYY-MM",
              conflicts_with_all = ["at", "place", "kind", "people", "flags", "note", "language"])]
        month: Option<String>,
        /// With --month: write the page to this file (default: standard output).
        #[arg(short = 'o', long, value_name = "FILE", requires = "month")]
        output: Option<PathBuf>,
        /// Where, as LAT,LON in degrees (leave out when the caller cannot say).
        #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true, value_parser = parse_position)]
        at: Option<(f64, f64)>,
        /// Place: without --at, a town or village farod looks up in its gazetteer
        /// ("Sasabe", "San José, Altar, Sonora") for the position; with --at, a description.
        #[arg(long)]
        place: Option<String>,
        /// medical, drowning, heat, violence, lost, distress or info.
        #[arg(long)]
        kind: Option<String>,
        /// How many people.
        #[arg(long)]
        people: Option<u32>,
        /// unaccompanied_minor, children, disability, pregnant or injured (repeatable).
        #[arg(long = "flag", value_name = "FLAG")]
        flags: Vec<String>,
        /// Note for the audit trail.
        #[arg(long)]
        note: Option<String>,
        /// Language to answer in over the mesh.
        #[arg(long, value_parser = ["es", "en", "fr", "ht", "pt"])]
        language: Option<String>,
    },
    /// Acknowledge an incident.
    Ack { id: String },
    /// Assign a patrol team.
    Assign { id: String, team: String },
    /// Close with an outcome (rescued, transferred_hospital, transferred_shelter, false_alarm,
    /// not_found, cancelled).
    Close {
        id: String,
        outcome: String,
        /// A note (sealed as a personal record).
        #[arg(long)]
        note: Option<String>,
    },
    /// Add a note to an incident (or to AID-3, CMP-2, LOC-5). Notes are personal data: sealed
    /// in a personal record; the audit trail says only that one was added.
    Note {
        id: String,
        /// The note (several words need no quotes).
        #[arg(required = true, num_args = 1.., trailing_var_arg = true)]
        text: Vec<String>,
    },
    /// Reopen a closed incident.
    Reopen { id: String },
    /// Ask for an ambulance (the nearest municipality with a contact, or the one named),
    /// cancel it, or record the answer to a phone call.
    Ambulance {
        id: String,
        /// Ask this municipality rather than the nearest.
        #[arg(long, value_name = "NAME", conflicts_with_all = ["cancel", "accepted", "declined"])]
        municipality: Option<String>,
        /// Cancel the request in play (the municipality is told).
        #[arg(long, conflicts_with_all = ["accepted", "declined"])]
        cancel: bool,
        /// The municipality said yes on the phone, arriving in MINUTES (if they said).
        #[arg(long, value_name = "MINUTES", num_args = 0..=1, conflicts_with = "declined")]
        accepted: Option<Option<u32>>,
        /// The municipality said no on the phone: the next one is asked.
        #[arg(long)]
        declined: bool,
    },
    /// Set or correct an incident's position: LAT,LON or a place name.
    Position {
        id: String,
        /// LAT,LON in degrees.
        #[arg(value_name = "LAT,LON", allow_hyphen_values = true, value_parser = parse_position,
              required_unless_present = "place", conflicts_with = "place")]
        at: Option<(f64, f64)>,
        /// A town or village from farod's gazetteer ("Sasabe", "Sásabe, Sonora").
        #[arg(long, value_name = "NAME")]
        place: Option<String>,
    },
    /// What is near a position: the nearest place, its municipality and state, and the
    /// municipalities with an ambulance contact by distance.
    Where {
        /// LAT,LON in degrees.
        #[arg(value_name = "LAT,LON", allow_hyphen_values = true, value_parser = parse_position)]
        at: (f64, f64),
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find a town or village by name (accents and case do not matter; ", state" narrows).
    Places {
        /// The name (several words need no quotes).
        #[arg(required = true, num_args = 1..)]
        name: Vec<String>,
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
    /// Patrol teams: status, last position, assignments.
    Teams {
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
    /// Mesh nodes heard, most recent first.
    Nodes {
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
    /// Texts heard and sent that belong to no incident, oldest first (an incident's own are
    /// in `faroctl show`).
    Messages {
        /// Only this node's (!xxxxxxxx).
        #[arg(long, value_name = "!ID")]
        node: Option<String>,
        /// From this time on: RFC 3339 (2026-05-01T10:00:00Z) or a span back from now (2h, 30m).
        #[arg(long, value_name = "T", value_parser = parse_since)]
        since: Option<String>,
        /// The latest this many (1..=1000).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
    /// Orientations given (answers about water, where one is, rights, risks, waiting), per
    /// day, topic and language.
    Orientations {
        /// Today and this many days back, minus one (1..=3660).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=3660))]
        days: u16,
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
    /// The station's figures for a period, computed from its records: people oriented,
    /// assisted, rescued and transferred; complaints; location requests; incidents and the
    /// median times to acknowledge and to reach them.
    Stats {
        /// First day, YYYY-MM-DD (default: the first day of this month, UTC).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last day, YYYY-MM-DD, included (default: today, UTC).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Break the period down by day or by month.
        #[arg(long, value_parser = ["day", "month"])]
        by: Option<String>,
        /// Print farod's JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV: a header line, then one row per day or month (or one for the period).
        #[arg(long)]
        csv: bool,
    },
    /// Follow the audit trail and the messages heard and sent, live, until interrupted;
    /// when farod restarts, wait for it and carry on after the last event shown.
    Watch {
        /// Print farod's JSON lines.
        #[arg(long)]
        json: bool,
        /// First replay the stored events after this event id (0: all).
        #[arg(long, value_name = "N")]
        after: Option<i64>,
        /// Ring the terminal bell (BEL on stderr) when a P1 incident opens or rises to P1
        /// (not for the backlog replayed at start).
        #[arg(long)]
        bell: bool,
        /// Stop waiting for farod after it has been away this long (30s, 5m); forever when
        /// not given.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        give_up_after: Option<Duration>,
    },
    /// Pin the key of a patrol's or municipality's radio: shows the key the station's radio
    /// holds for the node, asks you to compare it with the radio itself (Meshtastic app: the
    /// node's Security settings, public key), and records it. Only then do its commands or
    /// answers count.
    Enroll {
        /// `team` or `municipality`.
        #[arg(value_parser = ["team", "municipality"])]
        kind: String,
        /// The team (P1) or municipality (Sáric) as configured.
        name: String,
        /// Its node: !xxxxxxxx.
        node: String,
        /// The key read on the radio (base64); it must be the one the station's radio holds.
        #[arg(long)]
        key: Option<String>,
        /// Do not ask: the key was compared already.
        #[arg(long)]
        yes: bool,
    },
    /// The keys of a node: held by the station's radio, pinned, enrolled.
    Keys {
        /// !xxxxxxxx.
        node: String,
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Answers from municipalities without PKI that await your confirmation.
    Answers {
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
    /// Confirm an answer awaiting confirmation (after checking it, by phone say): it counts.
    Confirm {
        /// Its number (faroctl answers).
        id: i64,
    },
    /// Reject an answer awaiting confirmation: it never counts.
    Reject {
        /// Its number (faroctl answers).
        id: i64,
    },
    /// Location requests for missing people: add, list, show, task, close, reported, matches.
    Locate {
        #[command(subcommand)]
        cmd: locate::LocateCmd,
    },
    /// Purge now the personal data that `[retention]` says is due (the timer does it every
    /// `retention.every`; nothing not yet due is purged). Prints the counts.
    Purge {
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// The desk's users: add (password from standard input), list, disable, password.
    User {
        #[command(subcommand)]
        cmd: user::UserCmd,
    },
    /// Send a text message to a mesh node (queued in farod's outbox).
    Send {
        /// !xxxxxxxx or a decimal node number.
        node: String,
        /// The message (several words need no quotes).
        #[arg(required = true, num_args = 1.., trailing_var_arg = true)]
        text: Vec<String>,
    },
}

/// How faroctl failed, and the status it exits with.
#[derive(Debug)]
enum Failure {
    Usage(String),
    Http(Error),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Http(Error::Refused { .. }) => 1,
            Failure::Http(Error::Unreachable { .. } | Error::Io(_)) => 69,
            Failure::Http(Error::Protocol(_)) => 76,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(m) => f.write_str(m),
            Failure::Http(e) => e.fmt(f),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Http(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Http(Error::Io(e))
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed stdout (`faroctl watch | head`) is the reader's choice, not a failure.
        Err(Failure::Http(Error::Io(e))) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("faroctl: {}", one_line(&f.to_string()));
            ExitCode::from(f.code())
        }
    }
}

/// Help and version print as usual; anything else becomes one line (exit 2).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            eprintln!("faroctl: a command is needed; see faroctl --help");
            ExitCode::from(2)
        }
        _ => {
            let text = e.to_string();
            let mut lines = text.lines();
            let mut first = lines
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ")
                .trim()
                .to_string();
            // "the following required arguments were not provided:" lists them below.
            if first.ends_with(':') {
                let what: Vec<&str> = lines.map(str::trim).take_while(|l| !l.is_empty()).collect();
                first = format!("{} {}", first, what.join(", "));
            }
            eprintln!("faroctl: {first}; see faroctl --help");
            ExitCode::from(2)
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_position(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("expected LAT,LON in degrees, like 31.4746,-111.5449 (got {s:?})");
    let (lat, lon) = s.split_once(',').ok_or_else(bad)?;
    let (lat, lon): (f64, f64) = (
        lat.trim().parse().map_err(|_| bad())?,
        lon.trim().parse().map_err(|_| bad())?,
    );
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!(
            "{lat},{lon} is off the globe: latitude -90..90, longitude -180..180"
        ));
    }
    Ok((lat, lon))
}

/// `--since`: an RFC 3339 time as given, or a span back from now (`2h`) as the time it names.
fn parse_since(s: &str) -> Result<String, String> {
    if humantime::parse_rfc3339_weak(s).is_ok() {
        return Ok(s.to_string());
    }
    let span = humantime::parse_duration(s).map_err(|_| {
        format!("expected a time like 2026-05-01T10:00:00Z or a span like 2h (got {s:?})")
    })?;
    let t = std::time::SystemTime::now()
        .checked_sub(span)
        .unwrap_or(std::time::UNIX_EPOCH);
    Ok(humantime::format_rfc3339_seconds(t).to_string())
}

/// The operator's label: `--operator`, else `FARO_OPERATOR`, else none (farod names the
/// operator by the user faroctl runs as).
fn operator(cli: &Cli) -> Option<String> {
    cli.operator.clone().filter(|n| !n.trim().is_empty())
}

/// An id as typed, safe in a URL path (farod checks the form).
fn id_path(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A query string value, percent-encoded (UTF-8 names like "Sásabe").
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The station's time zone as farod says it (`/v1/status`); None from a farod that does not.
fn station_zone(client: &Client) -> Option<String> {
    let raw = client
        .request("GET", "/v1/status", None, None)
        .ok()?
        .read_all()
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    v["timezone"].as_str().map(str::to_string)
}

/// One request and its whole body.
struct Ctl {
    client: Client,
    who: Option<String>,
}

impl Ctl {
    fn get(&self, path: &str) -> Result<Vec<u8>, Failure> {
        Ok(self.client.request("GET", path, None, None)?.read_all()?)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value, Failure> {
        let body = body.to_string();
        let raw = self
            .client
            .request("POST", path, self.who.as_deref(), Some(body.as_bytes()))?
            .read_all()?;
        serde_json::from_slice(&raw)
            .map_err(|e| Failure::Http(Error::Protocol(format!("not JSON: {e}"))))
    }
}

fn json(raw: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(raw)
        .map_err(|e| Failure::Http(Error::Protocol(format!("not JSON: {e}"))))
}

/// Prints farod's body as it came (a newline added if missing), or the rendering of it.
fn print(raw: &[u8], as_json: bool, render: impl FnOnce(&Value) -> String) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    if as_json {
        out.write_all(raw)?;
        if !raw.ends_with(b"\n") {
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(render(&json(raw)?).as_bytes())?;
    }
    Ok(out.flush()?)
}

fn say(line: String) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}

fn run(cli: Cli) -> Result<(), Failure> {
    let writes = match &cli.command {
        Command::Locate { cmd } => cmd.writes(),
        _ => true,
    } && !matches!(
        cli.command,
        Command::Status { .. }
            | Command::Incidents { .. }
            | Command::Show { .. }
            | Command::Teams { .. }
            | Command::Nodes { .. }
            | Command::Messages { .. }
            | Command::Orientations { .. }
            | Command::Stats { .. }
            | Command::Report { month: Some(_), .. }
            | Command::Keys { .. }
            | Command::Answers { .. }
            | Command::Watch { .. }
            | Command::Where { .. }
            | Command::Places { .. }
            | Command::Aid { .. }
            | Command::Export { .. }
            | Command::Referrals { .. }
            | Command::Complaint {
                cmd: casework::ComplaintCmd::List { .. }
            }
    );
    let who = if writes { operator(&cli) } else { None };
    if !cli.utc {
        // Asked of farod only when a time is printed (not for --json).
        let station = Client::new(&cli.socket);
        render::zone_from(move || station_zone(&station));
    }
    let ctl = Ctl {
        client: Client::new(&cli.socket),
        who,
    };
    match cli.command {
        Command::Status { json } => print(&ctl.get("/v1/status")?, json, render::status),
        Command::Incidents {
            state,
            limit,
            offset,
            json,
        } => {
            if !state.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
                return Err(Failure::Usage(format!(
                    "bad --state {state:?}: open, all or a state name"
                )));
            }
            let raw = ctl.get(&format!(
                "/v1/incidents?state={state}&limit={limit}&offset={offset}"
            ))?;
            print(&raw, json, |v| {
                let mut out = render::incidents(v, &state);
                let shown = v.as_array().map_or(0, Vec::len);
                if shown == usize::from(limit) {
                    // A full page: there may be more.
                    let next = u64::from(offset) + u64::from(limit);
                    out.push_str(&format!(
                        "(first {limit} from {offset}; more: faroctl incidents --state {state} --offset {next})\n"
                    ));
                }
                out
            })
        }
        Command::Show { id, json } => print(
            &ctl.get(&format!("/v1/incidents/{}", id_path(&id)))?,
            json,
            render::incident,
        ),
        Command::Report {
            month: Some(month),
            output,
            ..
        } => {
            let page = ctl.get(&format!("/v1/report?month={}", query_value(month.trim())))?;
            match output {
                Some(path) => std::fs::write(&path, &page)
                    .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display()))),
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&page)?;
                    Ok(out.flush()?)
                }
            }
        }
        Command::Report {
            month: None,
            at,
            place,
            kind,
            people,
            flags,
            note,
            language,
            ..
        } => {
            let body = json!({
                "lat": at.map(|p| p.0), "lon": at.map(|p| p.1), "place": place, "kind": kind,
                "people": people, "flags": flags, "note": note, "language": language,
            });
            let v = ctl.post("/v1/incidents", body)?;
            say(render::clean(v["id"].as_str().unwrap_or("?")))
        }
        Command::Ack { id } => changed(&ctl, &id, "ack", json!({})),
        Command::Assign { id, team } => changed(&ctl, &id, "assign", json!({ "team": team })),
        Command::Close { id, outcome, note } => changed(
            &ctl,
            &id,
            "close",
            json!({ "outcome": outcome, "note": note }),
        ),
        Command::Note { id, text } => {
            let casework = ["AID-", "CMP-", "LOC-"]
                .iter()
                .any(|p| id.trim().to_ascii_uppercase().starts_with(p));
            let v = if casework {
                ctl.post(
                    "/v1/notes",
                    json!({ "subject": id, "text": text.join(" ") }),
                )?
            } else {
                ctl.post(
                    &format!("/v1/incidents/{}/note", id_path(&id)),
                    json!({ "text": text.join(" ") }),
                )?
            };
            let v = if casework {
                json!({ "id": v["subject"] })
            } else {
                v
            };
            say(format!(
                "{}: note added",
                render::clean(v["id"].as_str().unwrap_or(&id))
            ))
        }
        Command::Reopen { id } => changed(&ctl, &id, "reopen", json!({})),
        Command::Ambulance {
            id,
            municipality,
            cancel,
            accepted,
            declined,
        } => {
            let (body, action) = match (cancel, accepted, declined) {
                (true, _, _) => (json!({ "cancel": true }), render::AmbAction::Cancel),
                (_, Some(eta), _) => (
                    json!({ "answer": "accepted", "eta_minutes": eta }),
                    render::AmbAction::Accepted,
                ),
                (_, _, true) => (json!({ "answer": "declined" }), render::AmbAction::Declined),
                _ => (
                    json!({ "municipality": municipality }),
                    render::AmbAction::Request,
                ),
            };
            let v = ctl.post(&format!("/v1/incidents/{}/ambulance", id_path(&id)), body)?;
            let mut out = std::io::stdout().lock();
            out.write_all(render::ambulance_result(&v, action).as_bytes())?;
            Ok(out.flush()?)
        }
        Command::Position { id, at, place } => {
            let body = match at {
                Some((lat, lon)) => json!({ "lat": lat, "lon": lon }),
                None => json!({ "place": place }),
            };
            let v = ctl.post(&format!("/v1/incidents/{}/position", id_path(&id)), body)?;
            say(render::position_line(&v))
        }
        Command::Where { at, json } => print(
            &ctl.get(&format!("/v1/where?lat={}&lon={}", at.0, at.1))?,
            json,
            render::where_is,
        ),
        Command::Places { name, json } => print(
            &ctl.get(&format!("/v1/places?name={}", query_value(&name.join(" "))))?,
            json,
            render::places,
        ),
        Command::Teams { json } => print(&ctl.get("/v1/teams")?, json, render::teams),
        Command::Nodes { json } => print(&ctl.get("/v1/nodes")?, json, render::nodes),
        Command::Messages {
            node,
            since,
            limit,
            json,
        } => {
            let mut path = format!("/v1/messages?limit={limit}");
            if let Some(n) = node {
                path.push_str(&format!("&node={}", query_value(n.trim())));
            }
            if let Some(t) = since {
                path.push_str(&format!("&since={}", query_value(&t)));
            }
            print(&ctl.get(&path)?, json, render::messages)
        }
        Command::Orientations { days, json } => print(
            &ctl.get(&format!("/v1/orientations?days={days}"))?,
            json,
            render::orientations,
        ),
        Command::Stats {
            from,
            to,
            by,
            json,
            csv,
        } => {
            let mut query = Vec::new();
            for (key, value) in [("from", from), ("to", to), ("by", by)] {
                if let Some(v) = value {
                    query.push(format!("{key}={}", query_value(v.trim())));
                }
            }
            if csv {
                query.push("format=csv".into());
            }
            let mut path = "/v1/stats".to_string();
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let raw = ctl.get(&path)?;
            if csv {
                let mut out = std::io::stdout().lock();
                out.write_all(&raw)?;
                return Ok(out.flush()?);
            }
            print(&raw, json, render::stats)
        }
        Command::Keys { node, json } => print(
            &ctl.get(&format!("/v1/keys/{}", query_value(node.trim())))?,
            json,
            render::keys,
        ),
        Command::Enroll {
            kind,
            name,
            node,
            key,
            yes,
        } => enroll(&ctl, &kind, &name, node.trim(), key, yes),
        Command::Answers { json } => print(&ctl.get("/v1/answers")?, json, render::answers),
        Command::Confirm { id } => {
            ctl.post(&format!("/v1/answers/{id}/confirm"), json!({}))?;
            say(format!("answer {id} confirmed"))
        }
        Command::Reject { id } => {
            ctl.post(&format!("/v1/answers/{id}/reject"), json!({}))?;
            say(format!("answer {id} rejected"))
        }
        Command::Watch {
            json,
            after,
            bell,
            give_up_after,
        } => watch::run(
            ctl.client,
            watch::Options {
                json,
                after,
                bell,
                give_up_after,
            },
        ),
        Command::Assist(a) => casework::assist(&ctl, a),
        Command::Aid { days, json } => casework::aid_list(&ctl, days, json),
        Command::Complaint { cmd } => casework::complaint(&ctl, cmd),
        Command::Referrals { json } => casework::referrals(&ctl, json),
        Command::Consent { cmd } => casework::consent(&ctl, cmd),
        Command::Personal { cmd } => casework::personal(&ctl, cmd),
        Command::Disclose(d) => casework::disclose(&ctl, d),
        Command::WipeKey { confirm } => casework::wipe_key(&ctl, confirm),
        Command::Export {
            profile,
            from,
            to,
            output,
        } => {
            let mut q = format!("/v1/export?profile={profile}");
            for (k, v) in [("from", from), ("to", to)] {
                if let Some(v) = v {
                    q.push_str(&format!("&{k}={}", query_value(&v)));
                }
            }
            let raw = ctl.get(&q)?;
            match output {
                Some(path) => Ok(std::fs::write(path, &raw)?),
                None => print(&raw, true, |_| String::new()),
            }
        }
        Command::Locate { cmd } => locate::run(&ctl, cmd),
        Command::User { cmd } => user::run(&ctl, cmd),
        Command::Purge { json } => {
            let v = ctl.post("/v1/purge", json!({}))?;
            say(if json {
                v.to_string()
            } else {
                render::purge(&v)
            })
        }
        Command::Send { node, text } => {
            let node = node.trim();
            // Decimal numbers go as numbers, everything else as farod's node syntax.
            let node = node
                .parse::<u64>()
                .map_or_else(|_| json!(node), |n| json!(n));
            ctl.post("/v1/send", json!({ "node": node, "text": text.join(" ") }))?;
            say("queued".into())
        }
    }
}

/// `faroctl enroll`: shows the key the station's radio holds, asks the operator to compare it
/// with the radio itself (unless `--yes`), then pins it.
fn enroll(
    ctl: &Ctl,
    kind: &str,
    name: &str,
    node: &str,
    key: Option<String>,
    yes: bool,
) -> Result<(), Failure> {
    let v = json(&ctl.get(&format!("/v1/keys/{}", query_value(node)))?)?;
    let Some(held) = v["held"]["key"].as_str() else {
        return Err(Failure::Usage(format!(
            "the station's radio holds no key for {node} yet: let that radio send the station a direct message, then try again"
        )));
    };
    let fingerprint = v["held"]["fingerprint"].as_str().unwrap_or("?");
    if let Some(k) = &key {
        if k.trim() != held {
            return Err(Failure::Usage(format!(
                "the key given is not the one the station's radio holds for {node}: {held}"
            )));
        }
    }
    if !yes {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "The station's radio holds this key for {node} ({kind} {}):\n  {held}\n  fingerprint {fingerprint}\nCompare it with the radio itself (Meshtastic app: the node, Security, Public key).\nIs it the same? [y/N] ",
            render::clean(name)
        )?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "si" | "sí") {
            return say("not enrolled".into());
        }
    }
    ctl.post(
        "/v1/keys",
        json!({ "kind": kind, "name": name, "node": node, "key": held }),
    )?;
    say(format!(
        "{node}: key {fingerprint} enrolled for {kind} {}",
        render::clean(name)
    ))
}

/// A state change: prints where the incident now stands.
fn changed(ctl: &Ctl, id: &str, action: &str, body: Value) -> Result<(), Failure> {
    let v = ctl.post(&format!("/v1/incidents/{}/{action}", id_path(id)), body)?;
    let mut line = format!(
        "{}: {}",
        v["id"].as_str().unwrap_or(id),
        v["state"].as_str().unwrap_or("?")
    );
    if let Some(o) = v["outcome"].as_str() {
        line.push_str(&format!(" ({o})"));
    } else if let Some(t) = v["team"].as_str() {
        line.push_str(&format!(" ({t})"));
    }
    say(render::clean(&line))
}
