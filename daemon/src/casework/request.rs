//! What an operator asks of the casework, checked before it reaches the database: every
//! count, list and date here is valid; the writer checks only what needs the database (the
//! incident exists, the consent covers the purpose, the key opens).

use super::{
    AidKind, Category, ComplaintStatus, Field, GivenBy, Purpose, RecipientKind, ReferralKind,
    Subject,
};

/// Longest personal value or note, bytes (a description of several people fits).
pub const MAX_VALUE: usize = 4000;
/// Largest number of people on one record.
pub const MAX_PEOPLE: u32 = 10_000;
/// Longest place name, recipient or reason, bytes.
pub const MAX_LABEL: usize = 200;

/// An operator's casework request.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseRequest {
    /// Record a consent.
    Consent {
        /// About what.
        subject: Subject,
        /// Who gave it.
        given_by: GivenBy,
        /// To what.
        purposes: Vec<Purpose>,
    },
    /// Withdraw a consent (personal records that rested on it are erased).
    Withdraw {
        /// The consent's id.
        consent: i64,
    },
    /// Add a personal record (sealed), under a consent that includes `record`.
    PersonalAdd {
        /// About what.
        subject: Subject,
        /// Which field.
        field: Field,
        /// The value (personal data).
        value: String,
        /// The consent it rests on.
        consent: i64,
    },
    /// Show a subject's personal records (the showing is itself recorded).
    PersonalShow {
        /// About what.
        subject: Subject,
    },
    /// Erase a subject's personal records (a person's request, or an operator's mistake).
    Erase {
        /// About what.
        subject: Subject,
    },
    /// An operator's free-text note (sealed; the audit trail says only that a note was added).
    Note {
        /// About what.
        subject: Subject,
        /// The note.
        text: String,
    },
    /// Record aid given.
    Assist(Assist),
    /// Record a complaint, with the consent that allows it.
    Complaint(NewComplaint),
    /// Refer a complaint to a configured institution.
    Refer {
        /// The complaint's id.
        complaint: i64,
        /// `prosecutor`, `human_rights`, `consulate:HN`, or a configured referral's name.
        to: String,
    },
    /// Move a complaint's referral on.
    ComplaintStatus {
        /// The complaint's id.
        complaint: i64,
        /// Its new status.
        status: ComplaintStatus,
    },
    /// Give a subject's export to someone, and record that it was given.
    Disclose(Disclosure),
    /// Destroy the data key: every personal record becomes unreadable for good.
    WipeKey {
        /// The station code, typed again.
        confirm: String,
    },
}

/// Aid given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assist {
    /// The incident it belongs to, if any.
    pub incident: Option<String>,
    /// When (unix ms; None: now).
    pub at: Option<i64>,
    /// Kinds of aid, at least one.
    pub kinds: Vec<AidKind>,
    /// People helped.
    pub people: u32,
    /// Of whom adults.
    pub adults: Option<u32>,
    /// Of whom minors.
    pub minors: Option<u32>,
    /// Of whom minors travelling alone.
    pub unaccompanied_minors: Option<u32>,
    /// Of whom women.
    pub women: Option<u32>,
    /// Of whom pregnant.
    pub pregnant: Option<u32>,
    /// A place name.
    pub place: Option<String>,
    /// Where, if known.
    pub position: Option<(f64, f64)>,
    /// The team that gave it.
    pub team: Option<String>,
    /// A note (sealed as a personal record).
    pub note: Option<String>,
}

/// A complaint channelled.
#[derive(Debug, Clone, PartialEq)]
pub struct NewComplaint {
    /// The incident or assistance record it came from, if any.
    pub from: Option<Subject>,
    /// What it is about.
    pub category: Category,
    /// People who complain.
    pub people: u32,
    /// When it happened.
    pub occurred_on: Option<String>,
    /// Where.
    pub place: Option<String>,
    /// Where, if known.
    pub position: Option<(f64, f64)>,
    /// Who consented (a complaint is never recorded without it).
    pub given_by: GivenBy,
    /// To what (must include `record`).
    pub purposes: Vec<Purpose>,
    /// What happened, in the person's words (sealed as a personal record).
    pub account: Option<String>,
}

/// A disclosure.
#[derive(Debug, Clone, PartialEq)]
pub struct Disclosure {
    /// Whose data.
    pub subject: Subject,
    /// To what kind of recipient.
    pub recipient_kind: RecipientKind,
    /// The institution, or a relationship for a relative ("hermana"): never a name.
    pub recipient: String,
    /// Why.
    pub reason: String,
    /// The personal fields given (None: every field the consent allows).
    pub fields: Option<Vec<Field>>,
}

/// Where complaints are referred: configured per station (`[[referral]]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Referral {
    /// Prosecutor, consulate or human rights commission.
    pub kind: ReferralKind,
    /// The institution.
    pub name: String,
    /// How the operator reaches it (phone, address): shown on the desk, never sent on air.
    pub contact: String,
    /// For a consulate: the country it represents (ISO 3166 alpha-2).
    pub country: Option<String>,
}

impl Referral {
    /// Whether `to` names this referral: its kind (`prosecutor`), `consulate:HN`, or its name.
    pub fn matches(&self, to: &str) -> bool {
        let to = to.trim();
        if to.eq_ignore_ascii_case(&self.name) {
            return true;
        }
        match to.split_once(':') {
            Some((k, country)) => {
                k.parse::<ReferralKind>().ok() == Some(self.kind)
                    && self
                        .country
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(country.trim()))
            }
            None => to.parse::<ReferralKind>().ok() == Some(self.kind),
        }
    }
}

fn check_label(what: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > MAX_LABEL {
        return Err(format!("{what} is longer than {MAX_LABEL} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{what} holds control characters"));
    }
    Ok(())
}

/// Checks a personal value or note: not empty, at most [`MAX_VALUE`] bytes, no control
/// characters but new lines and tabs.
pub fn check_value(what: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > MAX_VALUE {
        return Err(format!("{what} is longer than {MAX_VALUE} bytes"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(format!("{what} holds control characters"));
    }
    Ok(())
}

fn check_position(p: Option<(f64, f64)>) -> Result<(), String> {
    match p {
        Some((lat, lon)) if !faro_proto::mesh::valid_coordinates(lat, lon) => {
            Err(format!("{lat},{lon} is not a valid position"))
        }
        _ => Ok(()),
    }
}

impl Assist {
    /// Checks the record: kinds given, counts in range and consistent with each other.
    pub fn check(&self) -> Result<(), String> {
        if self.kinds.is_empty() {
            return Err("give at least one kind of aid".into());
        }
        if !(1..=MAX_PEOPLE).contains(&self.people) {
            return Err(format!(
                "people = {}: expected 1..{MAX_PEOPLE}",
                self.people
            ));
        }
        let n = self.people;
        let over = |what: &str, v: Option<u32>, max: u32, of: &str| match v {
            Some(v) if v > max => Err(format!("{what} = {v} is more than the {max} {of}")),
            _ => Ok(()),
        };
        over("adults", self.adults, n, "people")?;
        over("minors", self.minors, n, "people")?;
        over("women", self.women, n, "people")?;
        over(
            "unaccompanied minors",
            self.unaccompanied_minors,
            self.minors.unwrap_or(n),
            "minors",
        )?;
        over("pregnant", self.pregnant, self.women.unwrap_or(n), "women")?;
        if let (Some(a), Some(m)) = (self.adults, self.minors) {
            if a + m > n {
                return Err(format!(
                    "adults {a} + minors {m} are more than the {n} people"
                ));
            }
        }
        if let Some(p) = &self.place {
            check_label("the place", p)?;
        }
        if let Some(t) = &self.team {
            check_label("the team", t)?;
        }
        if let Some(note) = &self.note {
            check_value("the note", note)?;
        }
        check_position(self.position)
    }
}

impl NewComplaint {
    /// Checks the complaint: consent to record it, counts, date, place.
    pub fn check(&self) -> Result<(), String> {
        if !self.purposes.contains(&Purpose::Record) {
            return Err(
                "a complaint is recorded only with the person's consent to keep it (purposes must include record)"
                    .into(),
            );
        }
        if self.given_by == GivenBy::Requester {
            return Err("a complaint's consent is the person's own, or a guardian's".into());
        }
        if !(1..=MAX_PEOPLE).contains(&self.people) {
            return Err(format!(
                "people = {}: expected 1..{MAX_PEOPLE}",
                self.people
            ));
        }
        if let Some(d) = &self.occurred_on {
            super::parse_date(d)?;
        }
        if let Some(p) = &self.place {
            check_label("the place", p)?;
        }
        if let Some(a) = &self.account {
            check_value("the account", a)?;
        }
        check_position(self.position)
    }
}

impl Disclosure {
    /// Checks the recipient and reason.
    pub fn check(&self) -> Result<(), String> {
        check_label("the recipient", &self.recipient)?;
        check_label("the reason", &self.reason)?;
        if let Some(f) = &self.fields {
            if f.is_empty() {
                return Err("the list of fields is empty".into());
            }
            if f.contains(&Field::Note) || f.contains(&Field::Contact) {
                return Err(
                    "notes and a requester's contact are the station's own records: never disclosed"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

impl CaseRequest {
    /// Checks what can be checked without the database.
    pub fn check(&self) -> Result<(), String> {
        match self {
            CaseRequest::Consent { purposes, .. } if purposes.is_empty() => {
                Err("give at least one purpose".into())
            }
            CaseRequest::PersonalAdd { value, field, .. } => {
                if *field == Field::Note {
                    return Err("a note is added with `note`, not as a consented field".into());
                }
                check_value("the value", value)
            }
            CaseRequest::Note { text, .. } => check_value("the note", text),
            CaseRequest::Assist(a) => a.check(),
            CaseRequest::Complaint(c) => c.check(),
            CaseRequest::Disclose(d) => d.check(),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aid() -> Assist {
        Assist {
            kinds: vec![AidKind::Water],
            people: 5,
            ..Default::default()
        }
    }

    #[test]
    fn aid_counts_must_add_up() {
        assert!(aid().check().is_ok());
        let bad = [
            Assist {
                kinds: vec![],
                ..aid()
            },
            Assist { people: 0, ..aid() },
            Assist {
                minors: Some(6),
                ..aid()
            },
            Assist {
                adults: Some(3),
                minors: Some(3),
                ..aid()
            },
            Assist {
                minors: Some(2),
                unaccompanied_minors: Some(3),
                ..aid()
            },
            Assist {
                women: Some(1),
                pregnant: Some(2),
                ..aid()
            },
            Assist {
                position: Some((91.0, 0.0)),
                ..aid()
            },
            Assist {
                note: Some(" ".into()),
                ..aid()
            },
            Assist {
                place: Some("a\u{7}b".into()),
                ..aid()
            },
        ];
        for a in bad {
            assert!(a.check().is_err(), "{a:?}");
        }
        let ok = Assist {
            adults: Some(3),
            minors: Some(2),
            unaccompanied_minors: Some(1),
            women: Some(2),
            pregnant: Some(1),
            note: Some("línea 1\nlínea 2".into()),
            ..aid()
        };
        assert_eq!(ok.check(), Ok(()));
    }

    #[test]
    fn a_complaint_needs_consent_to_be_kept() {
        let c = NewComplaint {
            from: None,
            category: Category::Extortion,
            people: 1,
            occurred_on: Some("2026-11-30".into()),
            place: None,
            position: None,
            given_by: GivenBy::Person,
            purposes: vec![Purpose::Authorities],
            account: None,
        };
        assert!(c.check().unwrap_err().contains("consent"));
        let ok = NewComplaint {
            purposes: vec![Purpose::Record, Purpose::Authorities],
            ..c.clone()
        };
        assert_eq!(ok.check(), Ok(()));
        let bad_date = NewComplaint {
            occurred_on: Some("2026-02-30".into()),
            ..ok.clone()
        };
        assert!(bad_date.check().is_err());
        let requester = NewComplaint {
            given_by: GivenBy::Requester,
            ..ok
        };
        assert!(requester.check().is_err());
    }

    #[test]
    fn referrals_match_by_kind_country_or_name() {
        let r = Referral {
            kind: ReferralKind::Consulate,
            name: "Consulado de Honduras en Hermosillo".into(),
            contact: "+52 662 000 0000".into(),
            country: Some("HN".into()),
        };
        assert!(r.matches("consulate:hn"));
        assert!(r.matches("consulado:HN"));
        assert!(r.matches("consulado de honduras en hermosillo"));
        assert!(r.matches("consulate"));
        assert!(!r.matches("consulate:GT"));
        assert!(!r.matches("prosecutor"));
    }

    #[test]
    fn notes_and_contacts_are_never_disclosed() {
        let d = Disclosure {
            subject: Subject::Aid(1),
            recipient_kind: RecipientKind::Consulate,
            recipient: "Consulado".into(),
            reason: "búsqueda".into(),
            fields: Some(vec![Field::Name, Field::Note]),
        };
        assert!(d.check().is_err());
        let ok = Disclosure {
            fields: Some(vec![Field::Name]),
            ..d
        };
        assert_eq!(ok.check(), Ok(()));
    }
}
