//! Patrol commands typed in a stock Meshtastic app (`ACK`, `RUTA`, `LLEGUE`, `CERRAR`, `NOTA`,
//! `ESTADO`, `AMB`, and a search's report `LOC-5 HALLADOS 2` / `LOC-5 NADA`, see `locate`).
//! Only configured teams' nodes get here (ingest checks the sender). Every command is answered:
//! a confirmation, the reason for a refusal, or a usage hint (never for the same mistake twice
//! within `hint_interval`, and at most three in it, so a confused patrol is not flooded but a
//! first mistake is never met with silence).
//!
//! A patrol's free text (no command) is a report from the field: noted on the team's open
//! incidents, and read like a reporter's follow-up when there is exactly one; the patrol's own
//! distress only when the team has no open incident and the words ask for help.

use faro_proto::text::{CommandError, IncidentId, PatrolCommand};

use super::briefing::{note_word, state_word};
use super::intake::{coords, words_triage};
use super::{Desk, DeskResult, Effect, Facts, NewIncident, CLASS_PATROL};
use super::{Rx, StoreError};
use crate::catalog::Msg;
use crate::incident::{self, Actor, Kind, PositionSource, Transition, Triage};
use crate::ingest::{Distress, DistressKind};
use crate::lang::Lang;
use crate::understand::{self, Verdict};

/// Usage hints to one node within `hint_interval`, at most.
pub const HINTS_PER_INTERVAL: usize = 3;

impl<F: Facts + ?Sized> Desk<'_, F> {
    pub(super) fn command(
        &mut self,
        rx: &Rx,
        node: u32,
        team: &str,
        command: Result<PatrolCommand, CommandError>,
    ) -> DeskResult<()> {
        let lang = self.team_lang(team);
        if !self.verified(rx, node, &format!("patrol {team}"), lang)? {
            return Ok(());
        }
        let actor = Actor::Patrol(team.to_string());
        let who = actor.to_string();
        let via = rx.radio.as_str();
        let cmd = match command {
            Ok(c) => c,
            Err(e) => {
                self.event(None, &who, via, format!("malformed command: {e}"));
                self.hint(node, lang, Msg::CmdUsage, e.usage())?;
                return Ok(());
            }
        };
        let (id, transition) = match cmd {
            PatrolCommand::Ack(id) => (id, Transition::Acknowledge),
            PatrolCommand::EnRoute(id) => (id, Transition::EnRoute),
            PatrolCommand::OnScene(id) => (id, Transition::OnScene),
            PatrolCommand::Close(id, o) => (id, Transition::Close(o)),
            PatrolCommand::Note(id, text) => return self.patrol_note(rx, node, team, &id, &text),
            PatrolCommand::Ambulance(named) => return self.patrol_ambulance(rx, node, team, named),
            PatrolCommand::Locate(seq, report) => {
                return self.patrol_locate(rx, node, team, seq, report)
            }
            PatrolCommand::Status => {
                let list: Vec<String> = self
                    .facts
                    .team_open(team, 8)?
                    .into_iter()
                    .map(|(id, st)| format!("{id} {}", state_word(st, lang)))
                    .collect();
                if list.is_empty() {
                    self.say(None, node, CLASS_PATROL, lang, Msg::StatusNone, &[]);
                } else {
                    let list = list.join(", ");
                    self.say(
                        None,
                        node,
                        CLASS_PATROL,
                        lang,
                        Msg::StatusList,
                        &[("list", &list)],
                    );
                }
                return Ok(());
            }
            // Ingest turns a patrol's SOS into a distress signal; nothing reaches here.
            PatrolCommand::Sos(_) => return Ok(()),
        };
        let id_s = id.to_string();
        let Some(inc) = self.facts.incident(&id_s)? else {
            self.unknown_incident(rx, node, &who, &id_s, lang);
            return Ok(());
        };
        match incident::transition(&inc.status, &transition, &actor) {
            Ok(change) => {
                let state = state_word(change.status.state, lang);
                self.say(
                    Some(&id_s),
                    node,
                    CLASS_PATROL,
                    lang,
                    Msg::CmdOk,
                    &[("id", &id_s), ("state", state)],
                );
                self.change(&inc, change, &who, via);
            }
            Err(reason) => {
                let reason = reason.to_string();
                self.event(
                    Some(&id_s),
                    &who,
                    via,
                    format!("{} refused: {reason}", transition.verb()),
                );
                self.say(
                    Some(&id_s),
                    node,
                    CLASS_PATROL,
                    lang,
                    Msg::CmdRefused,
                    &[("id", &id_s), ("reason", &reason)],
                );
            }
        }
        self.out.incident = Some((id_s, false));
        Ok(())
    }

    fn patrol_note(
        &mut self,
        rx: &Rx,
        node: u32,
        team: &str,
        id: &IncidentId,
        text: &str,
    ) -> DeskResult<()> {
        let who = Actor::Patrol(team.to_string()).to_string();
        let lang = self.team_lang(team);
        let id_s = id.to_string();
        if self.facts.incident(&id_s)?.is_none() {
            self.unknown_incident(rx, node, &who, &id_s, lang);
            return Ok(());
        }
        self.event(Some(&id_s), &who, &rx.radio, format!("note: {text}"));
        self.say(
            Some(&id_s),
            node,
            CLASS_PATROL,
            lang,
            Msg::CmdOk,
            &[("id", &id_s), ("state", note_word(lang))],
        );
        self.out.incident = Some((id_s, false));
        Ok(())
    }

    /// A patrol's free text. The text itself is kept in the conversation (`messages`), linked
    /// to the incident when the team has exactly one open; the audit trail only says a note
    /// came, and how long it was.
    pub(super) fn patrol_free_text(
        &mut self,
        rx: &Rx,
        node: u32,
        team: &str,
        packet_id: u32,
        text: String,
    ) -> DeskResult<()> {
        let reading = understand::read(&text);
        let lang = self.team_lang(team);
        let open = self.facts.team_incidents(team)?;
        if open.is_empty() && reading.verdict == Verdict::Yes {
            // Nothing to report on: words that ask for help are the patrol's own distress.
            return self.distress(
                rx,
                &Distress {
                    node,
                    packet_id,
                    kind: DistressKind::Text,
                    language: reading.language.unwrap_or(lang),
                    text,
                    position: None,
                    channel: rx.channel,
                },
            );
        }
        // A note from a key the station does not trust belongs to no incident and raises
        // nothing (the refusal is audited); its words stay in the conversation.
        if !self.verified(rx, node, &format!("patrol {team}"), lang)? {
            return Ok(());
        }
        let who = Actor::Patrol(team.to_string()).to_string();
        let via = rx.radio.as_str();
        let what = format!("patrol {team} sent a note ({} bytes)", text.len());
        if open.is_empty() {
            self.event(None, &who, via, what);
            return Ok(());
        }
        for id in &open {
            self.event(Some(id), &who, via, what.clone());
        }
        if let [id] = open.as_slice() {
            self.follow_up(id, words_triage(&reading), &who, via)?;
            self.out.incident = Some((id.clone(), false));
        }
        Ok(())
    }

    fn unknown_incident(&mut self, rx: &Rx, node: u32, who: &str, id: &str, lang: Lang) {
        self.event(
            None,
            who,
            &rx.radio,
            format!("command names unknown incident {id}"),
        );
        self.say(
            None,
            node,
            CLASS_PATROL,
            lang,
            Msg::CmdUnknownIncident,
            &[("id", id)],
        );
    }

    /// `AMB <id>` asks for an ambulance for that incident; `AMB` alone opens a medical
    /// incident at the patrol's position, assigned to it, first. The patrol hears back either
    /// way.
    fn patrol_ambulance(
        &mut self,
        rx: &Rx,
        node: u32,
        team: &str,
        named: Option<IncidentId>,
    ) -> DeskResult<()> {
        let actor = Actor::Patrol(team.to_string());
        let who = actor.to_string();
        let via = rx.radio.as_str();
        let lang = self.team_lang(team);
        let inc = match named {
            Some(id) => {
                let id = id.to_string();
                match self.facts.incident(&id)? {
                    Some(inc) => inc,
                    None => {
                        self.unknown_incident(rx, node, &who, &id, lang);
                        return Ok(());
                    }
                }
            }
            None => {
                let triage = Triage {
                    kind: Some(Kind::Medical),
                    people: None,
                    flags: Vec::new(),
                };
                let p = incident::priority(&triage);
                let pos = self
                    .facts
                    .last_known(node)?
                    .map(|p| (p, PositionSource::LastKnown));
                let mut inc = self.open(NewIncident {
                    id: String::new(),
                    seq: 0,
                    kind: Kind::Medical,
                    priority: p.level,
                    why: p.why,
                    people: None,
                    flags: Vec::new(),
                    source: "patrol_sos".into(),
                    reporter: Some(node),
                    language: lang,
                    position: pos,
                })?;
                let place = pos.map_or(" with no position".to_string(), |(p, _)| {
                    format!(" at {}", coords(p.lat, p.lon))
                });
                self.event(
                    Some(&inc.id),
                    &who,
                    via,
                    format!("opened by patrol {team} asking for an ambulance{place}"),
                );
                // The patrol that asked is the one there: the incident is its own.
                let change = incident::transition(
                    &inc.status,
                    &Transition::Assign(team.to_string()),
                    &actor,
                )
                .map_err(|e| super::Refusal::Conflict(e.to_string()))?;
                let before = inc.clone();
                inc.status = change.status.clone();
                self.change(&before, change, &who, via);
                inc
            }
        };
        let id = inc.id.clone();
        self.out.incident = Some((id.clone(), false));
        match self.amb_request_for(&inc, &who, via, None) {
            Ok(()) => Ok(()),
            Err(StoreError::Refused(reason)) => {
                self.event(None, &who, via, format!("ambulance refused: {reason}"));
                let reason = reason.to_string();
                let short = reason.split(':').next().unwrap_or(&reason).to_string();
                self.say(
                    None,
                    node,
                    CLASS_PATROL,
                    lang,
                    Msg::CmdRefused,
                    &[("id", &id), ("reason", &short)],
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A usage hint to `node`. Never silent for a first mistake: it is left out only when
    /// the same hint already went to the node within `hint_interval`, or [`HINTS_PER_INTERVAL`]
    /// hints did (a confused patrol is not flooded, but a new mistake is always answered).
    pub(super) fn hint(&mut self, node: u32, lang: Lang, msg: Msg, usage: &str) -> DeskResult<()> {
        let since = self.at - self.cfg.hint_interval.as_millis() as i64;
        let text = self.render(lang, msg, &[("usage", usage)]);
        let mut sent = self.facts.hints_since(node, since)?;
        sent.extend(self.out.effects.iter().filter_map(|e| match e {
            Effect::Queue(m) if m.dest == node && m.msg == Some(msg) => Some(m.text.clone()),
            _ => None,
        }));
        if sent.len() < HINTS_PER_INTERVAL && !sent.contains(&text) {
            self.say(None, node, CLASS_PATROL, lang, msg, &[("usage", usage)]);
        }
        Ok(())
    }
}
