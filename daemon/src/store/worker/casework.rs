//! Casework in the writer's transaction: consents, sealed personal records, notes, aid,
//! complaints, disclosures and the data key (docs/PRIVACY.md). The requests were checked by
//! `casework::request`; here only what needs the database is checked (the subject exists, a
//! consent covers the purpose, the key opens).
//!
//! The audit trail (`events`, append-only, never purged) says what was done and by whom, never
//! a personal value: "note added (personal record 12)", not the note.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Res, Worker};
use crate::casework::request::{Assist, CaseRequest, Disclosure, NewComplaint};
use crate::casework::seal::{record_aad, Key};
use crate::casework::{join, ComplaintStatus, Field, GivenBy, Purpose, RecipientKind, Subject};
use crate::store::{Refusal, StoreError};

/// The audit trail's name for the control socket.
const VIA: &str = "faroctl";

/// The keys of personal records, as the writer holds them.
#[derive(Debug, Default)]
pub(in crate::store) struct Keys {
    /// The station key (systemd credential), if the service was given one.
    station: Option<Key>,
    /// The live data key and its keyring row, once opened or made.
    data: Option<(i64, Key)>,
    /// Why personal records cannot be written or read now (the station key does not open
    /// the live data key).
    problem: Option<String>,
}

impl Keys {
    /// Opens the live data key with the station key, if both exist.
    pub(in crate::store) fn load(conn: &rusqlite::Connection, station: Option<Key>) -> Res<Keys> {
        let mut keys = Keys {
            station,
            ..Default::default()
        };
        let Some(sk) = &keys.station else {
            tracing::warn!(
                "personal records are off: no personal-data key (systemd credential faro-personal-key; docs/PRIVACY.md)"
            );
            return Ok(keys);
        };
        let live: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT id, wrapped FROM keyring WHERE wrapped IS NOT NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((id, wrapped)) = live {
            match sk.unwrap_key(id, &wrapped) {
                Ok(k) => keys.data = Some((id, k)),
                Err(e) => {
                    tracing::error!(key = id, "personal records are off: {e}");
                    keys.problem = Some(format!("personal records are off: {e}"));
                }
            }
        }
        Ok(keys)
    }
}

/// How the audit trail names an operator (as the desk does).
pub(super) fn operator(name: &str) -> String {
    crate::incident::Actor::Operator(name.to_string()).to_string()
}

fn refused(r: Refusal) -> StoreError {
    StoreError::Refused(r)
}
fn invalid(s: impl Into<String>) -> StoreError {
    refused(Refusal::Invalid(s.into()))
}
fn not_found(s: impl Into<String>) -> StoreError {
    refused(Refusal::NotFound(s.into()))
}
fn conflict(s: impl Into<String>) -> StoreError {
    refused(Refusal::Conflict(s.into()))
}

/// Text of a refusal when personal records cannot be written.
pub const NO_KEY: &str = "personal records are off: farod was given no personal-data key (systemd credential faro-personal-key; see docs/PRIVACY.md)";

impl Worker {
    /// Carries out a casework request; returns what the desk shows.
    pub(super) fn casework(&mut self, who: &str, req: CaseRequest, at: i64) -> Res<Value> {
        req.check().map_err(invalid)?;
        let who = &operator(who);
        match req {
            CaseRequest::Consent {
                subject,
                given_by,
                purposes,
            } => {
                self.require_subject(&subject)?;
                let id = self.insert_consent(&subject, given_by, &purposes, who, at)?;
                self.case_event(
                    &subject,
                    who,
                    at,
                    &format!(
                        "consent {id} recorded for {subject}: given by the {given_by}, for {}",
                        join(&purposes)
                    ),
                )?;
                Ok(json!({ "consent": id, "subject": subject }))
            }
            CaseRequest::Withdraw { consent } => self.withdraw(consent, who, at),
            CaseRequest::PersonalAdd {
                subject,
                field,
                value,
                consent,
            } => {
                self.require_subject(&subject)?;
                self.require_consent(consent, &subject, Purpose::Record)?;
                let id = self.personal_insert(&subject, field, &value, Some(consent), who, at)?;
                self.case_event(
                    &subject,
                    who,
                    at,
                    &format!("personal record {id} ({field}) added under consent {consent}"),
                )?;
                Ok(json!({ "record": id, "subject": subject, "field": field }))
            }
            CaseRequest::PersonalShow { subject } => self.personal_show(&subject, who, at),
            CaseRequest::Erase { subject } => {
                self.require_subject(&subject)?;
                let n = self.exec(
                    "DELETE FROM personal_records WHERE subject = ?1",
                    [subject.to_string()],
                )?;
                self.scrub_after_commit = true;
                self.case_event(
                    &subject,
                    who,
                    at,
                    &format!("personal records of {subject} erased ({n})"),
                )?;
                Ok(json!({ "subject": subject, "erased": n }))
            }
            CaseRequest::Note { subject, text } => {
                self.require_subject(&subject)?;
                let id = self.add_note(&subject, &text, who, at)?;
                Ok(json!({ "record": id, "subject": subject }))
            }
            CaseRequest::Assist(a) => self.assist(a, who, at),
            CaseRequest::Complaint(c) => self.complaint(c, who, at),
            CaseRequest::Refer { complaint, to } => self.refer(complaint, &to, who, at),
            CaseRequest::ComplaintStatus { complaint, status } => {
                self.complaint_status(complaint, status, who, at)
            }
            CaseRequest::Disclose(d) => self.disclose(d, who, at),
            CaseRequest::WipeKey { confirm } => self.wipe_key(&confirm, who, at),
        }
    }

    /// An operator's note, sealed; the audit trail says only that one was added.
    pub(super) fn add_note(
        &mut self,
        subject: &Subject,
        text: &str,
        who: &str,
        at: i64,
    ) -> Res<i64> {
        crate::casework::request::check_value("the note", text).map_err(invalid)?;
        let id = self.personal_insert(subject, Field::Note, text, None, who, at)?;
        self.case_event(
            subject,
            who,
            at,
            &format!("note added (personal record {id}, {} bytes)", text.len()),
        )?;
        Ok(id)
    }

    /// An event on the subject's trail: an incident's own; an aid record's or a complaint's
    /// on the incident it belongs to, if any, else the station's; named by the subject.
    fn case_event(&mut self, subject: &Subject, who: &str, at: i64, what: &str) -> Res<()> {
        let incident: Option<String> = match subject {
            Subject::Incident(id) => Some(id.clone()),
            Subject::Aid(n) => self
                .conn
                .query_row("SELECT incident FROM assistance WHERE id = ?1", [n], |r| {
                    r.get(0)
                })
                .optional()?
                .flatten(),
            Subject::Complaint(n) => self
                .conn
                .query_row("SELECT incident FROM complaints WHERE id = ?1", [n], |r| {
                    r.get(0)
                })
                .optional()?
                .flatten(),
            Subject::Locate(_) => None,
        };
        let named = matches!(subject, Subject::Incident(_)) || what.contains(&subject.to_string());
        let what = if named {
            what.to_string()
        } else {
            format!("{subject}: {what}")
        };
        self.event(incident.as_deref(), at, who, VIA, &what)
    }

    fn require_subject(&self, subject: &Subject) -> Res<()> {
        let (sql, key): (&str, Value) = match subject {
            Subject::Incident(id) => ("SELECT 1 FROM incidents WHERE id = ?1", json!(id)),
            Subject::Aid(n) => ("SELECT 1 FROM assistance WHERE id = ?1", json!(n)),
            Subject::Complaint(n) => ("SELECT 1 FROM complaints WHERE id = ?1", json!(n)),
            Subject::Locate(n) => ("SELECT 1 FROM location_requests WHERE id = ?1", json!(n)),
        };
        let found: Option<i64> = match key {
            Value::String(s) => self.conn.query_row(sql, [s], |r| r.get(0)).optional()?,
            v => self
                .conn
                .query_row(sql, [v.as_i64().unwrap_or(0)], |r| r.get(0))
                .optional()?,
        };
        match found {
            Some(_) => Ok(()),
            None => Err(not_found(format!("no such record {subject}"))),
        }
    }

    fn insert_consent(
        &mut self,
        subject: &Subject,
        given_by: GivenBy,
        purposes: &[Purpose],
        who: &str,
        at: i64,
    ) -> Res<i64> {
        self.exec(
            "INSERT INTO consents(subject, given_by, purposes, at, recorded_by) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![subject.to_string(), given_by.as_str(), join(purposes), at, who],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The consent `id`, checked: about `subject`, not withdrawn, covering `purpose`.
    fn require_consent(&self, id: i64, subject: &Subject, purpose: Purpose) -> Res<()> {
        let row: Option<(String, String, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT subject, purposes, withdrawn_at FROM consents WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((of, purposes, withdrawn)) = row else {
            return Err(not_found(format!("no such consent {id}")));
        };
        if of != subject.to_string() {
            return Err(conflict(format!(
                "consent {id} is about {of}, not {subject}"
            )));
        }
        if withdrawn.is_some() {
            return Err(conflict(format!("consent {id} was withdrawn")));
        }
        if !purposes.split(',').any(|p| p == purpose.as_str()) {
            return Err(conflict(format!(
                "consent {id} does not cover {purpose} (it covers {purposes})"
            )));
        }
        Ok(())
    }

    /// The active consents of a subject covering `purpose` (newest first).
    fn consents_for(&self, subject: &Subject, purpose: Purpose) -> Res<Vec<i64>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, purposes FROM consents WHERE subject = ?1 AND withdrawn_at IS NULL ORDER BY id DESC",
        )?;
        let rows = st.query_map([subject.to_string()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, purposes) = row?;
            if purposes.split(',').any(|p| p == purpose.as_str()) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn withdraw(&mut self, consent: i64, who: &str, at: i64) -> Res<Value> {
        let row: Option<(String, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT subject, withdrawn_at FROM consents WHERE id = ?1",
                [consent],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((subject, withdrawn)) = row else {
            return Err(not_found(format!("no such consent {consent}")));
        };
        if withdrawn.is_some() {
            return Err(conflict(format!("consent {consent} was already withdrawn")));
        }
        self.exec(
            "UPDATE consents SET withdrawn_at = ?2, withdrawn_by = ?3 WHERE id = ?1",
            params![consent, at, who],
        )?;
        // What rested on this consent goes with it.
        let erased = self.exec("DELETE FROM personal_records WHERE consent = ?1", [consent])?;
        self.scrub_after_commit |= erased > 0;
        let subject: Subject = subject.parse().map_err(|e: String| StoreError::Db(e))?;
        self.case_event(
            &subject,
            who,
            at,
            &format!("consent {consent} withdrawn: {erased} personal records erased"),
        )?;
        Ok(json!({ "consent": consent, "erased": erased }))
    }

    /// The live data key, made (and sealed with the station key) if there is none yet.
    fn data_key(&mut self, at: i64) -> Res<(i64, Key)> {
        if let Some(p) = &self.keys.problem {
            return Err(conflict(p.clone()));
        }
        if let Some((id, k)) = &self.keys.data {
            return Ok((*id, k.clone()));
        }
        let Some(station) = self.keys.station.clone() else {
            return Err(conflict(NO_KEY));
        };
        self.exec("INSERT INTO keyring(created_at) VALUES (?1)", [at])?;
        let id = self.conn.last_insert_rowid();
        let key = Key::random();
        self.exec(
            "UPDATE keyring SET wrapped = ?2 WHERE id = ?1",
            params![id, station.wrap(id, &key)],
        )?;
        self.event(
            None,
            at,
            "system",
            VIA,
            &format!("personal-data key {id} made"),
        )?;
        // Kept in memory only once committed: see `commit` (a rolled-back key is forgotten).
        self.keys.data = Some((id, key.clone()));
        self.new_key = Some(id);
        Ok((id, key))
    }

    fn personal_insert(
        &mut self,
        subject: &Subject,
        field: Field,
        value: &str,
        consent: Option<i64>,
        who: &str,
        at: i64,
    ) -> Res<i64> {
        let (key_id, key) = self.data_key(at)?;
        let s = subject.to_string();
        let sealed = key.seal(&record_aad(&s, field.as_str()), value.as_bytes());
        self.exec(
            "INSERT INTO personal_records(subject, field, key, sealed, consent, at, recorded_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![s, field.as_str(), key_id, sealed, consent, at, who],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// A subject's personal records, opened: (id, field, value or why not, consent, at, by).
    fn personal_open(&self, subject: &Subject) -> Res<Vec<Value>> {
        let s = subject.to_string();
        let mut st = self.conn.prepare_cached(
            "SELECT p.id, p.field, p.key, p.sealed, p.consent, p.at, p.recorded_by, k.destroyed_at
             FROM personal_records p JOIN keyring k ON k.id = p.key
             WHERE p.subject = ?1 ORDER BY p.id",
        )?;
        let rows = st.query_map([&s], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, field, key, sealed, consent, at, by, destroyed) = row?;
            let (value, unreadable) = match (&self.keys.data, destroyed) {
                (_, Some(when)) => (
                    None,
                    Some(format!(
                        "unreadable: its key was destroyed {}",
                        crate::store::rfc3339(when)
                    )),
                ),
                (Some((live, k)), None) if *live == key => {
                    match k.open(&record_aad(&s, &field), &sealed) {
                        Ok(v) => (Some(String::from_utf8_lossy(&v).into_owned()), None),
                        Err(e) => (None, Some(format!("unreadable: {e}"))),
                    }
                }
                _ => (
                    None,
                    Some(
                        self.keys
                            .problem
                            .clone()
                            .unwrap_or_else(|| NO_KEY.to_string()),
                    ),
                ),
            };
            out.push(json!({
                "id": id, "field": field, "value": value, "unreadable": unreadable,
                "consent": consent, "at": crate::store::rfc3339(at), "recorded_by": by,
            }));
        }
        Ok(out)
    }

    fn personal_show(&mut self, subject: &Subject, who: &str, at: i64) -> Res<Value> {
        self.require_subject(subject)?;
        let records = self.personal_open(subject)?;
        let consents = self.consents_json(subject)?;
        let disclosures = self.disclosures_json(subject)?;
        let shown = records.iter().filter(|r| !r["value"].is_null()).count();
        // Reading personal data is itself on the record.
        self.case_event(
            subject,
            who,
            at,
            &format!(
                "personal records of {subject} shown ({shown} of {})",
                records.len()
            ),
        )?;
        Ok(json!({
            "subject": subject, "records": records, "consents": consents,
            "disclosures": disclosures,
        }))
    }

    fn consents_json(&self, subject: &Subject) -> Res<Vec<Value>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, given_by, purposes, at, recorded_by, withdrawn_at FROM consents
             WHERE subject = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([subject.to_string()], |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "given_by": r.get::<_, String>(1)?,
                "purposes": r.get::<_, String>(2)?.split(',').map(str::to_string).collect::<Vec<_>>(),
                "at": crate::store::rfc3339(r.get(3)?),
                "recorded_by": r.get::<_, String>(4)?,
                "withdrawn_at": r.get::<_, Option<i64>>(5)?.map(crate::store::rfc3339),
            }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn disclosures_json(&self, subject: &Subject) -> Res<Vec<Value>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, at, recipient_kind, recipient, reason, profile, fields, consent, digest, by
             FROM disclosures WHERE subject = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([subject.to_string()], |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "at": crate::store::rfc3339(r.get(1)?),
                "recipient_kind": r.get::<_, String>(2)?,
                "recipient": r.get::<_, String>(3)?,
                "reason": r.get::<_, String>(4)?,
                "profile": r.get::<_, String>(5)?,
                "fields": r.get::<_, String>(6)?,
                "consent": r.get::<_, Option<i64>>(7)?,
                "sha256": r.get::<_, String>(8)?,
                "by": r.get::<_, String>(9)?,
            }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn assist(&mut self, a: Assist, who: &str, at: i64) -> Res<Value> {
        if let Some(id) = &a.incident {
            self.require_subject(&Subject::Incident(id.clone()))?;
        }
        if let Some(t) = &a.team {
            if !self.cfg.teams.iter().any(|c| &c.name == t) {
                return Err(not_found(format!("unknown team {t:?}")));
            }
        }
        let when = a.at.unwrap_or(at);
        if when > at + 60_000 {
            return Err(invalid("aid cannot be recorded in the future"));
        }
        let (lat, lon) = a.position.map_or((None, None), |(a, b)| (Some(a), Some(b)));
        self.exec(
            "INSERT INTO assistance(at, incident, people, adults, minors, unaccompanied_minors, women,
                 pregnant, place, lat, lon, team, recorded_by, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                when, a.incident, a.people, a.adults, a.minors, a.unaccompanied_minors, a.women,
                a.pregnant, a.place, lat, lon, a.team, who, at
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        for k in &a.kinds {
            self.exec(
                "INSERT INTO assistance_kinds(assistance, kind) VALUES (?1, ?2)",
                params![id, k.as_str()],
            )?;
        }
        let subject = Subject::Aid(id);
        let minors = a
            .minors
            .filter(|m| *m > 0)
            .map(|m| format!(" ({m} minors)"))
            .unwrap_or_default();
        let what = format!(
            "aid {subject} recorded: {} for {} people{minors}",
            join(&a.kinds).replace(',', ", "),
            a.people
        );
        self.event(a.incident.as_deref(), at, who, VIA, &what)?;
        let note = match &a.note {
            Some(n) => Some(self.add_note(&subject, n, who, at)?),
            None => None,
        };
        Ok(json!({ "id": subject, "note": note }))
    }

    fn complaint(&mut self, c: NewComplaint, who: &str, at: i64) -> Res<Value> {
        let (incident, assistance) = match &c.from {
            None => (None, None),
            Some(s) if matches!(s, Subject::Incident(_) | Subject::Aid(_)) => {
                self.require_subject(s)?;
                match s {
                    Subject::Incident(id) => (Some(id.clone()), None),
                    Subject::Aid(n) => (None, Some(*n)),
                    _ => (None, None),
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "a complaint comes from an incident or an aid record, not {other}"
                )))
            }
        };
        // The writer is the only one inserting: the next id is known before the consent that
        // names it.
        let id: i64 =
            self.conn
                .query_row("SELECT coalesce(max(id), 0) + 1 FROM complaints", [], |r| {
                    r.get(0)
                })?;
        let subject = Subject::Complaint(id);
        let consent = self.insert_consent(&subject, c.given_by, &c.purposes, who, at)?;
        let (lat, lon) = c.position.map_or((None, None), |(a, b)| (Some(a), Some(b)));
        self.exec(
            "INSERT INTO complaints(id, at, incident, assistance, category, people, occurred_on, place,
                 lat, lon, status, consent, recorded_by, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'recorded', ?11, ?12, ?2)",
            params![
                id, at, incident, assistance, c.category.as_str(), c.people, c.occurred_on,
                c.place, lat, lon, consent, who
            ],
        )?;
        let what = format!(
            "complaint {subject} recorded ({}, {} people) with consent {consent} of the {}",
            c.category, c.people, c.given_by
        );
        self.event(incident.as_deref(), at, who, VIA, &what)?;
        let account = match &c.account {
            Some(text) => {
                let r = self.personal_insert(
                    &subject,
                    Field::Description,
                    text,
                    Some(consent),
                    who,
                    at,
                )?;
                self.case_event(
                    &subject,
                    who,
                    at,
                    &format!("personal record {r} (description) added under consent {consent}"),
                )?;
                Some(r)
            }
            None => None,
        };
        Ok(json!({ "id": subject, "consent": consent, "account": account }))
    }

    fn complaint_row(&self, id: i64) -> Res<(String, Option<String>)> {
        self.conn
            .query_row(
                "SELECT status, incident FROM complaints WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| not_found(format!("no such complaint {}", Subject::Complaint(id))))
    }

    fn refer(&mut self, id: i64, to: &str, who: &str, at: i64) -> Res<Value> {
        let (status, _) = self.complaint_row(id)?;
        if status == "closed" {
            return Err(conflict(format!("{} is closed", Subject::Complaint(id))));
        }
        let matches: Vec<_> = self
            .cfg
            .referrals
            .iter()
            .filter(|r| r.matches(to))
            .collect();
        let r = match matches.as_slice() {
            [one] => (*one).clone(),
            [] => {
                let known: Vec<String> = self
                    .cfg
                    .referrals
                    .iter()
                    .map(|r| match &r.country {
                        Some(c) => format!("{}:{c}", r.kind),
                        None => r.kind.to_string(),
                    })
                    .collect();
                return Err(not_found(format!(
                    "no referral {to:?} is configured (referrals: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "{to:?} names {} referrals: give its country (consulate:HN) or its name",
                    matches.len()
                )))
            }
        };
        self.exec(
            "UPDATE complaints SET referred_kind = ?2, referred_to = ?3, status = 'referred', updated_at = ?4 WHERE id = ?1",
            params![id, r.kind.as_str(), r.name, at],
        )?;
        let subject = Subject::Complaint(id);
        self.case_event(
            &subject,
            who,
            at,
            &format!("complaint {subject} referred to {} ({})", r.name, r.kind),
        )?;
        // The contact is for the operator at the desk: it is never sent on air.
        Ok(json!({ "id": subject, "referred_to": r }))
    }

    fn complaint_status(
        &mut self,
        id: i64,
        status: ComplaintStatus,
        who: &str,
        at: i64,
    ) -> Res<Value> {
        let (now, _) = self.complaint_row(id)?;
        let now: ComplaintStatus = now.parse().map_err(|e: String| StoreError::Db(e))?;
        if now == ComplaintStatus::Closed {
            return Err(conflict(format!("{} is closed", Subject::Complaint(id))));
        }
        if status != ComplaintStatus::Closed && status <= now {
            return Err(conflict(format!(
                "{} is {now}: it cannot go back to {status}",
                Subject::Complaint(id)
            )));
        }
        if status == ComplaintStatus::Acknowledged && now == ComplaintStatus::Recorded {
            return Err(conflict(format!(
                "{} was not referred yet: refer it first",
                Subject::Complaint(id)
            )));
        }
        self.exec(
            "UPDATE complaints SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, status.as_str(), at],
        )?;
        let subject = Subject::Complaint(id);
        self.case_event(
            &subject,
            who,
            at,
            &format!("complaint {subject} is now {status}"),
        )?;
        Ok(json!({ "id": subject, "status": status }))
    }

    /// The subject as the record shows it, with no personal data.
    fn case_summary(&self, subject: &Subject, profile: RecipientKind) -> Res<Value> {
        let municipality = profile == RecipientKind::Municipality;
        let v = match subject {
            Subject::Incident(id) => self.conn.query_row(
                "SELECT id, kind, priority, flags, people, lat, lon, created_at, state, outcome, closed_at, team
                 FROM incidents WHERE id = ?1",
                [id],
                |r| {
                    let flags: String = r.get(3)?;
                    let flags: Vec<&str> = flags.split(',').filter(|f| !f.is_empty()).collect();
                    if municipality {
                        return Ok(json!({
                            "id": r.get::<_, String>(0)?, "kind": r.get::<_, String>(1)?,
                            "medical": flags, "people": r.get::<_, Option<i64>>(4)?,
                            "lat": r.get::<_, Option<f64>>(5)?, "lon": r.get::<_, Option<f64>>(6)?,
                        }));
                    }
                    Ok(json!({
                        "id": r.get::<_, String>(0)?, "kind": r.get::<_, String>(1)?,
                        "priority": r.get::<_, i64>(2)?, "flags": flags,
                        "people": r.get::<_, Option<i64>>(4)?,
                        "lat": r.get::<_, Option<f64>>(5)?, "lon": r.get::<_, Option<f64>>(6)?,
                        "opened_at": crate::store::rfc3339(r.get(7)?),
                        "state": r.get::<_, String>(8)?, "outcome": r.get::<_, Option<String>>(9)?,
                        "closed_at": r.get::<_, Option<i64>>(10)?.map(crate::store::rfc3339),
                        "team": r.get::<_, Option<String>>(11)?,
                    }))
                },
            )?,
            Subject::Aid(n) => {
                let mut st = self
                    .conn
                    .prepare_cached("SELECT kind FROM assistance_kinds WHERE assistance = ?1 ORDER BY kind")?;
                let kinds: Vec<String> = st
                    .query_map([n], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                self.conn.query_row(
                    "SELECT at, incident, people, adults, minors, unaccompanied_minors, women, pregnant, place, lat, lon, team
                     FROM assistance WHERE id = ?1",
                    [n],
                    |r| {
                        if municipality {
                            return Ok(json!({
                                "id": subject, "medical": kinds.iter().filter(|k| *k == "first_aid" || *k == "hospital_transfer").collect::<Vec<_>>(),
                                "people": r.get::<_, i64>(2)?,
                                "lat": r.get::<_, Option<f64>>(9)?, "lon": r.get::<_, Option<f64>>(10)?,
                            }));
                        }
                        Ok(json!({
                            "id": subject, "at": crate::store::rfc3339(r.get(0)?),
                            "incident": r.get::<_, Option<String>>(1)?, "kinds": kinds,
                            "people": r.get::<_, i64>(2)?, "adults": r.get::<_, Option<i64>>(3)?,
                            "minors": r.get::<_, Option<i64>>(4)?,
                            "unaccompanied_minors": r.get::<_, Option<i64>>(5)?,
                            "women": r.get::<_, Option<i64>>(6)?, "pregnant": r.get::<_, Option<i64>>(7)?,
                            "place": r.get::<_, Option<String>>(8)?,
                            "lat": r.get::<_, Option<f64>>(9)?, "lon": r.get::<_, Option<f64>>(10)?,
                            "team": r.get::<_, Option<String>>(11)?,
                        }))
                    },
                )?
            }
            Subject::Complaint(n) => self.conn.query_row(
                "SELECT at, incident, category, people, occurred_on, place, lat, lon, referred_kind, referred_to, status
                 FROM complaints WHERE id = ?1",
                [n],
                |r| {
                    if municipality {
                        return Ok(json!({
                            "id": subject, "people": r.get::<_, i64>(3)?,
                            "lat": r.get::<_, Option<f64>>(6)?, "lon": r.get::<_, Option<f64>>(7)?,
                        }));
                    }
                    Ok(json!({
                        "id": subject, "at": crate::store::rfc3339(r.get(0)?),
                        "incident": r.get::<_, Option<String>>(1)?,
                        "category": r.get::<_, String>(2)?, "people": r.get::<_, i64>(3)?,
                        "occurred_on": r.get::<_, Option<String>>(4)?,
                        "place": r.get::<_, Option<String>>(5)?,
                        "lat": r.get::<_, Option<f64>>(6)?, "lon": r.get::<_, Option<f64>>(7)?,
                        "referred_kind": r.get::<_, Option<String>>(8)?,
                        "referred_to": r.get::<_, Option<String>>(9)?,
                        "status": r.get::<_, String>(10)?,
                    }))
                },
            )?,
            Subject::Locate(n) => self.conn.query_row(
                "SELECT at, requester_kind, people_sought, place, lat, lon, radius_km, last_seen_on, state, outcome, found
                 FROM location_requests WHERE id = ?1",
                [n],
                |r| {
                    if municipality {
                        return Ok(json!({
                            "id": subject, "people": r.get::<_, i64>(2)?,
                            "lat": r.get::<_, Option<f64>>(4)?, "lon": r.get::<_, Option<f64>>(5)?,
                        }));
                    }
                    Ok(json!({
                        "id": subject, "at": crate::store::rfc3339(r.get(0)?),
                        "requester_kind": r.get::<_, String>(1)?,
                        "people_sought": r.get::<_, i64>(2)?, "place": r.get::<_, Option<String>>(3)?,
                        "lat": r.get::<_, Option<f64>>(4)?, "lon": r.get::<_, Option<f64>>(5)?,
                        "radius_km": r.get::<_, Option<f64>>(6)?,
                        "last_seen_on": r.get::<_, Option<String>>(7)?,
                        "state": r.get::<_, String>(8)?, "outcome": r.get::<_, Option<String>>(9)?,
                        "found": r.get::<_, i64>(10)?,
                    }))
                },
            )?,
        };
        Ok(v)
    }

    /// Builds the export the recipient may have, records that it was given (with its SHA-256),
    /// and returns it: what `faroctl disclose` writes out is exactly what was recorded.
    fn disclose(&mut self, d: Disclosure, who: &str, at: i64) -> Res<Value> {
        self.require_subject(&d.subject)?;
        let case = self.case_summary(&d.subject, d.recipient_kind)?;
        let (consent, personal, fields) = match d.recipient_kind.purpose() {
            None => {
                if d.fields.is_some() {
                    return Err(invalid(format!(
                        "a {} never receives personal data: leave out the fields",
                        d.recipient_kind
                    )));
                }
                (None, serde_json::Map::new(), Vec::new())
            }
            Some(purpose) => {
                let Some(consent) = self.consents_for(&d.subject, purpose)?.first().copied() else {
                    return Err(conflict(format!(
                        "{} has no consent for {purpose}: nothing personal may go to a {}",
                        d.subject, d.recipient_kind
                    )));
                };
                let records = self.personal_open(&d.subject)?;
                let mut personal = serde_json::Map::new();
                let mut fields: Vec<Field> = Vec::new();
                for r in &records {
                    let Some(field) = r["field"].as_str().and_then(|f| f.parse::<Field>().ok())
                    else {
                        continue;
                    };
                    if matches!(field, Field::Note | Field::Contact) {
                        continue;
                    }
                    if d.fields.as_ref().is_some_and(|want| !want.contains(&field)) {
                        continue;
                    }
                    if let Some(why) = r["unreadable"].as_str() {
                        return Err(conflict(format!(
                            "{} personal record {}: {why}",
                            d.subject, r["id"]
                        )));
                    }
                    let value = r["value"].clone();
                    match personal.get_mut(field.as_str()) {
                        Some(Value::Array(a)) => a.push(value),
                        _ => {
                            personal.insert(field.as_str().to_string(), Value::Array(vec![value]));
                        }
                    }
                    if !fields.contains(&field) {
                        fields.push(field);
                    }
                }
                if let Some(want) = &d.fields {
                    if let Some(missing) = want.iter().find(|f| !fields.contains(f)) {
                        return Err(not_found(format!(
                            "{} has no personal record {missing}",
                            d.subject
                        )));
                    }
                }
                (Some(consent), personal, fields)
            }
        };
        let export = json!({
            "faro_export": 1,
            "profile": d.recipient_kind,
            "station": self.cfg.station,
            "subject": d.subject,
            "generated_at": crate::store::rfc3339(at),
            "recipient": d.recipient,
            "reason": d.reason,
            "case": case,
            "personal": personal,
            "consent": consent,
        });
        let bytes =
            serde_json::to_vec_pretty(&export).map_err(|e| StoreError::Db(e.to_string()))?;
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.exec(
            "INSERT INTO disclosures(at, subject, recipient_kind, recipient, reason, profile, fields, consent, digest, by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                at,
                d.subject.to_string(),
                d.recipient_kind.as_str(),
                d.recipient,
                d.reason,
                d.recipient_kind.as_str(),
                join(&fields),
                consent,
                digest,
                who
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        let fields_text = if fields.is_empty() {
            "no personal data".to_string()
        } else {
            join(&fields).replace(',', ", ")
        };
        self.case_event(
            &d.subject,
            who,
            at,
            &format!(
                "disclosure {id}: {} export to {} ({}): {fields_text}; sha256 {}",
                d.recipient_kind,
                d.recipient,
                d.recipient_kind,
                &digest[..16]
            ),
        )?;
        Ok(json!({
            "disclosure": id, "sha256": digest,
            "export": String::from_utf8_lossy(&bytes),
        }))
    }

    fn wipe_key(&mut self, confirm: &str, who: &str, at: i64) -> Res<Value> {
        if !confirm.trim().eq_ignore_ascii_case(&self.cfg.station) {
            return Err(invalid(format!(
                "not confirmed: type the station code ({}) to destroy the personal-data key",
                self.cfg.station
            )));
        }
        let keys: Vec<i64> = {
            let mut st = self
                .conn
                .prepare_cached("SELECT id FROM keyring WHERE wrapped IS NOT NULL")?;
            let ids = st.query_map([], |r| r.get(0))?;
            ids.collect::<Result<_, _>>()?
        };
        if keys.is_empty() && self.keys.problem.is_none() {
            return Err(conflict("there is no personal-data key to destroy"));
        }
        let records: i64 =
            self.conn
                .query_row("SELECT count(*) FROM personal_records", [], |r| r.get(0))?;
        self.exec(
            "UPDATE keyring SET wrapped = NULL, destroyed_at = ?1, destroyed_by = ?2 WHERE wrapped IS NOT NULL",
            params![at, who],
        )?;
        self.scrub_after_commit = true;
        self.wiped = true;
        self.event(
            None,
            at,
            who,
            VIA,
            &format!(
                "personal-data key destroyed: {records} personal records are unreadable for good"
            ),
        )?;
        Ok(json!({ "destroyed": keys, "unreadable": records }))
    }

    /// Notes written by farod before notes were personal records sit in the audit trail as
    /// `note: <text>`. With the station key, each is sealed into a personal record and its
    /// event rewritten to say only that a note was added (the one change the append-only
    /// trail ever gets, in one transaction at start-up, its triggers put back as they were);
    /// then the WAL is checkpointed so the old text is left nowhere. Without the key they
    /// stay, and the log says how many (never what).
    pub(super) fn seal_legacy_notes(&mut self, at: i64) -> Res<()> {
        let legacy: Vec<(i64, String, i64, String, String)> = {
            let mut st = self.conn.prepare(
                "SELECT id, incident, at, who, what FROM events
                 WHERE incident IS NOT NULL AND what LIKE 'note: %' ORDER BY id",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        if legacy.is_empty() {
            return Ok(());
        }
        if self.keys.station.is_none() || self.keys.problem.is_some() {
            tracing::warn!(
                notes = legacy.len(),
                "operator notes from an older farod are still in the audit trail: give farod its personal-data key to seal them"
            );
            return Ok(());
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let r = (|| -> Res<()> {
            self.conn.execute_batch(
                "DROP TRIGGER events_append_only_u; DROP TRIGGER events_append_only_d;",
            )?;
            for (id, incident, when, who, what) in &legacy {
                let text = what.trim_start_matches("note: ");
                let subject = Subject::Incident(incident.clone());
                let rec = self.personal_insert(&subject, Field::Note, text, None, who, *when)?;
                self.exec(
                    "UPDATE events SET what = ?2 WHERE id = ?1",
                    params![
                        id,
                        format!(
                            "note added (personal record {rec}, {} bytes; sealed on upgrade)",
                            text.len()
                        )
                    ],
                )?;
            }
            self.conn.execute_batch(
                "CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
                 CREATE TRIGGER events_append_only_d BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
            )?;
            self.event(
                None,
                at,
                "system",
                "upgrade",
                &format!(
                    "{} operator notes moved from the audit trail into sealed personal records",
                    legacy.len()
                ),
            )?;
            Ok(())
        })();
        match r {
            Ok(()) => {
                self.conn.execute_batch("COMMIT")?;
                self.pending_events.clear();
                self.keys_after(true);
                let _ = self.scrub();
                tracing::info!(
                    notes = legacy.len(),
                    "operator notes sealed into personal records"
                );
                Ok(())
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.pending_events.clear();
                self.keys_after(false);
                Err(e)
            }
        }
    }

    /// After a commit: forget a destroyed key; after a rollback: forget a key never committed.
    pub(super) fn keys_after(&mut self, committed: bool) {
        if committed && self.wiped {
            self.keys.data = None;
            self.keys.problem = None;
        }
        if !committed {
            if let (Some(new), Some((id, _))) = (self.new_key, &self.keys.data) {
                if new == *id {
                    self.keys.data = None;
                }
            }
        }
        self.wiped = false;
        self.new_key = None;
    }
}
