//! Casework: the station's work beyond search and rescue (docs/PRIVACY.md). Aid given,
//! complaints channelled, location requests for missing people, the consent a person gave and
//! what was disclosed to whom, and personal records sealed at rest.
//!
//! This module holds the vocabulary (kinds of aid, complaint categories, requesters, outcomes,
//! purposes of consent, recipients, the fields a personal record may hold) and the names of
//! casework records (`AID-3`, `CMP-2`, `LOC-5`; an incident is `SAS-17`). Every word here is
//! also a column value in the database (migration 12): `as_str` is what is stored, `FromStr`
//! accepts it and the Spanish word an operator would type.
//!
//! Submodules: `seal` (the data key and the sealing of personal records), `request` (what an
//! operator asks of the casework, checked), `stats` (the figures, computed from the records),
//! `report` (the monthly report page) and `locate` (location requests as the station reads
//! them, and their matching against incidents and aid).

pub mod report;
pub mod request;
pub mod seal;
pub mod stats;

use std::fmt;
use std::str::FromStr;

use faro_proto::text::IncidentId;

/// Declares a closed vocabulary: variants, their stored names and the other words accepted.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $v:ident = $s:literal $(| $alias:literal)*,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v,)+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$v,)+];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                let w = fold(s);
                $(if w == fold($s) $(|| w == fold($alias))* { return Ok($name::$v); })+
                let known: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                Err(format!("unknown {} {:?} (expected one of: {})", $what, s.trim(), known.join(", ")))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// Lower case, accents folded, `-` and spaces as `_`: how a word from the command line is
/// compared with the vocabulary.
fn fold(s: &str) -> String {
    faro_proto::text::fold(s.trim())
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect()
}

vocabulary! {
    /// A kind of aid (Grupos Beta's humanitarian aid, orientation and legal advice).
    AidKind, "kind of aid" {
        /// First aid.
        FirstAid = "first_aid" | "primeros_auxilios",
        /// A transfer to a hospital.
        HospitalTransfer = "hospital_transfer" | "hospital" | "traslado_hospital",
        /// A transfer to a shelter.
        ShelterTransfer = "shelter_transfer" | "shelter" | "albergue" | "traslado_albergue",
        /// Water.
        Water = "water" | "agua",
        /// Food.
        Food = "food" | "comida" | "alimento" | "alimentos",
        /// A phone call to relatives.
        PhoneCall = "phone_call" | "call" | "llamada",
        /// Orientation on rights, obligations and risks.
        Orientation = "orientation" | "orientacion",
        /// Legal advice.
        LegalAdvice = "legal_advice" | "legal" | "asesoria" | "asesoria_legal",
    }
}

vocabulary! {
    /// What a complaint is about.
    Category, "complaint category" {
        /// Robbery.
        Robbery = "robbery" | "robo",
        /// Assault.
        Assault = "assault" | "agresion" | "asalto",
        /// Extortion.
        Extortion = "extortion" | "extorsion",
        /// Kidnapping.
        Kidnapping = "kidnapping" | "secuestro",
        /// Abuse by an official.
        AbuseByOfficial = "abuse_by_official" | "abuso_de_autoridad" | "abuso",
        /// Anything else.
        Other = "other" | "otro",
    }
}

vocabulary! {
    /// Where a complaint is referred.
    ReferralKind, "referral" {
        /// The prosecutor's office for migrants.
        Prosecutor = "prosecutor" | "fiscalia",
        /// A consulate (of a country).
        Consulate = "consulate" | "consulado",
        /// A human rights commission.
        HumanRights = "human_rights" | "derechos_humanos" | "cndh",
    }
}

vocabulary! {
    /// Where a complaint's referral stands.
    ComplaintStatus, "complaint status" {
        /// Recorded, not yet referred.
        Recorded = "recorded" | "registrada",
        /// Passed to the institution.
        Referred = "referred" | "canalizada",
        /// The institution confirmed it has it.
        Acknowledged = "acknowledged" | "recibida",
        /// Nothing more for the station to do.
        Closed = "closed" | "cerrada",
    }
}

vocabulary! {
    /// Who asked for a location request.
    RequesterKind, "requester" {
        /// A relative.
        Relative = "relative" | "familiar",
        /// A consulate.
        Consulate = "consulate" | "consulado",
        /// Another station.
        Station = "station" | "estacion",
        /// Headquarters.
        Headquarters = "headquarters" | "hq" | "direccion",
        /// Another authority.
        Authority = "authority" | "autoridad",
    }
}

vocabulary! {
    /// How a location request ended.
    LocateOutcome, "outcome" {
        /// Found alive.
        FoundAlive = "found_alive" | "localizado" | "localizados" | "vivo" | "vivos",
        /// Found dead.
        FoundDead = "found_dead" | "sin_vida" | "fallecido" | "fallecidos",
        /// Not found.
        NotFound = "not_found" | "no_localizado",
        /// The requester withdrew it.
        Withdrawn = "withdrawn" | "retirada" | "desistida",
    }
}

vocabulary! {
    /// Who gave a consent.
    GivenBy, "consent giver" {
        /// The person concerned.
        Person = "person" | "persona",
        /// A parent or guardian (a minor).
        Guardian = "guardian" | "tutor",
        /// The one who asked for a location request (about the people sought).
        Requester = "requester" | "solicitante",
    }
}

vocabulary! {
    /// What a person consented to.
    Purpose, "purpose" {
        /// That the station keeps the personal record at all.
        Record = "record" | "registro",
        /// That it is given to authorities (prosecutor, human rights commission, hospital).
        Authorities = "authorities" | "autoridades",
        /// That it is given to direct relatives.
        Relatives = "relatives" | "familiares",
        /// That it is given to the consulate of their country.
        Consulate = "consulate" | "consulado",
        /// That it is compared with location requests from people looking for them.
        Locate = "locate" | "localizacion",
    }
}

vocabulary! {
    /// To whom personal data is disclosed.
    RecipientKind, "recipient" {
        /// An authority (prosecutor, human rights commission, hospital, Civil Protection).
        Authority = "authority" | "autoridad",
        /// A direct relative.
        Relative = "relative" | "familiar",
        /// A consulate.
        Consulate = "consulate" | "consulado",
        /// Headquarters (never personal data: the headquarters profile).
        Headquarters = "headquarters" | "hq",
        /// A municipality (location, number of people and medical category only).
        Municipality = "municipality" | "municipio",
    }
}

impl RecipientKind {
    /// The purpose a person must have consented to before their personal data goes to this
    /// recipient (None: this recipient never receives personal data).
    pub fn purpose(self) -> Option<Purpose> {
        match self {
            RecipientKind::Authority => Some(Purpose::Authorities),
            RecipientKind::Relative => Some(Purpose::Relatives),
            RecipientKind::Consulate => Some(Purpose::Consulate),
            RecipientKind::Headquarters | RecipientKind::Municipality => None,
        }
    }
}

vocabulary! {
    /// What a personal record holds.
    Field, "personal field" {
        /// A name.
        Name = "name" | "nombre",
        /// Nationality.
        Nationality = "nationality" | "nacionalidad",
        /// Place of origin.
        Origin = "origin" | "origen",
        /// A relative's phone number.
        RelativePhone = "relative_phone" | "telefono_familiar" | "telefono",
        /// A description (of a person sought, of what happened).
        Description = "description" | "descripcion",
        /// An operator's free-text note.
        Note = "note" | "nota",
        /// How to reach the requester of a location request.
        Contact = "contact" | "contacto",
    }
}

// After the vocabulary macro, which it uses.
pub mod locate;

/// The prefix of an assistance record's name.
pub const AID: &str = "AID";
/// The prefix of a complaint's name.
pub const COMPLAINT: &str = "CMP";
/// The prefix of a location request's name.
pub const LOCATE: &str = "LOC";
/// Station codes a station may not use: they name casework records.
pub const RESERVED_CODES: [&str; 3] = [AID, COMPLAINT, LOCATE];

/// What a consent, a personal record or a disclosure is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// An incident (`SAS-17`).
    Incident(String),
    /// An assistance record (`AID-3`).
    Aid(i64),
    /// A complaint (`CMP-2`).
    Complaint(i64),
    /// A location request (`LOC-5`).
    Locate(i64),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Incident(id) => f.write_str(id),
            Subject::Aid(n) => write!(f, "{AID}-{n}"),
            Subject::Complaint(n) => write!(f, "{COMPLAINT}-{n}"),
            Subject::Locate(n) => write!(f, "{LOCATE}-{n}"),
        }
    }
}

impl FromStr for Subject {
    type Err = String;

    /// `AID-3`, `CMP-2`, `LOC-5` (any case), else an incident id like `SAS-17`.
    fn from_str(s: &str) -> Result<Self, String> {
        let id: IncidentId = s.parse().map_err(|_| {
            format!(
                "bad record {:?}: expected an incident (SAS-17), AID-n, CMP-n or LOC-n",
                s.trim()
            )
        })?;
        let n = i64::from(id.seq);
        Ok(match id.station.as_str() {
            AID => Subject::Aid(n),
            COMPLAINT => Subject::Complaint(n),
            LOCATE => Subject::Locate(n),
            _ => Subject::Incident(id.to_string()),
        })
    }
}

impl serde::Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses a comma-separated list of vocabulary words, refusing an empty list and repeats.
pub fn parse_list<T: FromStr<Err = String> + PartialEq + Copy>(s: &str) -> Result<Vec<T>, String> {
    let mut out: Vec<T> = Vec::new();
    for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let v: T = w.parse()?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err("the list is empty".into());
    }
    Ok(out)
}

/// Joins vocabulary words as they are stored.
pub fn join<T: fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A calendar date as the casework stores it (`YYYY-MM-DD`), checked.
pub fn parse_date(s: &str) -> Result<String, String> {
    let s = s.trim();
    let bad = || format!("bad date {s:?}: expected YYYY-MM-DD");
    let p: Vec<&str> = s.split('-').collect();
    if p.len() != 3 || p[0].len() != 4 || p[1].len() != 2 || p[2].len() != 2 {
        return Err(bad());
    }
    let y: i32 = p[0].parse().map_err(|_| bad())?;
    let m: u32 = p[1].parse().map_err(|_| bad())?;
    let d: u32 = p[2].parse().map_err(|_| bad())?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1900..=9999).contains(&y) || d == 0 || d > days {
        return Err(bad());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_in_english_and_spanish_and_refuse_the_rest() {
        assert_eq!("agua".parse::<AidKind>(), Ok(AidKind::Water));
        assert_eq!(
            "Primeros auxilios".parse::<AidKind>(),
            Ok(AidKind::FirstAid)
        );
        assert_eq!(
            "hospital-transfer".parse::<AidKind>(),
            Ok(AidKind::HospitalTransfer)
        );
        assert_eq!("Extorsión".parse::<Category>(), Ok(Category::Extortion));
        let e = "magic".parse::<AidKind>().unwrap_err();
        assert!(e.contains("unknown kind of aid \"magic\""), "{e}");
        assert!(e.contains("first_aid"), "{e}");
        for k in AidKind::ALL {
            assert_eq!(k.as_str().parse::<AidKind>(), Ok(*k));
        }
        for k in Purpose::ALL {
            assert_eq!(k.as_str().parse::<Purpose>(), Ok(*k));
        }
    }

    #[test]
    fn subjects_name_casework_records_and_incidents() {
        assert_eq!("aid-3".parse::<Subject>(), Ok(Subject::Aid(3)));
        assert_eq!("CMP-2".parse::<Subject>(), Ok(Subject::Complaint(2)));
        assert_eq!("LOC-5".parse::<Subject>(), Ok(Subject::Locate(5)));
        assert_eq!(
            "sas-17".parse::<Subject>(),
            Ok(Subject::Incident("SAS-17".into()))
        );
        assert_eq!(Subject::Locate(5).to_string(), "LOC-5");
        assert!("LOC".parse::<Subject>().is_err());
        assert!("LOC-x".parse::<Subject>().is_err());
    }

    #[test]
    fn lists_and_dates() {
        assert_eq!(
            parse_list::<AidKind>("water, food,water"),
            Ok(vec![AidKind::Water, AidKind::Food])
        );
        assert!(parse_list::<AidKind>(" , ").is_err());
        assert_eq!(join(&[AidKind::Water, AidKind::Food]), "water,food");
        assert!(parse_date("2026-02-29").is_err());
        assert!(parse_date("2028-02-29").is_ok());
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("26-1-1").is_err());
    }
}
