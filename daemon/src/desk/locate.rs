//! Location requests for missing people (`LOC-5`): someone (a relative, a consulate, another
//! station, headquarters) asks the station to look for people last seen somewhere. The rules:
//!
//! - **open**: who asks, how many people, where (a place name and/or a position) and how far
//!   around (10 km by default, at most 200), when they were last seen (not after today). The
//!   audit trail says the counts, the place and the date: never a name or a description, which
//!   are personal data kept sealed (`faroctl personal add LOC-5 ...`);
//! - **task**: the search goes to a team (state `searching`), which is told in its language the
//!   id, the count, the date and the place, and how to answer; a team given it before is told
//!   the search is over for it;
//! - **a patrol's report** (`LOC-5 HALLADOS 2`, `LOC-5 NADA`): counts only from a node whose
//!   key is pinned for the team given the search (the same check as every patrol command).
//!   `HALLADOS n` says the team has found `n` people so far: the request keeps the largest
//!   number reported, never more than the people sought (a repeated or smaller report changes
//!   nothing; a larger one than sought records the number sought and says so). Neither report
//!   closes the request: only the operator knows how it ended;
//! - **close**: with its outcome (`found_alive` and `found_dead` need at least one person
//!   found, given now or reported, and a number given now is never below what the patrol
//!   reported: found never falls; `not_found` and `withdrawn` any time); the team still
//!   searching is told the search is over;
//! - **reported**: the outcome was told back to the requester, and how; only once, and only
//!   after closing.

use faro_proto::text::LocateReport;

use super::briefing::place_text;
use super::intake::coords;
use super::{Desk, DeskResult, Effect, Facts, LocateRequest, Refusal, Rx, CLASS_PATROL};
use crate::casework::locate::{date_of, name, ReportedHow};
use crate::casework::{parse_date, LocateOutcome, RequesterKind};
use crate::catalog::Msg;
use crate::incident::Actor;
use crate::lang::Lang;
use faro_proto::mesh;

/// The search radius when none is given, km.
pub const DEFAULT_RADIUS_KM: f64 = 10.0;
/// The largest search radius, km.
pub const MAX_RADIUS_KM: f64 = 200.0;
/// The longest place name of a request, bytes (it is said on air).
pub const LOCATE_PLACE_MAX: usize = 60;
/// Most people one request may seek.
pub const MAX_SOUGHT: u32 = 10_000;

/// The audit trail's name for the control socket.
const VIA: &str = "faroctl";

/// Where a location request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocateState {
    /// Recorded; no team searching.
    Open,
    /// A team was given the search.
    Searching,
    /// Ended with an outcome.
    Closed,
}

impl LocateState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            LocateState::Open => "open",
            LocateState::Searching => "searching",
            LocateState::Closed => "closed",
        }
    }

    /// The state a stored word names.
    pub fn parse(s: &str) -> Option<LocateState> {
        [
            LocateState::Open,
            LocateState::Searching,
            LocateState::Closed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A new location request, as the desk decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLocate {
    /// Its number (`LOC-5` is 5).
    pub id: i64,
    /// Who asked.
    pub requester: RequesterKind,
    /// People sought.
    pub people: u32,
    /// Last seen: a place or area name.
    pub place: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Search radius, km.
    pub radius_km: f64,
    /// Last seen on, `YYYY-MM-DD`.
    pub last_seen_on: Option<String>,
    /// The operator (`operator:ana`).
    pub recorded_by: String,
}

/// What the desk knows about a location request.
#[derive(Debug, Clone, PartialEq)]
pub struct LocateFacts {
    /// Its number.
    pub id: i64,
    /// Who asked.
    pub requester: RequesterKind,
    /// People sought.
    pub people: u32,
    /// Last seen: a place or area name.
    pub place: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Search radius, km.
    pub radius_km: f64,
    /// Last seen on.
    pub last_seen_on: Option<String>,
    /// Where it stands.
    pub state: LocateState,
    /// The team given the search.
    pub team: Option<String>,
    /// How it ended.
    pub outcome: Option<LocateOutcome>,
    /// People found so far.
    pub found: u32,
    /// When it closed.
    pub closed_at: Option<i64>,
    /// When the outcome was reported back.
    pub reported_at: Option<i64>,
}

impl LocateFacts {
    /// Where the people were last seen, for the audit trail: `Sasabe (31.47460,-111.54490)`.
    fn where_text(&self) -> String {
        let pos = self.lat.zip(self.lon).map(|(la, lo)| coords(la, lo));
        match (&self.place, pos) {
            (Some(p), Some(c)) => format!("{p} ({c})"),
            (Some(p), None) => p.clone(),
            (None, Some(c)) => c,
            (None, None) => "?".into(),
        }
    }

    /// Where, as a patrol reads it (at most [`LOCATE_PLACE_MAX`] bytes): the place name given,
    /// else the nearest gazetteer place (`21 km O Sásabe`), else the coordinates.
    fn place_on_air(&self, lang: Lang) -> String {
        if let Some(p) = &self.place {
            return cut(p, LOCATE_PLACE_MAX).to_string();
        }
        match (self.lat, self.lon) {
            (Some(la), Some(lo)) => {
                let near = place_text(la, lo, lang);
                if near.is_empty() {
                    coords(la, lo)
                } else {
                    cut(&near, LOCATE_PLACE_MAX).to_string()
                }
            }
            _ => "?".into(),
        }
    }
}

/// `28/11` from `2026-11-28` (empty when unknown).
fn day_month(date: Option<&str>) -> String {
    match date {
        Some(d) if d.len() == 10 => format!("{}/{}", &d[8..10], &d[5..7]),
        _ => String::new(),
    }
}

/// A radius as people say it: `12`, `7.5`.
fn km_text(km: f64) -> String {
    if km.fract() == 0.0 {
        format!("{km:.0}")
    } else {
        format!("{km:.1}")
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let end = (0..=max.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

fn invalid(what: impl Into<String>) -> super::StoreError {
    Refusal::Invalid(what.into()).into()
}

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// The location request numbered `id`, or `NotFound`.
    fn require_locate(&self, id: i64) -> DeskResult<LocateFacts> {
        self.facts
            .locate(id)?
            .ok_or_else(|| Refusal::NotFound(format!("no location request {}", name(id))).into())
    }

    /// Opens a location request; returns its name (`LOC-5`).
    pub(super) fn locate_open(&mut self, who: &str, r: &LocateRequest) -> DeskResult<String> {
        let requester: RequesterKind = r.requester.parse().map_err(Refusal::Invalid)?;
        if r.people == 0 || r.people > MAX_SOUGHT {
            return Err(invalid(format!(
                "people = {}: expected 1..{MAX_SOUGHT}",
                r.people
            )));
        }
        let place = r
            .place
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        if let Some(p) = &place {
            if p.len() > LOCATE_PLACE_MAX || p.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "the place must be one line of at most {LOCATE_PLACE_MAX} bytes (it is said on air)"
                )));
            }
        }
        match (r.lat, r.lon) {
            (Some(lat), Some(lon)) if !mesh::valid_coordinates(lat, lon) => {
                return Err(invalid(format!("{lat},{lon} is not a valid position")))
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(invalid("give both latitude and longitude"))
            }
            (None, None) if place.is_none() => {
                return Err(invalid(
                    "say where they were last seen: a place, or latitude and longitude",
                ))
            }
            _ => {}
        }
        let radius_km = r.radius_km.unwrap_or(DEFAULT_RADIUS_KM);
        if !radius_km.is_finite() || radius_km <= 0.0 || radius_km > MAX_RADIUS_KM {
            return Err(invalid(format!(
                "radius = {radius_km} km: expected more than 0 and at most {MAX_RADIUS_KM}"
            )));
        }
        let last_seen_on = match r.last_seen.as_deref() {
            None => None,
            Some(d) => {
                let d = parse_date(d).map_err(Refusal::Invalid)?;
                let today = date_of(self.at);
                if d > today {
                    return Err(invalid(format!(
                        "last seen on {d} is after today ({today})"
                    )));
                }
                Some(d)
            }
        };
        let id = self.facts.next_locate()?;
        let new = NewLocate {
            id,
            requester,
            people: r.people,
            place,
            lat: r.lat,
            lon: r.lon,
            radius_km,
            last_seen_on,
            recorded_by: who.to_string(),
        };
        let facts = LocateFacts {
            id,
            requester,
            people: new.people,
            place: new.place.clone(),
            lat: new.lat,
            lon: new.lon,
            radius_km,
            last_seen_on: new.last_seen_on.clone(),
            state: LocateState::Open,
            team: None,
            outcome: None,
            found: 0,
            closed_at: None,
            reported_at: None,
        };
        self.out.effects.push(Effect::LocateOpen(Box::new(new)));
        let seen = facts
            .last_seen_on
            .as_deref()
            .map_or("date unknown".to_string(), str::to_string);
        let what = format!(
            "location request {} opened: {} {} sought near {} within {} km, last seen {seen} \
             (requester: {requester})",
            name(id),
            facts.people,
            if facts.people == 1 {
                "person"
            } else {
                "people"
            },
            facts.where_text(),
            km_text(radius_km),
        );
        self.event(None, who, VIA, what);
        Ok(name(id))
    }

    /// Gives the search to `team`; it is told what to look for, in its language.
    pub(super) fn locate_task(&mut self, who: &str, id: i64, team: &str) -> DeskResult<String> {
        let req = self.require_locate(id)?;
        let n = name(id);
        if req.state == LocateState::Closed {
            return Err(Refusal::Conflict(format!("{n} is closed")).into());
        }
        if !self.cfg.teams.iter().any(|t| t.name == team) {
            let known: Vec<&str> = self.cfg.teams.iter().map(|t| t.name.as_str()).collect();
            return Err(Refusal::NotFound(format!(
                "unknown team {team:?} (teams: {})",
                known.join(", ")
            ))
            .into());
        }
        if let Some(old) = req
            .team
            .as_deref()
            .filter(|t| *t != team && req.state == LocateState::Searching)
        {
            self.tell_done(&n, old);
            self.event(
                None,
                who,
                VIA,
                format!("{n}: search taken from patrol {old}"),
            );
        }
        self.out.effects.push(Effect::LocateTask {
            id,
            team: team.to_string(),
        });
        let told = match self.team_node(team) {
            Some(node) => {
                let lang = self.team_lang(team);
                let text = self.task_text(&req, lang);
                self.say_text(None, node, CLASS_PATROL, Msg::LocateTask, text);
                ""
            }
            None => " (it has no radio to be told on)",
        };
        self.event(
            None,
            who,
            VIA,
            format!(
                "{n}: search task given to patrol {team}: {} sought within {} km of {}{told}",
                req.people,
                km_text(req.radius_km),
                req.where_text()
            ),
        );
        Ok(n)
    }

    /// The search task as a patrol reading `lang` gets it: id, count, date, place, radius.
    pub(super) fn task_text(&self, req: &LocateFacts, lang: Lang) -> String {
        let (id, people, km) = (name(req.id), req.people.to_string(), km_text(req.radius_km));
        let date = day_month(req.last_seen_on.as_deref());
        let mut place = req.place_on_air(lang);
        loop {
            let args = [
                ("id", id.as_str()),
                ("people", &people),
                ("date", &date),
                ("place", &place),
                ("km", &km),
            ];
            // Too long for one packet (a long place in a long language): shorten the place
            // rather than cut the answers at the end.
            if place.is_empty() || self.cfg.catalog.fits(lang, Msg::LocateTask, &args) {
                return self.render(lang, Msg::LocateTask, &args);
            }
            let shorter = cut(&place, place.len().saturating_sub(8)).to_string();
            place = shorter;
        }
    }

    /// Tells `team` its search `n` is over.
    fn tell_done(&mut self, n: &str, team: &str) {
        if let Some(node) = self.team_node(team) {
            let lang = self.team_lang(team);
            self.say(
                None,
                node,
                CLASS_PATROL,
                lang,
                Msg::LocateDone,
                &[("id", n)],
            );
        }
    }

    /// Closes the request with its outcome.
    pub(super) fn locate_close(
        &mut self,
        who: &str,
        id: i64,
        outcome: LocateOutcome,
        found: Option<u32>,
    ) -> DeskResult<String> {
        let req = self.require_locate(id)?;
        let n = name(id);
        if let Some(o) = req.outcome.filter(|_| req.state == LocateState::Closed) {
            return Err(Refusal::Conflict(format!("{n} is already closed ({o})")).into());
        }
        let finds = matches!(
            outcome,
            LocateOutcome::FoundAlive | LocateOutcome::FoundDead
        );
        if let Some(f) = found {
            if !finds {
                return Err(invalid(format!(
                    "found = {f} goes with found_alive or found_dead, not {outcome}"
                )));
            }
            if f == 0 || f > req.people {
                return Err(invalid(format!(
                    "found = {f}: expected 1..{} (the people sought)",
                    req.people
                )));
            }
            if f < req.found {
                return Err(invalid(format!(
                    "found = {f}: the patrol already reported {}; expected {}..{}",
                    req.found, req.found, req.people
                )));
            }
        }
        let total = found.unwrap_or(req.found);
        if finds && total == 0 {
            return Err(invalid(format!(
                "{outcome} needs at least one person found: say how many (found)"
            )));
        }
        self.out
            .effects
            .push(Effect::LocateClose { id, outcome, found });
        let counted = if finds {
            format!(", {total} of {} found", req.people)
        } else {
            String::new()
        };
        self.event(None, who, VIA, format!("{n} closed: {outcome}{counted}"));
        if let Some(team) = req
            .team
            .as_deref()
            .filter(|_| req.state == LocateState::Searching)
        {
            self.tell_done(&n, team);
        }
        Ok(n)
    }

    /// Records that the outcome was reported back to the requester.
    pub(super) fn locate_reported(&mut self, who: &str, id: i64, how: &str) -> DeskResult<String> {
        let how: ReportedHow = how.parse().map_err(Refusal::Invalid)?;
        let req = self.require_locate(id)?;
        let n = name(id);
        if req.state != LocateState::Closed {
            return Err(Refusal::Conflict(format!(
                "{n} is not closed: close it with its outcome before reporting it back"
            ))
            .into());
        }
        if req.reported_at.is_some() {
            return Err(
                Refusal::Conflict(format!("{n}: the outcome was already reported back")).into(),
            );
        }
        self.out.effects.push(Effect::LocateReported { id });
        self.event(
            None,
            who,
            VIA,
            format!(
                "{n}: outcome reported back to the requester {}",
                how.phrase()
            ),
        );
        Ok(n)
    }

    /// A patrol's report on a search (`LOC-5 HALLADOS 2`, `LOC-5 NADA`), from a node already
    /// verified as the team's.
    pub(super) fn patrol_locate(
        &mut self,
        rx: &Rx,
        node: u32,
        team: &str,
        seq: u32,
        report: LocateReport,
    ) -> DeskResult<()> {
        let who = Actor::Patrol(team.to_string()).to_string();
        let via = rx.radio.as_str();
        let lang = self.team_lang(team);
        let id = i64::from(seq);
        let n = name(id);
        let Some(req) = self.facts.locate(id)? else {
            self.event(
                None,
                &who,
                via,
                format!("command names unknown request {n}"),
            );
            self.say(
                None,
                node,
                CLASS_PATROL,
                lang,
                Msg::CmdUnknownIncident,
                &[("id", &n)],
            );
            return Ok(());
        };
        if req.state == LocateState::Closed {
            self.event(
                None,
                &who,
                via,
                format!("{n}: patrol {team} reported on the search after it closed"),
            );
            self.say(
                None,
                node,
                CLASS_PATROL,
                lang,
                Msg::LocateDone,
                &[("id", &n)],
            );
            return Ok(());
        }
        if req.team.as_deref() != Some(team) || req.state != LocateState::Searching {
            self.event(
                None,
                &who,
                via,
                format!("{n}: report from patrol {team} refused: the search is not its task"),
            );
            self.say(
                None,
                node,
                CLASS_PATROL,
                lang,
                Msg::LocateNotTasked,
                &[("id", &n)],
            );
            return Ok(());
        }
        match report {
            LocateReport::Found(k) => {
                let recorded = k.min(req.people).max(req.found);
                let mut what = format!("{n}: patrol {team} reports {k} found");
                if k > req.people {
                    what.push_str(&format!(
                        " (more than the {} sought: {recorded} recorded)",
                        req.people
                    ));
                } else if k < req.found {
                    what.push_str(&format!(" ({} already recorded)", req.found));
                }
                if recorded != req.found {
                    self.out.effects.push(Effect::LocateFound {
                        id,
                        found: recorded,
                    });
                }
                self.event(None, &who, via, what);
                let total = recorded.to_string();
                self.say(
                    None,
                    node,
                    CLASS_PATROL,
                    lang,
                    Msg::LocateFound,
                    &[("id", &n), ("people", &total)],
                );
            }
            LocateReport::Nothing => {
                self.event(
                    None,
                    &who,
                    via,
                    format!("{n}: patrol {team} reports nothing found"),
                );
                self.say(
                    None,
                    node,
                    CLASS_PATROL,
                    lang,
                    Msg::LocateNothing,
                    &[("id", &n)],
                );
            }
        }
        Ok(())
    }
}
