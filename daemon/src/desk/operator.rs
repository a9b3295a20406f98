//! Requests from the desk (`faroctl`, the control socket): manual reports, transitions,
//! notes, positions, free text to a node, ambulance requests, and location requests (their
//! rules are in `locate`). A refusal changes nothing and says why in one line.

use faro_proto::mesh::{self, NodeId};

use super::{
    check_budget, intake::area, Desk, DeskResult, Effect, Facts, Message, NewIncident, Placed,
    Refusal, CLASS_OPERATOR,
};
use super::{ManualReport, OperatorRequest};
use crate::incident::{self, Actor, Flag, Kind, PositionSource, Transition, Triage};
use crate::lang::Lang;

/// The audit trail's name for the control socket.
const VIA: &str = "faroctl";

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// Carries out an operator's request; returns the incident id it concerns (empty for a
    /// message to a node).
    pub fn operator(&mut self, name: &str, req: OperatorRequest) -> DeskResult<String> {
        let r = self.operator_inner(name, req);
        self.failed.take().map_or(r, Err)
    }

    fn operator_inner(&mut self, name: &str, req: OperatorRequest) -> DeskResult<String> {
        let actor = Actor::Operator(name.to_string());
        let who = actor.to_string();
        let (id, t) = match req {
            OperatorRequest::Report(r) => return self.report(&who, &r),
            OperatorRequest::Ambulance(id, muni) => {
                let inc = self.require(&id)?;
                self.amb_request_for(&inc, &who, VIA, muni.as_deref())?;
                return Ok(inc.id);
            }
            OperatorRequest::AmbulanceCancel(id) => return self.amb_cancel(&id, &who),
            OperatorRequest::AmbulanceRecord(id, accepted, eta) => {
                return self.amb_record(&id, accepted, eta, &who)
            }
            OperatorRequest::Enroll {
                kind,
                name,
                node,
                key,
            } => {
                return self
                    .enroll(&who, &kind, &name, node, key)
                    .map(|()| String::new())
            }
            OperatorRequest::LocateOpen(r) => return self.locate_open(&who, &r),
            OperatorRequest::LocateTask(id, team) => return self.locate_task(&who, id, &team),
            OperatorRequest::LocateClose(id, outcome, found) => {
                return self.locate_close(&who, id, outcome, found)
            }
            OperatorRequest::LocateReported(id, how) => {
                return self.locate_reported(&who, id, &how)
            }
            OperatorRequest::Answer(row, confirm) => {
                return self
                    .decide_answer(&who, row, confirm)
                    .map(|()| String::new())
            }
            OperatorRequest::Position(id, lat, lon) => {
                let inc = self.require(&id)?;
                if !mesh::valid_coordinates(lat, lon) {
                    return Err(
                        Refusal::Invalid(format!("{lat},{lon} is not a valid position")).into(),
                    );
                }
                self.out.effects.push(Effect::Position {
                    id: inc.id.clone(),
                    pos: Placed {
                        lat,
                        lon,
                        precision_bits: mesh::FULL_PRECISION,
                        at: self.at,
                    },
                    source: PositionSource::Manual,
                });
                self.event(
                    Some(&inc.id),
                    &who,
                    VIA,
                    format!("position set by hand: near {}", area(lat, lon)),
                );
                self.push_update(&inc.id, true, &who, VIA)?;
                return Ok(inc.id);
            }
            // The note's text never reaches the desk's audit trail: the store seals it in a
            // personal record (`take_note`); the desk checks only that the incident exists.
            OperatorRequest::Note(id, _) | OperatorRequest::NoteOnly(id) => {
                return Ok(self.require(&id)?.id);
            }
            OperatorRequest::Send(node, text) => {
                if node == 0 {
                    return Err(Refusal::Invalid("node 0 is not a node".into()).into());
                }
                check_budget(&text)?;
                let what = format!("message queued to {} ({} bytes)", NodeId(node), text.len());
                self.out.effects.push(Effect::Queue(Message {
                    incident: None,
                    dest: node,
                    text,
                    class: CLASS_OPERATOR,
                    max_attempts: None,
                    msg: None,
                }));
                self.event(None, &who, VIA, what);
                return Ok(String::new());
            }
            OperatorRequest::Ack(id) => (id, Transition::Acknowledge),
            OperatorRequest::Assign(id, team) => {
                if !self.cfg.teams.iter().any(|t| t.name == team) {
                    let known: Vec<&str> = self.cfg.teams.iter().map(|t| t.name.as_str()).collect();
                    return Err(Refusal::NotFound(format!(
                        "unknown team {team:?} (teams: {})",
                        known.join(", ")
                    ))
                    .into());
                }
                (id, Transition::Assign(team))
            }
            OperatorRequest::Close(id, o, _note) => (id, Transition::Close(o)),
            OperatorRequest::Reopen(id) => (id, Transition::Reopen),
        };
        let inc = self.require(&id)?;
        let change = incident::transition(&inc.status, &t, &actor).map_err(|reason| {
            Refusal::Conflict(format!("{}: cannot {}: {reason}", inc.id, t.verb()))
        })?;
        self.change(&inc, change, &who, VIA);
        // The team assigned hears what it is, where, and who reported it, in its language.
        if let Transition::Assign(team) = &t {
            self.dispatch(&inc, team);
        }
        Ok(inc.id)
    }

    fn report(&mut self, who: &str, r: &ManualReport) -> DeskResult<String> {
        let (kind, flags, lang) = parse_report(r)?;
        let pos = match (r.lat, r.lon) {
            (Some(lat), Some(lon)) if mesh::valid_coordinates(lat, lon) => Some((
                Placed {
                    lat,
                    lon,
                    precision_bits: mesh::FULL_PRECISION,
                    at: self.at,
                },
                PositionSource::Manual,
            )),
            (Some(lat), Some(lon)) => {
                return Err(Refusal::Invalid(format!("{lat},{lon} is not a valid position")).into())
            }
            (None, None) => None,
            _ => return Err(Refusal::Invalid("give both latitude and longitude".into()).into()),
        };
        if let Some(n) = r.people.filter(|n| *n == 0 || *n > 10_000) {
            return Err(Refusal::Invalid(format!("people = {n}: expected 1..10000")).into());
        }
        let triage = Triage {
            kind,
            people: r.people,
            flags,
        };
        let p = incident::priority(&triage);
        let inc = self.open(NewIncident {
            id: String::new(),
            seq: 0,
            kind: kind.unwrap_or(Kind::Distress),
            priority: p.level,
            why: p.why.clone(),
            people: r.people,
            flags: triage
                .flags
                .iter()
                .map(|f| f.as_str().to_string())
                .collect(),
            source: "manual".into(),
            reporter: None,
            language: lang,
            position: pos,
        })?;
        let place = r
            .place
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        let at_s = pos.map_or(" with no position".to_string(), |(p, _)| {
            format!(" near {}{place}", area(p.lat, p.lon))
        });
        self.event(
            Some(&inc.id),
            who,
            VIA,
            format!(
                "opened by hand: {p} {}{at_s}; {}",
                kind.unwrap_or(Kind::Distress),
                p.why.join("; ")
            ),
        );

        Ok(inc.id)
    }
}

/// Parses the kind, flags and language of a manual report.
fn parse_report(r: &ManualReport) -> Result<(Option<Kind>, Vec<Flag>, Lang), Refusal> {
    let kind = r
        .kind
        .as_deref()
        .map(str::parse::<Kind>)
        .transpose()
        .map_err(Refusal::Invalid)?;
    let mut flags = r
        .flags
        .iter()
        .map(|f| f.parse::<Flag>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(Refusal::Invalid)?;
    flags.sort();
    flags.dedup();
    let lang = r
        .language
        .as_deref()
        .map(str::parse::<Lang>)
        .transpose()
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
    Ok((kind, flags, lang.unwrap_or(Lang::Es)))
}
