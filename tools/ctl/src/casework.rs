//! faroctl's casework commands: aid given, complaints and referrals, consents, personal
//! records, disclosures, the data key. Personal values are read from standard input, never
//! from the command line (where shell history and `ps` would keep them).

use std::io::{Read, Write};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::{id_path, parse_position, print, render, say, Ctl, Failure};

/// `faroctl assist`: aid given.
#[derive(Debug, Args)]
pub struct AssistArgs {
    /// The incident it belongs to (none: a walk-in, a group met by a patrol).
    pub incident: Option<String>,
    /// Kinds of aid, comma-separated: first_aid, hospital_transfer, shelter_transfer, water,
    /// food, phone_call, orientation, legal_advice (Spanish words too: agua, comida...).
    #[arg(long, value_name = "KIND[,KIND...]")]
    pub kind: String,
    /// People helped.
    #[arg(long, value_name = "N")]
    pub people: u32,
    /// Of whom adults.
    #[arg(long, value_name = "N")]
    pub adults: Option<u32>,
    /// Of whom minors.
    #[arg(long, value_name = "N")]
    pub minors: Option<u32>,
    /// Of whom minors travelling alone.
    #[arg(long, value_name = "N")]
    pub unaccompanied: Option<u32>,
    /// Of whom women.
    #[arg(long, value_name = "N")]
    pub women: Option<u32>,
    /// Of whom pregnant women.
    #[arg(long, value_name = "N")]
    pub pregnant: Option<u32>,
    /// Where (a place name).
    #[arg(long, value_name = "NAME")]
    pub place: Option<String>,
    /// Where (LAT,LON).
    #[arg(long, value_name = "LAT,LON", value_parser = parse_position)]
    pub at: Option<(f64, f64)>,
    /// The team that gave it.
    #[arg(long, value_name = "TEAM")]
    pub team: Option<String>,
    /// When, if not now (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub when: Option<String>,
    /// A note (sealed as a personal record; the audit trail says only that there is one).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Print farod's JSON.
    #[arg(long)]
    pub json: bool,
}

/// `faroctl complaint ...`.
#[derive(Debug, Subcommand)]
pub enum ComplaintCmd {
    /// Record a complaint, with the consent of the person who makes it. What happened, in
    /// their words, is read from standard input with --account (sealed).
    Add {
        /// The incident or aid record it came from (SAS-17, AID-3).
        #[arg(long, value_name = "RECORD")]
        from: Option<String>,
        /// robbery, assault, extortion, kidnapping, abuse_by_official, other.
        #[arg(long)]
        category: String,
        /// People who complain.
        #[arg(long, default_value_t = 1)]
        people: u32,
        /// When it happened (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        occurred: Option<String>,
        /// Where (a place name).
        #[arg(long, value_name = "NAME")]
        place: Option<String>,
        /// Where (LAT,LON).
        #[arg(long, value_name = "LAT,LON", value_parser = parse_position)]
        at: Option<(f64, f64)>,
        /// Who consented: person or guardian.
        #[arg(long, value_name = "WHO")]
        consent_by: String,
        /// To what, comma-separated (record is required; authorities, consulate, relatives).
        #[arg(long, value_name = "PURPOSES")]
        consent_to: String,
        /// Read the person's account from standard input (sealed as a personal record).
        #[arg(long)]
        account: bool,
    },
    /// The complaints, open ones first.
    List {
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refer a complaint: prosecutor, human_rights, consulate:HN, or a configured name. The
    /// institution's contact is shown here; nothing goes on air.
    Refer { id: String, to: String },
    /// Move a complaint's referral on: acknowledged (the institution has it), closed.
    Status { id: String, status: String },
}

/// `faroctl consent ...`.
#[derive(Debug, Subcommand)]
pub enum ConsentCmd {
    /// Record a consent: who gave it (person, guardian, requester) and to what (record,
    /// authorities, relatives, consulate, locate).
    Add {
        /// The record it is about (SAS-17, AID-3, CMP-2, LOC-5).
        subject: String,
        /// person, guardian or requester.
        #[arg(long, value_name = "WHO")]
        by: String,
        /// Purposes, comma-separated.
        #[arg(long, value_name = "PURPOSES")]
        to: String,
    },
    /// Withdraw a consent: the personal records that rested on it are erased.
    Withdraw { id: i64 },
}

/// `faroctl personal ...`.
#[derive(Debug, Subcommand)]
pub enum PersonalCmd {
    /// Add a personal record (the value is read from standard input), under a consent.
    Add {
        /// The record it is about (SAS-17, AID-3, CMP-2, LOC-5).
        subject: String,
        /// name, nationality, origin, relative_phone, description, contact.
        #[arg(long)]
        field: String,
        /// The consent it rests on (its id).
        #[arg(long)]
        consent: i64,
    },
    /// Show a record's personal data, consents and disclosures (the showing is recorded).
    Show {
        subject: String,
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Erase a record's personal data (a person's request).
    Erase {
        subject: String,
        /// Confirm without asking.
        #[arg(long)]
        yes: bool,
    },
}

/// `faroctl disclose`.
#[derive(Debug, Args)]
pub struct DiscloseArgs {
    /// Whose data (SAS-17, AID-3, CMP-2, LOC-5).
    pub subject: String,
    /// authority, relative, consulate, headquarters, municipality.
    #[arg(long, value_name = "KIND")]
    pub to: String,
    /// The institution, or the relationship of a relative (never a name).
    #[arg(long, value_name = "WHO")]
    pub recipient: String,
    /// Why.
    #[arg(long)]
    pub reason: String,
    /// Only these personal fields (comma-separated; default: all the consent allows).
    #[arg(long, value_name = "FIELDS")]
    pub fields: Option<String>,
    /// Write the export here (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// Reads a personal value from standard input (trailing new line removed).
fn stdin_value(what: &str) -> Result<String, Failure> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("{what} (end with Ctrl-D):");
    }
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.trim().is_empty() {
        return Err(Failure::Usage(format!("{what}: nothing on standard input")));
    }
    Ok(s)
}

/// `faroctl assist`.
pub fn assist(ctl: &Ctl, a: AssistArgs) -> Result<(), Failure> {
    let v = ctl.post(
        "/v1/assist",
        json!({
            "incident": a.incident, "kinds": a.kind, "people": a.people,
            "adults": a.adults, "minors": a.minors, "unaccompanied_minors": a.unaccompanied,
            "women": a.women, "pregnant": a.pregnant, "place": a.place,
            "lat": a.at.map(|p| p.0), "lon": a.at.map(|p| p.1), "team": a.team,
            "at": a.when, "note": a.note,
        }),
    )?;
    if a.json {
        return say(v.to_string());
    }
    say(format!(
        "{}: aid recorded for {} people{}",
        render::clean(v["id"].as_str().unwrap_or("?")),
        a.people,
        if v["note"].is_null() {
            ""
        } else {
            " (note sealed)"
        }
    ))
}

/// `faroctl aid`: aid given in the last days.
pub fn aid_list(ctl: &Ctl, days: u32, as_json: bool) -> Result<(), Failure> {
    print(
        &ctl.get(&format!("/v1/assist?days={days}"))?,
        as_json,
        |v| {
            let rows: Vec<Vec<String>> = v
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    vec![
                        s(a, "id"),
                        render::at(&s(a, "at")),
                        s(a, "incident"),
                        a["kinds"]
                            .as_array()
                            .map(|k| {
                                k.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .unwrap_or_default(),
                        s(a, "people"),
                        s(a, "minors"),
                        s(a, "place"),
                        s(a, "team"),
                    ]
                })
                .collect();
            if rows.is_empty() {
                return "no aid recorded in that time\n".into();
            }
            render::table(
                &[
                    "AID", "AT", "INCIDENT", "KINDS", "PEOPLE", "MINORS", "PLACE", "TEAM",
                ],
                &rows,
            )
        },
    )
}

fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::Null => "-".into(),
        Value::String(t) => render::clean(t),
        other => render::clean(&other.to_string()),
    }
}

/// `faroctl complaint ...`.
pub fn complaint(ctl: &Ctl, cmd: ComplaintCmd) -> Result<(), Failure> {
    match cmd {
        ComplaintCmd::Add {
            from,
            category,
            people,
            occurred,
            place,
            at,
            consent_by,
            consent_to,
            account,
        } => {
            let account = if account {
                Some(stdin_value("the person's account")?)
            } else {
                None
            };
            let v = ctl.post(
                "/v1/complaints",
                json!({
                    "from": from, "category": category, "people": people,
                    "occurred_on": occurred, "place": place,
                    "lat": at.map(|p| p.0), "lon": at.map(|p| p.1),
                    "given_by": consent_by, "purposes": consent_to, "account": account,
                }),
            )?;
            say(format!(
                "{}: complaint recorded under consent {}",
                render::clean(v["id"].as_str().unwrap_or("?")),
                v["consent"]
            ))
        }
        ComplaintCmd::List { json } => print(&ctl.get("/v1/complaints")?, json, |v| {
            let rows: Vec<Vec<String>> = v
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    vec![
                        s(c, "id"),
                        render::at(&s(c, "at")),
                        s(c, "category"),
                        s(c, "people"),
                        s(c, "occurred_on"),
                        s(c, "status"),
                        s(c, "referred_to"),
                    ]
                })
                .collect();
            if rows.is_empty() {
                return "no complaints\n".into();
            }
            render::table(
                &[
                    "COMPLAINT",
                    "RECORDED",
                    "CATEGORY",
                    "PEOPLE",
                    "OCCURRED",
                    "STATUS",
                    "REFERRED TO",
                ],
                &rows,
            )
        }),
        ComplaintCmd::Refer { id, to } => {
            let v = ctl.post(
                &format!("/v1/complaints/{}/refer", id_path(&id)),
                json!({ "to": to }),
            )?;
            let r = &v["referred_to"];
            say(format!(
                "{}: referred to {} ({})\n  contact: {}\n  (give it to them yourself: nothing of a complaint goes on air)",
                render::clean(v["id"].as_str().unwrap_or(&id)),
                s(r, "name"),
                s(r, "kind"),
                s(r, "contact"),
            ))
        }
        ComplaintCmd::Status { id, status } => {
            let v = ctl.post(
                &format!("/v1/complaints/{}/status", id_path(&id)),
                json!({ "status": status }),
            )?;
            say(format!(
                "{}: {}",
                render::clean(v["id"].as_str().unwrap_or(&id)),
                s(&v, "status")
            ))
        }
    }
}

/// `faroctl referrals`: where complaints go, with their contacts.
pub fn referrals(ctl: &Ctl, as_json: bool) -> Result<(), Failure> {
    print(&ctl.get("/v1/referrals")?, as_json, |v| {
        let rows: Vec<Vec<String>> = v
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|r| vec![s(r, "kind"), s(r, "country"), s(r, "name"), s(r, "contact")])
            .collect();
        if rows.is_empty() {
            return "no referrals configured ([[referral]] in faro.toml)\n".into();
        }
        render::table(&["KIND", "COUNTRY", "INSTITUTION", "CONTACT"], &rows)
    })
}

/// `faroctl consent ...`.
pub fn consent(ctl: &Ctl, cmd: ConsentCmd) -> Result<(), Failure> {
    match cmd {
        ConsentCmd::Add { subject, by, to } => {
            let v = ctl.post(
                "/v1/consents",
                json!({ "subject": subject, "given_by": by, "purposes": to }),
            )?;
            say(format!(
                "consent {} recorded for {}",
                v["consent"],
                render::clean(v["subject"].as_str().unwrap_or(&subject))
            ))
        }
        ConsentCmd::Withdraw { id } => {
            let v = ctl.post(&format!("/v1/consents/{id}/withdraw"), json!({}))?;
            say(format!(
                "consent {id} withdrawn; {} personal records erased",
                v["erased"]
            ))
        }
    }
}

/// `faroctl personal ...`.
pub fn personal(ctl: &Ctl, cmd: PersonalCmd) -> Result<(), Failure> {
    match cmd {
        PersonalCmd::Add {
            subject,
            field,
            consent,
        } => {
            let value = stdin_value(&format!("the {field}"))?;
            let v = ctl.post(
                "/v1/personal",
                json!({ "subject": subject, "field": field, "value": value, "consent": consent }),
            )?;
            say(format!(
                "personal record {} added to {}",
                v["record"],
                render::clean(v["subject"].as_str().unwrap_or(&subject))
            ))
        }
        PersonalCmd::Show { subject, json } => {
            let v = ctl.post(
                &format!("/v1/personal/{}/show", id_path(&subject)),
                json!({}),
            )?;
            if json {
                return say(v.to_string());
            }
            say(render_personal(&v))
        }
        PersonalCmd::Erase { subject, yes } => {
            if !yes && !confirm(&format!("Erase every personal record of {subject}? [y/N] "))? {
                return say("nothing erased".into());
            }
            let v = ctl.post(
                &format!("/v1/personal/{}/erase", id_path(&subject)),
                json!({}),
            )?;
            say(format!(
                "{}: {} personal records erased",
                render::clean(v["subject"].as_str().unwrap_or(&subject)),
                v["erased"]
            ))
        }
    }
}

fn render_personal(v: &Value) -> String {
    let mut out = format!("{}\n", s(v, "subject"));
    let list = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    out.push_str("personal records:\n");
    for r in list("records") {
        let value = match r["value"].as_str() {
            Some(t) => render::clean(t),
            None => format!("[{}]", s(&r, "unreadable")),
        };
        out.push_str(&format!(
            "  {:>4} {:<15} {}  (consent {}, {} by {})\n",
            s(&r, "id"),
            s(&r, "field"),
            value,
            s(&r, "consent"),
            render::at(&s(&r, "at")),
            s(&r, "recorded_by"),
        ));
    }
    out.push_str("consents:\n");
    for c in list("consents") {
        let purposes = c["purposes"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:>4} by the {} for {}  {}{}\n",
            s(&c, "id"),
            s(&c, "given_by"),
            render::clean(&purposes),
            render::at(&s(&c, "at")),
            if c["withdrawn_at"].is_null() {
                String::new()
            } else {
                format!("  WITHDRAWN {}", render::at(&s(&c, "withdrawn_at")))
            }
        ));
    }
    out.push_str("disclosures:\n");
    for d in list("disclosures") {
        out.push_str(&format!(
            "  {:>4} {} to {} ({}): {}  by {}  sha256 {}\n",
            s(&d, "id"),
            render::at(&s(&d, "at")),
            s(&d, "recipient"),
            s(&d, "recipient_kind"),
            s(&d, "fields"),
            s(&d, "by"),
            s(&d, "sha256"),
        ));
    }
    out.trim_end().to_string()
}

fn confirm(question: &str) -> Result<bool, Failure> {
    let mut out = std::io::stdout().lock();
    write!(out, "{question}")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "si" | "sí"))
}

/// `faroctl disclose`: the export goes to standard output (or `-o FILE`); what is written is
/// exactly what farod recorded the digest of.
pub fn disclose(ctl: &Ctl, d: DiscloseArgs) -> Result<(), Failure> {
    let v = ctl.post(
        "/v1/disclose",
        json!({
            "subject": d.subject, "recipient_kind": d.to, "recipient": d.recipient,
            "reason": d.reason, "fields": d.fields,
        }),
    )?;
    let export = v["export"].as_str().ok_or_else(|| {
        Failure::Http(crate::http::Error::Protocol(
            "no export in the answer".into(),
        ))
    })?;
    match &d.output {
        Some(path) => {
            std::fs::write(path, export)?;
            eprintln!(
                "disclosure {} recorded; export written to {} (sha256 {})",
                v["disclosure"],
                path.display(),
                s(&v, "sha256")
            );
            Ok(())
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(export.as_bytes())?;
            out.flush()?;
            eprintln!(
                "disclosure {} recorded (sha256 {})",
                v["disclosure"],
                s(&v, "sha256")
            );
            Ok(())
        }
    }
}

/// `faroctl wipe-key`: destroys the data key after the operator types the station code.
pub fn wipe_key(ctl: &Ctl, confirm_code: Option<String>) -> Result<(), Failure> {
    let code = match confirm_code {
        Some(c) => c,
        None => {
            let status = crate::json(&ctl.get("/v1/status")?)?;
            let station = status["station"].as_str().unwrap_or("?").to_string();
            let mut out = std::io::stdout().lock();
            write!(
                out,
                "This destroys the personal-data key: every personal record (names, descriptions,\nnotes) becomes unreadable for good. The incident queue keeps working.\nType the station code ({}) to go on: ",
                render::clean(&station)
            )?;
            out.flush()?;
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            answer.trim().to_string()
        }
    };
    let v = ctl.post("/v1/wipe-key", json!({ "confirm": code }))?;
    say(format!(
        "personal-data key destroyed: {} personal records are unreadable",
        v["unreadable"]
    ))
}
