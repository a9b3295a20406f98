//! Intake: what a received signal changes. Distress opens an incident, or updates the
//! reporter's recent one (the repeat window) and answers again at most every
//! `reply_interval`; a new P1 of a configured kind asks for an ambulance by itself. Positions
//! and names are recorded; refused commands are audited.

use faro_proto::mesh::{self, NodeId};

use super::{
    node_who, reply_class, Desk, DeskResult, Effect, Facts, NewIncident, Placed, CLASS_P3,
};
use super::{Rx, StoreError};
use crate::catalog::Msg;
use crate::incident::{self, Kind, PositionSource, Triage};
use crate::ingest::{Distress, DistressKind, Fix, Signal};
use crate::understand;

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// A received signal, already deduplicated by the store.
    pub fn signal(&mut self, rx: &Rx, signal: Signal) -> DeskResult<()> {
        let r = self.signal_inner(rx, signal);
        self.failed.take().map_or(r, Err)
    }

    fn signal_inner(&mut self, rx: &Rx, signal: Signal) -> DeskResult<()> {
        let who = node_who(rx.from);
        // A direct message the radio decrypted with the sender's key proves who holds it.
        if let (true, Some(key)) = (rx.auth.pki && !rx.auth.via_mqtt, rx.auth.key) {
            self.key_seen(rx, rx.from, key, "a direct message", true)?;
        }
        match signal {
            Signal::Distress(d) => self.distress(rx, &d),
            Signal::Position { node, fix, patrol } => {
                self.out.effects.push(Effect::NodePosition {
                    node,
                    pos: fix_placed(&fix, self.at),
                    alt: fix.alt,
                    team: patrol.clone(),
                });
                match patrol {
                    Some(team) => self.team_heard(&team),
                    None => Ok(()),
                }
            }
            Signal::Battery {
                node,
                level,
                voltage,
                time,
                patrol,
            } => {
                // Not a sign of where the team is: its health follows positions alone.
                self.battery(rx, node, level, voltage, time, patrol.as_deref())
            }
            Signal::BadPosition { node, lat_i, lon_i } => {
                let what = format!(
                    "position from {} ignored: {:.5},{:.5} is not a valid fix",
                    NodeId(node),
                    mesh::degrees(lat_i),
                    mesh::degrees(lon_i)
                );
                self.event(None, &who, &rx.radio, what);
                Ok(())
            }
            Signal::Command {
                node,
                patrol,
                command,
                ..
            } => self.command(rx, node, &patrol, command),
            Signal::CommandFromStranger { node, .. } => {
                let what = format!("command from unregistered node {} refused", NodeId(node));
                self.event(None, &who, &rx.radio, what);
                Ok(())
            }
            Signal::NodeInfo {
                node,
                long_name,
                short_name,
                key,
                from_radio,
            } => {
                if let Some(key) = key {
                    let source = if from_radio {
                        "the radio's node database"
                    } else {
                        "a NodeInfo broadcast (a claim)"
                    };
                    self.key_seen(rx, node, key, source, from_radio)?;
                }
                self.out.effects.push(Effect::NodeNames {
                    node,
                    long_name,
                    short_name,
                });
                Ok(())
            }
            Signal::MunicipalityText { node, text } => self.amb_reply(rx, node, &text),
            Signal::PatrolNote {
                node,
                patrol,
                packet_id,
                text,
            } => self.patrol_free_text(rx, node, &patrol, packet_id, text),
            Signal::Unsure { node, language, .. } => {
                // No incident on a guess: ask the sender once (not again within the repeat
                // window), and show the desk. The words are in the conversation, not here.
                let since = self.at - self.cfg.repeat_window.as_millis() as i64;
                let asked = self.facts.asked_since(node, since)?;
                let what = if asked {
                    "unclear message; already asked whether help is needed".to_string()
                } else {
                    self.say(None, node, CLASS_P3, language, Msg::AskHelp, &[]);
                    "unclear message: asked whether help is needed".to_string()
                };
                self.event(None, &who, &rx.radio, what);
                Ok(())
            }
            Signal::Question { node, question, .. } => self.orientation(rx, node, question),
            Signal::Undecodable { node } => self.undecodable(rx, node),
            Signal::Activity { .. } => Ok(()),
        }
    }

    pub(super) fn distress(&mut self, rx: &Rx, d: &Distress) -> DeskResult<()> {
        let via = rx.radio.as_str();
        let who = node_who(d.node);
        let window = self.cfg.repeat_window.as_millis() as i64;
        if let Some(open) = self.facts.recent_incident_of(d.node, self.at - window)? {
            let id = open.id;
            let heard = open.heard_count + 1;
            self.out.effects.push(Effect::Heard {
                id: id.clone(),
                count: heard,
            });
            if let Some(fix) = &d.position {
                self.out.effects.push(Effect::Position {
                    id: id.clone(),
                    pos: fix_placed(fix, self.at),
                    source: PositionSource::Packet,
                });
            }
            let hops = rx.hops.map(|h| format!(", {h} hops")).unwrap_or_default();
            self.event(
                Some(&id),
                &who,
                via,
                format!("distress heard again ({heard} times{hops})"),
            );
            let triage = read_words(d).as_ref().map(words_triage).unwrap_or_default();
            self.follow_up(&id, triage, &who, via)?;
            // The patrol on its way hears a new position or a higher priority.
            self.push_update(&id, false, &who, via)?;
            // Answer again, but not on every beacon: a tower may repeat every few seconds.
            let quiet = self.cfg.reply_interval.as_millis() as i64;
            if open.last_reply_at.is_none_or(|t| self.at - t >= quiet) {
                let priority = self.require(&id).map_or(1, |i| i.priority);
                self.distress_reply(&id, d, priority)?;
            }
            self.out.incident = Some((id, false));
            return Ok(());
        }
        let reading = read_words(d);
        let (triage, said) = reading.as_ref().map(words_triage).unwrap_or_default();
        // The words tell the language; when they do not (a bare SOS), the language this node
        // was answered in before; else what ingest chose.
        let worded = matches!(d.kind, DistressKind::Text | DistressKind::Alert);
        let language = match reading.and_then(|r| r.language).filter(|_| worded) {
            Some(l) => l,
            None if worded => self.facts.node_language(d.node)?.unwrap_or(d.language),
            None => d.language,
        };
        let d = &Distress {
            language,
            ..d.clone()
        };
        let last_known = self.facts.last_known(d.node)?;
        let tower = self.cfg.towers.get(&d.node).map(|t| Placed {
            lat: t.lat,
            lon: t.lon,
            precision_bits: mesh::FULL_PRECISION,
            at: self.at,
        });
        // A detection carries no fix of its own (ingest attaches the tower's registered
        // position, which is the tower fallback below, not a packet position).
        let packet = d
            .position
            .as_ref()
            .filter(|_| d.kind != DistressKind::Detection)
            .map(|f| fix_placed(f, self.at));
        let pos = incident::best_position(packet, last_known, tower);
        let mut p = incident::priority(&triage);
        p.why.extend(said);
        let kind = triage.kind.unwrap_or(Kind::Distress);
        let inc = self.open(NewIncident {
            id: String::new(),
            seq: 0,
            kind,
            priority: p.level,
            why: p.why.clone(),
            people: triage.people,
            flags: triage
                .flags
                .iter()
                .map(|f| f.as_str().to_string())
                .collect(),
            source: d.kind.as_str().to_string(),
            reporter: Some(d.node),
            language: d.language,
            position: pos,
        })?;
        let id = inc.id.clone();
        let hops = rx
            .hops
            .map(|h| format!(" over {h} hops"))
            .unwrap_or_default();
        let place = match pos {
            Some((fix, src)) => {
                let age = if src == PositionSource::LastKnown {
                    format!(", {} s old", (self.at - fix.at).max(0) / 1000)
                } else {
                    String::new()
                };
                format!(
                    " near {}{} ({}{age})",
                    area(fix.lat, fix.lon),
                    precision_note(fix.precision_bits),
                    src.as_str()
                )
            }
            None => " with no position".to_string(),
        };
        let what = format!(
            "opened: {} {} from {}{hops}{place}; {}",
            p,
            d.kind.as_str(),
            NodeId(d.node),
            p.why.join("; ")
        );
        self.event(Some(&id), &who, via, what);
        self.distress_reply(&id, d, p.level)?;
        if p.level == 1 && self.cfg.auto_ambulance_kinds.contains(&kind) {
            match self.amb_request_for(&inc, "system", via, None) {
                Ok(()) => {}
                Err(StoreError::Refused(reason)) => {
                    self.event(
                        Some(&id),
                        "system",
                        via,
                        format!("no automatic ambulance: {reason}"),
                    );
                }
                Err(e) => return Err(e),
            }
        }
        self.out.incident = Some((id, true));
        Ok(())
    }

    /// A new message about an open incident (from its reporter, or a note from the patrol that
    /// works it), as read ([`read_words`], [`words_triage`]): kind, people and flags only
    /// ever rise, and the priority with them, with the words that raised them.
    pub(super) fn follow_up(
        &mut self,
        id: &str,
        (new, said): (Triage, Vec<String>),
        who: &str,
        via: &str,
    ) -> DeskResult<()> {
        let Some(inc) = self.facts.incident(id)? else {
            return Ok(());
        };
        let mut flags = inc.flags.clone();
        flags.extend(new.flags.iter().copied());
        flags.sort();
        flags.dedup();
        let people = match (inc.people, new.people) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        // A kind is replaced only by a more urgent one (a bare SOS that turns out medical).
        let kind = match new.kind {
            Some(k)
                if incident::priority(&Triage {
                    kind: Some(k),
                    people: None,
                    flags: vec![],
                })
                .level
                    < incident::priority(&Triage {
                        kind: Some(inc.kind),
                        people: None,
                        flags: vec![],
                    })
                    .level =>
            {
                k
            }
            _ => inc.kind,
        };
        let p = incident::priority(&Triage {
            kind: Some(kind),
            people,
            flags: flags.clone(),
        });
        let level = p.level.min(inc.priority);
        if (kind, people, &flags) == (inc.kind, inc.people, &inc.flags) {
            return Ok(());
        }
        let mut why = inc.why.clone();
        for w in p.why.iter().chain(&said) {
            if !why.contains(w) {
                why.push(w.clone());
            }
        }
        let mut changes = Vec::new();
        if kind != inc.kind {
            changes.push(format!("kind {} -> {kind}", inc.kind));
        }
        if people != inc.people {
            changes.push(format!(
                "{} people",
                people.map_or("?".into(), |n| n.to_string())
            ));
        }
        let added: Vec<&str> = flags
            .iter()
            .filter(|f| !inc.flags.contains(f))
            .map(|f| f.as_str())
            .collect();
        if !added.is_empty() {
            changes.push(format!("+{}", added.join(", +")));
        }
        if level != inc.priority {
            changes.push(format!("P{} -> P{level}", inc.priority));
        }
        let words = if said.is_empty() {
            String::new()
        } else {
            format!(" ({})", said.join("; "))
        };
        self.out.effects.push(Effect::Triage {
            id: id.to_string(),
            kind,
            priority: level,
            why,
            people,
            flags,
        });
        self.event(
            Some(id),
            who,
            via,
            format!("follow-up: {}{words}", changes.join(", ")),
        );
        Ok(())
    }

    /// Answers a distress sender: directly, or during a surge (P3/P4, not a patrol's SOS) by
    /// joining the next grouped broadcast.
    fn distress_reply(&mut self, id: &str, d: &Distress, priority: u8) -> DeskResult<()> {
        let class = reply_class(priority);
        if d.kind == DistressKind::PatrolSos {
            self.say(
                Some(id),
                d.node,
                class,
                d.language,
                Msg::PatrolSosAck,
                &[("id", id)],
            );
        } else if !self.group_ack(id, d.node, d.language, class)? {
            self.say(
                Some(id),
                d.node,
                class,
                d.language,
                Msg::DistressAck,
                &[("id", id)],
            );
        }
        self.out
            .effects
            .push(Effect::Replied { id: id.to_string() });
        Ok(())
    }
}

/// What the words of a distress message say ([`understand::read`], read once per message
/// here). A tower's button and a waypoint carry no words.
fn read_words(d: &Distress) -> Option<understand::Reading> {
    match d.kind {
        DistressKind::Text | DistressKind::Bell | DistressKind::Alert | DistressKind::PatrolSos => {
            Some(understand::read(&d.text))
        }
        DistressKind::Detection | DistressKind::Waypoint => None,
    }
}

/// What a reading of some words tells of the emergency, and the words that decided, as
/// priority reasons.
pub(super) fn words_triage(r: &understand::Reading) -> (Triage, Vec<String>) {
    let said = r.why.iter().map(|w| format!("said {w}")).collect();
    (
        Triage {
            kind: r.kind,
            people: r.people,
            flags: r.flags.clone(),
        },
        said,
    )
}

/// A fix as the desk keeps it; a fix from the future (a phone with a wrong clock) counts as
/// taken now.
pub(super) fn fix_placed(fix: &Fix, at: i64) -> Placed {
    Placed {
        lat: fix.lat,
        lon: fix.lon,
        precision_bits: fix.precision_bits,
        at: fix.time.map_or(at, |t| i64::from(t) * 1000).min(at),
    }
}

/// A battery at or below this percent (and not powered) is low: worth one audit event for a
/// patrol's node when it gets there.
pub const LOW_BATTERY: u32 = 20;

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// A node's battery reading: recorded unless a newer one is; a patrol's node that goes
    /// low (from unknown or above [`LOW_BATTERY`]) is audited once, not on every low reading.
    fn battery(
        &mut self,
        rx: &Rx,
        node: u32,
        level: Option<u32>,
        voltage: Option<f32>,
        time: Option<u32>,
        patrol: Option<&str>,
    ) -> DeskResult<()> {
        let at = time.map_or(self.at, |t| i64::from(t) * 1000).min(self.at);
        let before = self.facts.node_battery(node)?;
        if before.is_some_and(|(_, then)| then > at) {
            return Ok(());
        }
        self.out.effects.push(Effect::NodeBattery {
            node,
            level,
            voltage,
            at,
        });
        let low = |l: Option<u32>| l.is_some_and(|l| l <= LOW_BATTERY);
        if let (Some(team), true) = (patrol, low(level)) {
            if !before.is_some_and(|(l, _)| low(l)) {
                let what = format!(
                    "patrol {team} battery low: {}% ({})",
                    level.unwrap_or_default(),
                    NodeId(node)
                );
                self.event(None, &format!("patrol:{team}"), &rx.radio, what);
            }
        }
        Ok(())
    }
}

/// `31.47463,-111.54485`.
pub(super) fn coords(lat: f64, lon: f64) -> String {
    format!("{lat:.5},{lon:.5}")
}

/// `31.47,-111.54`: where a person was, as the audit trail keeps it for good. The trail is
/// append-only and outlives retention, so it holds the area (two decimals, about a
/// kilometre), never a phone's exact fix; the incident itself has the exact position until
/// it is purged (docs/PRIVACY.md).
pub(super) fn area(lat: f64, lon: f64) -> String {
    format!("{lat:.2},{lon:.2}")
}

/// ` ±1.5 km` for a position the sender rounded; nothing for an exact one.
pub(super) fn precision_note(bits: u32) -> String {
    match mesh::precision_radius_m(bits) {
        Some(m) if m >= 1000.0 => format!(" ±{:.1} km", m / 1000.0),
        Some(m) => format!(" ±{m:.0} m"),
        None => String::new(),
    }
}
