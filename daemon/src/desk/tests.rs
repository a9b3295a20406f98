//! The desk's rules, one by one, against the in-memory station ([`super::model`]), then random
//! sequences of inputs checked against the invariants every state must keep.

use std::time::Duration;

use faro_proto::mesh::routing;
use faro_proto::text::{parse_command, Outcome};
use proptest::prelude::*;

use super::model::Model;
use super::*;
use crate::dispatch::Municipality;
use crate::incident::State;
use crate::ingest::{Distress, DistressKind, Fix, Signal, Tower};
use crate::radio::DeliveryOutcome;
use crate::trust::{Auth, PublicKey};

const PHONE: u32 = 0x5a5a_0301;
const PHONE2: u32 = 0x5a5a_0302;
const TOWER: u32 = 0x5a5a_0201;
const P1_NODE: u32 = 0x5a5a_0101;
const P2_NODE: u32 = 0x5a5a_0102;
const SARIC: u32 = 0x5a5a_0401;
const ALTAR: u32 = 0x5a5a_0402;
const MIN: i64 = 60_000;

fn cfg() -> StoreConfig {
    let mut c = StoreConfig::new("SAS");
    for (name, node) in [("P1", P1_NODE), ("P2", P2_NODE)] {
        c.teams.push(TeamConfig {
            name: name.into(),
            nodes: vec![node],
            interval: Duration::from_secs(60),
            keys: vec![key_of(node)],
            language: Lang::Es,
        });
    }
    c.towers.insert(
        TOWER,
        Tower {
            name: "El Sasabe 24 km".into(),
            lat: 31.40,
            lon: -111.70,
        },
    );
    let muni = |name: &str, lat, lon, nodes: Vec<u32>, phones: Vec<&str>| Municipality {
        name: name.into(),
        state: "Sonora".into(),
        lat,
        lon,
        phones: phones.into_iter().map(String::from).collect(),
        languages: vec![Lang::Es],
        keys: nodes.iter().map(|n| key_of(*n)).collect(),
        nodes,
        pki: true,
    };
    c.municipalities = vec![
        muni("Sáric", 31.10, -111.37, vec![SARIC], vec![]),
        muni("Altar", 30.71, -111.83, vec![ALTAR], vec![]),
        muni("Tubutama", 30.88, -111.46, vec![], vec!["+52 637 000 0000"]),
    ];
    c
}

fn rx(from: u32) -> Rx {
    Rx {
        radio: "r0".into(),
        from,
        packet_id: 1,
        hops: Some(2),
        channel: 0,
        snr: None,
        text: None,
        // The holder of the node's own key, in a direct message to the station.
        auth: Auth::pki(key_of(from)),
    }
}

/// The key pair a node of these tests holds (its public half).
fn key_of(node: u32) -> PublicKey {
    let mut k = [0x5a; 32];
    k[..4].copy_from_slice(&node.to_be_bytes());
    PublicKey(k)
}

fn fix(lat: f64, lon: f64, bits: u32) -> Fix {
    Fix {
        lat,
        lon,
        alt: None,
        precision_bits: bits,
        time: None,
    }
}

fn distress(node: u32, text: &str, position: Option<Fix>) -> Signal {
    Signal::Distress(Distress {
        node,
        packet_id: 1,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: text.into(),
        position,
        channel: 0,
    })
}

fn command(node: u32, team: &str, text: &str) -> Signal {
    Signal::Command {
        node,
        patrol: team.into(),
        packet_id: 1,
        command: parse_command(text).expect("a command verb"),
    }
}

fn note(node: u32, team: &str, text: &str) -> Signal {
    Signal::PatrolNote {
        node,
        patrol: team.into(),
        packet_id: 1,
        text: text.into(),
    }
}

fn muni_says(node: u32, text: &str) -> Signal {
    Signal::MunicipalityText {
        node,
        text: text.into(),
    }
}

/// The node a signal came from (the packet's `from`).
fn sender(s: &Signal) -> u32 {
    match s {
        Signal::Distress(d) => d.node,
        Signal::Command { node, .. }
        | Signal::PatrolNote { node, .. }
        | Signal::MunicipalityText { node, .. }
        | Signal::Position { node, .. }
        | Signal::Battery { node, .. } => *node,
        _ => 0,
    }
}

fn hear(m: &mut Model, c: &StoreConfig, at: i64, s: Signal) -> Decision {
    let from = sender(&s);
    m.run(c, at, |d| d.signal(&rx(from), s)).expect("signal").1
}

fn op(m: &mut Model, c: &StoreConfig, at: i64, req: OperatorRequest) -> DeskResult<Decision> {
    m.run(c, at, |d| d.operator("ana", req)).map(|(_, d)| d)
}

fn queued(d: &Decision) -> Vec<(u32, Option<Msg>)> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Queue(m) => Some((m.dest, m.msg)),
            Effect::AmbStart(a) => a.request.as_ref().map(|m| (m.dest, m.msg)),
            _ => None,
        })
        .collect()
}

fn events(d: &Decision) -> Vec<&str> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event { what, .. } => Some(what.as_str()),
            _ => None,
        })
        .collect()
}

fn state(m: &Model, seq: u32) -> (State, Option<String>) {
    let i = m.by_seq(seq).expect("incident");
    (i.facts.status.state, i.facts.status.team.clone())
}

// ----- intake --------------------------------------------------------------------------

#[test]
fn distress_opens_an_incident_answers_once_and_explains_itself() {
    let (c, mut m) = (cfg(), Model::default());
    let d = hear(
        &mut m,
        &c,
        0,
        distress(PHONE, "AUXILIO somos 3, una niña", None),
    );
    assert_eq!(d.incident, Some(("SAS-1".into(), true)));
    assert_eq!(queued(&d), vec![(PHONE, Some(Msg::DistressAck))]);
    let e = events(&d);
    assert!(
        e[0].starts_with("opened: P1 text from !5a5a0301 over 2 hops with no position"),
        "{e:?}"
    );
    let inc = m.by_seq(1).unwrap();
    assert_eq!((inc.facts.priority, inc.facts.people), (1, Some(3)));
}

#[test]
fn a_repeat_within_the_window_updates_and_answers_again_only_after_the_interval() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    let again = hear(
        &mut m,
        &c,
        MIN,
        distress(PHONE, "SOS", Some(fix(31.5, -111.6, 32))),
    );
    assert_eq!(again.incident, Some(("SAS-1".into(), false)));
    assert!(queued(&again).is_empty(), "no second answer within 10 min");
    assert!(events(&again)[0].starts_with("distress heard again (2 times"));
    assert_eq!(m.by_seq(1).unwrap().source, Some(PositionSource::Packet));
    let later = hear(&mut m, &c, 11 * MIN, distress(PHONE, "SOS", None));
    assert_eq!(queued(&later), vec![(PHONE, Some(Msg::DistressAck))]);
    // Past the repeat window (30 min since last heard), the same phone opens another.
    let new = hear(&mut m, &c, 42 * MIN, distress(PHONE, "SOS", None));
    assert_eq!(new.incident, Some(("SAS-2".into(), true)));
}

#[test]
fn a_closed_incident_is_never_updated_by_a_repeat() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Close("SAS-1".into(), Outcome::FalseAlarm, None),
    )
    .unwrap();
    let d = hear(&mut m, &c, 2, distress(PHONE, "SOS", None));
    assert_eq!(d.incident, Some(("SAS-2".into(), true)));
}

#[test]
fn positions_keep_the_precision_their_sender_chose() {
    let (c, mut m) = (cfg(), Model::default());
    // A phone that shares a rounded position (13 bits, about ±2.9 km), then calls for help.
    hear(
        &mut m,
        &c,
        0,
        Signal::Position {
            node: PHONE,
            fix: fix(31.45, -111.55, 13),
            patrol: None,
        },
    );
    let d = hear(&mut m, &c, MIN, distress(PHONE, "ayuda", None));
    let inc = m.by_seq(1).unwrap();
    assert_eq!(inc.source, Some(PositionSource::LastKnown));
    assert_eq!(inc.facts.position.unwrap().precision_bits, 13);
    assert!(
        events(&d)[0].contains("near 31.45,-111.55 ±2.9 km (last_known, 60 s old)"),
        "{:?}",
        events(&d)
    );
    // An exact fix in the packet itself wins, and says so.
    hear(
        &mut m,
        &c,
        2 * MIN,
        distress(PHONE2, "SOS", Some(fix(31.4, -111.5, 32))),
    );
    assert_eq!(
        m.by_seq(2).unwrap().facts.position.unwrap().precision_bits,
        32
    );
}

#[test]
fn a_towers_panic_button_is_placed_at_the_tower() {
    let (c, mut m) = (cfg(), Model::default());
    let s = Signal::Distress(Distress {
        node: TOWER,
        packet_id: 9,
        kind: DistressKind::Detection,
        language: Lang::Es,
        text: String::new(),
        position: Some(fix(31.40, -111.70, 32)),
        channel: 0,
    });
    hear(&mut m, &c, 0, s);
    let inc = m.by_seq(1).unwrap();
    assert_eq!(inc.source, Some(PositionSource::Tower));
    assert_eq!(
        inc.facts.position.map(|p| (p.lat, p.lon)),
        Some((31.40, -111.70))
    );
}

#[test]
fn a_p1_of_a_configured_kind_asks_for_an_ambulance_by_itself() {
    let mut c = cfg();
    c.auto_ambulance_kinds = vec![crate::incident::Kind::Medical];
    let mut m = Model::default();
    let d = hear(
        &mut m,
        &c,
        0,
        distress(
            PHONE,
            "AUXILIO mi amigo esta herido sangrando",
            Some(fix(31.2, -111.4, 32)),
        ),
    );
    let q = queued(&d);
    assert!(q.contains(&(SARIC, Some(Msg::AmbulanceRequest))), "{q:?}");
    assert_eq!(m.amb.len(), 1);
    // Without a position, nothing is guessed: the refusal is recorded, the incident stays.
    let d = hear(
        &mut m,
        &c,
        1,
        distress(PHONE2, "AUXILIO herido sangrando", None),
    );
    assert!(
        events(&d)
            .iter()
            .any(|e| e.starts_with("no automatic ambulance: SAS-2 has no position")),
        "{:?}",
        events(&d)
    );
    assert!(m.by_seq(2).is_some());
}

// ----- patrols -------------------------------------------------------------------------

#[test]
fn patrol_commands_move_the_incident_and_are_confirmed() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    let d = hear(&mut m, &c, 1, command(P1_NODE, "P1", "RUTA SAS-1"));
    // The patrol is confirmed; the person who called hears, only now, that help is coming.
    assert_eq!(
        queued(&d),
        vec![
            (P1_NODE, Some(Msg::CmdOk)),
            (PHONE, Some(Msg::TeamOnTheWay))
        ]
    );
    assert_eq!(state(&m, 1), (State::EnRoute, Some("P1".into())));
    assert!(events(&d).contains(&"P1 en route"));
    // Another team cannot act on P1's incident: refused, told why, recorded.
    let d = hear(
        &mut m,
        &c,
        2,
        command(P2_NODE, "P2", "CERRAR SAS-1 rescatado"),
    );
    assert_eq!(queued(&d), vec![(P2_NODE, Some(Msg::CmdRefused))]);
    assert!(events(&d)[0].contains("close refused: assigned to P1"));
    assert_eq!(state(&m, 1).0, State::EnRoute);
    let d = hear(
        &mut m,
        &c,
        3,
        command(P1_NODE, "P1", "CERRAR SAS-1 rescatado"),
    );
    assert_eq!(state(&m, 1).0, State::Closed);
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::CmdOk))]);
}

#[test]
fn unknown_incidents_and_malformed_commands_are_answered_hints_once_a_minute() {
    let (c, mut m) = (cfg(), Model::default());
    let d = hear(&mut m, &c, 0, command(P1_NODE, "P1", "LLEGUE SAS-77"));
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::CmdUnknownIncident))]);
    let d = hear(&mut m, &c, 10 * MIN, command(P1_NODE, "P1", "CERRAR"));
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::CmdUsage))]);
    // A different mistake is answered at once: silence would read as success.
    let d = hear(&mut m, &c, 10 * MIN + 1000, command(P1_NODE, "P1", "RUTA"));
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::CmdUsage))]);
    let d = hear(&mut m, &c, 10 * MIN + 2000, command(P1_NODE, "P1", "RUTA"));
    assert!(
        queued(&d).is_empty(),
        "the same hint again within the minute floods"
    );
    assert!(events(&d)[0].starts_with("malformed command"));
    let d = hear(&mut m, &c, 12 * MIN, command(P1_NODE, "P1", "RUTA"));
    assert_eq!(queued(&d).len(), 1);
}

#[test]
fn amb_alone_opens_an_incident_the_patrol_owns_through_a_recorded_transition() {
    let (c, mut m) = (cfg(), Model::default());
    hear(
        &mut m,
        &c,
        0,
        Signal::Position {
            node: P1_NODE,
            fix: fix(31.2, -111.4, 32),
            patrol: Some("P1".into()),
        },
    );
    let d = hear(&mut m, &c, MIN, command(P1_NODE, "P1", "AMB"));
    assert_eq!(state(&m, 1), (State::Assigned, Some("P1".into())));
    let e = events(&d);
    assert!(e.contains(&"assigned to P1"), "{e:?}");
    assert!(d.effects.iter().any(|e| matches!(e, Effect::Status { .. })));
    let q = queued(&d);
    assert!(q.contains(&(SARIC, Some(Msg::AmbulanceRequest))), "{q:?}");
    assert!(
        q.contains(&(P1_NODE, Some(Msg::PatrolAmbRequested))),
        "{q:?}"
    );
}

#[test]
fn estado_lists_the_teams_open_incidents() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    hear(&mut m, &c, 2, command(P1_NODE, "P1", "ESTADO"));
    let last = *m.texts_to(P1_NODE).last().unwrap();
    // In the team's language (Spanish here), not the database's word.
    assert_eq!(last, "Faro: SAS-1 asignado");
}

#[test]
fn a_note_on_the_teams_one_incident_raises_its_triage_and_is_audited_without_its_words() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    let before = m.by_seq(1).unwrap().facts.clone();
    assert_eq!(before.people, None);
    let text = "Llegamos al punto, 2 personas, una con insolación";
    let d = hear(&mut m, &c, MIN, note(P1_NODE, "P1", text));
    // The conversation links the text to the incident (the store records it with it).
    assert_eq!(d.incident, Some(("SAS-1".into(), false)));
    assert!(queued(&d).is_empty(), "a note is not answered: {d:?}");
    assert_eq!(m.incidents.len(), 1, "no new incident");
    let e = events(&d);
    assert_eq!(
        e[0],
        format!("patrol P1 sent a note ({} bytes)", text.len())
    );
    assert!(e[1].starts_with("follow-up: "), "{e:?}");
    assert!(e[1].contains("2 people"), "{e:?}");
    // The audit trail never holds the note itself.
    for ev in &e {
        assert!(!ev.contains("Llegamos") && !ev.contains("punto"), "{ev}");
    }
    let after = &m.by_seq(1).unwrap().facts;
    assert_eq!(after.people, Some(2));
    assert!(after.priority < before.priority, "{after:?}");
    assert!(after.why.len() > before.why.len(), "{:?}", after.why);
    assert!(
        d.effects
            .iter()
            .any(|e| matches!(e, Effect::Event { incident: Some(i), who, .. } if i == "SAS-1" && who == "patrol:P1"))
    );
    // Never lowered: a later note with fewer people leaves the triage as it is.
    let d = hear(
        &mut m,
        &c,
        2 * MIN,
        note(P1_NODE, "P1", "1 persona, todo bien"),
    );
    assert_eq!(events(&d).len(), 1, "{:?}", events(&d));
    assert_eq!(m.by_seq(1).unwrap().facts.people, Some(2));
}

#[test]
fn a_note_with_no_incident_or_several_changes_no_incident() {
    let (c, mut m) = (cfg(), Model::default());
    // No incident at all: a station-level event. (Words that read as distress would be the
    // patrol's own: see the next test.)
    let quiet = "llegamos, 2 personas bien";
    // The radio already holds P1's key (no news in the direct message).
    m.node_keys.insert(P1_NODE, key_of(P1_NODE));
    let d = hear(&mut m, &c, 0, note(P1_NODE, "P1", quiet));
    assert_eq!(d.incident, None);
    assert!(queued(&d).is_empty());
    assert!(m.incidents.is_empty());
    assert_eq!(
        d.effects,
        vec![Effect::Event {
            incident: None,
            who: "patrol:P1".into(),
            via: "r0".into(),
            what: "patrol P1 sent a note (25 bytes)".into(),
        }]
    );
    // An incident of another team is not touched.
    hear(&mut m, &c, 1, distress(PHONE, "SOS", None));
    op(
        &mut m,
        &c,
        2,
        OperatorRequest::Assign("SAS-1".into(), "P2".into()),
    )
    .unwrap();
    let before = m.incidents.clone();
    let d = hear(&mut m, &c, 3, note(P1_NODE, "P1", quiet));
    assert_eq!((d.incident.clone(), m.incidents.clone()), (None, before));
    // Two open incidents for the team: the note is on both, and raises neither.
    hear(&mut m, &c, 4, distress(PHONE2, "SOS", None));
    for id in ["SAS-1", "SAS-2"] {
        op(
            &mut m,
            &c,
            5,
            OperatorRequest::Assign(id.into(), "P1".into()),
        )
        .unwrap();
    }
    let before = m.incidents.clone();
    let d = hear(
        &mut m,
        &c,
        6,
        note(P1_NODE, "P1", "2 personas con insolación"),
    );
    assert_eq!(d.incident, None);
    let on: Vec<_> = d
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event { incident, .. } => incident.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(on, vec!["SAS-1".to_string(), "SAS-2".to_string()]);
    assert_eq!(m.incidents, before);
}

#[test]
fn a_patrols_plea_with_no_incident_is_still_patrol_distress() {
    let (c, mut m) = (cfg(), Model::default());
    let d = hear(&mut m, &c, 0, note(P1_NODE, "P1", "Necesitamos ayuda aquí"));
    assert_eq!(d.incident, Some(("SAS-1".into(), true)));
    let inc = m.by_seq(1).unwrap();
    assert_eq!(inc.reporter, Some(P1_NODE));
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::DistressAck))]);
    // Plain words that ask for nothing are a note, and no incident.
    let d = hear(&mut m, &c, 1, note(P2_NODE, "P2", "todo bien, seguimos"));
    assert_eq!(d.incident, None);
    assert_eq!(m.incidents.len(), 1);
    // With an incident to work, the same plea is a report on it, not a new incident.
    op(
        &mut m,
        &c,
        2,
        OperatorRequest::Assign("SAS-1".into(), "P2".into()),
    )
    .unwrap();
    let d = hear(&mut m, &c, 3, note(P2_NODE, "P2", "Necesitamos ayuda aquí"));
    assert_eq!(d.incident, Some(("SAS-1".into(), false)));
    assert_eq!(m.incidents.len(), 1);
}

// ----- operators -----------------------------------------------------------------------

#[test]
fn operators_are_refused_by_kind_and_nothing_is_applied() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    let before = m.events.len();
    let e = op(&mut m, &c, 1, OperatorRequest::Ack("SAS-9".into())).unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let e = op(
        &mut m,
        &c,
        1,
        OperatorRequest::Position("SAS-1".into(), 95.0, 0.0),
    )
    .unwrap_err();
    assert_eq!(
        e,
        Refusal::Invalid("95,0 is not a valid position".into()).into()
    );
    let e = op(&mut m, &c, 1, OperatorRequest::Reopen("SAS-1".into())).unwrap_err();
    assert_eq!(
        e,
        Refusal::Conflict("SAS-1: cannot reopen: not closed (new)".into()).into()
    );
    // A close with a note whose transition is refused keeps neither.
    op(
        &mut m,
        &c,
        2,
        OperatorRequest::Close("SAS-1".into(), Outcome::Rescued, None),
    )
    .unwrap();
    let n = m.events.len();
    op(
        &mut m,
        &c,
        3,
        OperatorRequest::Close("SAS-1".into(), Outcome::Rescued, Some("x".into())),
    )
    .unwrap_err();
    assert_eq!(m.events.len(), n);
    assert!(m.events.len() > before);
}

#[test]
fn assigning_tells_the_patrol() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    let d = op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P2".into()),
    )
    .unwrap();
    // The patrol is told; the person who called hears, only now, that help is coming.
    assert_eq!(
        queued(&d),
        vec![
            (PHONE, Some(Msg::TeamOnTheWay)),
            (P2_NODE, Some(Msg::Dispatch))
        ]
    );
    // Reassigning does not say it again.
    let d = op(
        &mut m,
        &c,
        2,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::Dispatch))]);
    assert_eq!(events(&d), vec!["assigned to P1"]);
}

#[test]
fn a_manual_report_is_exact_and_an_oversized_text_is_refused() {
    let (c, mut m) = (cfg(), Model::default());
    let r = ManualReport {
        lat: Some(31.47),
        lon: Some(-111.54),
        kind: Some("heat".into()),
        people: Some(2),
        ..Default::default()
    };
    let (id, _) = m
        .run(&c, 0, |d| d.operator("ana", OperatorRequest::Report(r)))
        .unwrap();
    assert_eq!(id, "SAS-1");
    assert_eq!(m.by_seq(1).unwrap().source, Some(PositionSource::Manual));
    let e = op(&mut m, &c, 1, OperatorRequest::Send(PHONE, "x".repeat(201))).unwrap_err();
    assert!(
        matches!(e, StoreError::Refused(Refusal::Invalid(_))),
        "{e:?}"
    );
}

// ----- deliveries and ambulances -------------------------------------------------------

fn with_request(m: &mut Model, c: &StoreConfig) {
    hear(m, c, 0, distress(PHONE, "SOS", Some(fix(31.2, -111.4, 32))));
    op(m, c, 1, OperatorRequest::Ambulance("SAS-1".into(), None)).unwrap();
}

fn request_row(m: &Model) -> i64 {
    m.outbox
        .iter()
        .rfind(|r| r.m.msg == Some(Msg::AmbulanceRequest))
        .expect("a request")
        .id
}

/// Sends rows until `row` is on air (the model's outbox goes oldest first).
fn send_until(m: &mut Model, c: &StoreConfig, at: i64, row: i64) {
    while let Some(sent) = m.send_next() {
        m.run(c, at, |d| d.amb_on_sent(sent)).unwrap();
        if sent == row {
            return;
        }
    }
    panic!("row {row} never sent");
}

#[test]
fn a_request_goes_to_the_nearest_and_an_undeliverable_one_escalates() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    assert_eq!(m.amb[0].row.municipality, "Sáric");
    let row = request_row(&m);
    send_until(&mut m, &c, 2, row);
    assert_eq!(m.amb[0].row.status, AmbState::Sent);
    let d = m
        .run(&c, 3, |d| {
            d.delivery(
                "r0",
                row as u32,
                DeliveryOutcome::Nak(routing::Error::MaxRetransmit),
            )
        })
        .unwrap()
        .1;
    // One radio attempt for ambulance requests: the next municipality is asked at once.
    assert_eq!(m.amb[0].row.status, AmbState::Undeliverable);
    assert_eq!(m.amb[1].row.municipality, "Tubutama");
    assert!(events(&d)
        .iter()
        .any(|e| e.contains("Sáric could not be reached by radio")));
}

#[test]
fn replies_retry_with_backoff_then_fail_and_say_so() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    let row = m.send_next().unwrap();
    let d = m
        .run(&c, 1_000, |d| {
            d.delivery("r0", row as u32, DeliveryOutcome::TimedOut)
        })
        .unwrap()
        .1;
    assert!(matches!(
        d.effects[0],
        Effect::OutboxState {
            state: "pending",
            next_attempt_at: Some(21_000),
            ..
        }
    ));
    for attempt in 2..=c.max_attempts {
        m.row_mut(row).state = "sent";
        m.row_mut(row).attempts = attempt;
        m.run(&c, 2_000, |d| {
            d.delivery("r0", row as u32, DeliveryOutcome::TimedOut)
        })
        .unwrap();
    }
    assert_eq!(m.row_mut(row).state, "failed");
    assert!(m
        .events
        .iter()
        .any(|(_, e)| e.contains("failed after 5 attempts")));
}

#[test]
fn deadlines_escalate_reminders_go_once_and_a_late_tick_sends_no_reminder() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    let row = request_row(&m);
    send_until(&mut m, &c, 2, row);
    // Both times run from when the request went on air (t = 2), not when it was queued.
    let d = m.run(&c, 1 + 150_000, |d| d.amb_tick()).unwrap().1;
    assert!(queued(&d).is_empty(), "no reminder before its time on air");
    let d = m.run(&c, 2 + 150_000, |d| d.amb_tick()).unwrap().1;
    assert_eq!(queued(&d), vec![(SARIC, Some(Msg::AmbulanceReminder))]);
    let d = m.run(&c, 2 + 160_000, |d| d.amb_tick()).unwrap().1;
    assert!(queued(&d).is_empty(), "one reminder only");
    m.run(&c, 1 + 5 * MIN, |d| d.amb_tick()).unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::Sent, "not due yet");
    m.run(&c, 2 + 5 * MIN, |d| d.amb_tick()).unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::TimedOut);
    assert_eq!(m.amb.len(), 2, "the next municipality is asked");
    // The second attempt is a phone call; a tick long after both its times only times it out.
    let d = m.run(&c, 60 * MIN, |d| d.amb_tick()).unwrap().1;
    assert!(!queued(&d)
        .iter()
        .any(|(_, m)| *m == Some(Msg::AmbulanceReminder)));
}

#[test]
fn municipality_answers_accept_decline_and_unasked_incidents() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    let row = request_row(&m);
    send_until(&mut m, &c, 2, row);
    hear(&mut m, &c, 3, distress(PHONE2, "SOS", None));
    let d = hear(&mut m, &c, 4, muni_says(SARIC, "OK SAS-2 20"));
    assert!(events(&d)[0].contains("refused: it was not asked for SAS-2"));
    let d = hear(&mut m, &c, 5, muni_says(SARIC, "OK SAS-1 25"));
    assert_eq!(m.amb[0].row.status, AmbState::Accepted);
    assert_eq!(m.amb[0].eta, Some(25));
    let q = queued(&d);
    assert!(q.contains(&(SARIC, Some(Msg::AmbulanceThanks))), "{q:?}");
    assert!(
        q.contains(&(P1_NODE, Some(Msg::PatrolAmbAccepted))),
        "{q:?}"
    );
    // A late "no" after a yes is refused and changes nothing.
    let d = hear(&mut m, &c, 6, muni_says(SARIC, "NO SAS-1"));
    assert!(
        events(&d)[0].contains("answer from Sáric refused"),
        "{:?}",
        events(&d)
    );
    assert_eq!(m.amb[0].row.status, AmbState::Accepted);
}

#[test]
fn cancelling_a_request_not_yet_on_air_withdraws_it() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    let row = request_row(&m);
    op(
        &mut m,
        &c,
        2,
        OperatorRequest::AmbulanceCancel("SAS-1".into()),
    )
    .unwrap();
    assert_eq!(m.row_mut(row).state, "done");
    assert_eq!(m.amb[0].row.status, AmbState::Cancelled);
}

#[test]
fn teams_go_stale_and_lost_and_their_incidents_hear_of_it() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "SOS", None));
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    hear(
        &mut m,
        &c,
        0,
        Signal::Position {
            node: P1_NODE,
            fix: fix(31.2, -111.4, 32),
            patrol: Some("P1".into()),
        },
    );
    m.run(&c, 1_000, |d| d.team_tick()).unwrap();
    assert_eq!(m.teams["P1"].1, TeamHealth::Ok);
    let d = m.run(&c, 2 * MIN, |d| d.team_tick()).unwrap().1;
    assert_eq!(m.teams["P1"].1, TeamHealth::Stale);
    assert!(d.effects.iter().any(|e| matches!(e, Effect::Event { incident: Some(i), what, .. } if i == "SAS-1" && what.starts_with("patrol P1 is stale"))));
    m.run(&c, 6 * MIN, |d| d.team_tick()).unwrap();
    assert_eq!(m.teams["P1"].1, TeamHealth::Lost);
}

fn battery(node: u32, level: Option<u32>, time: Option<u32>, patrol: Option<&str>) -> Signal {
    Signal::Battery {
        node,
        level,
        voltage: Some(3.7),
        time,
        patrol: patrol.map(str::to_string),
    }
}

#[test]
fn a_patrols_battery_is_recorded_and_an_older_reading_does_not_replace_it() {
    let (c, mut m) = (cfg(), Model::default());
    let d = hear(
        &mut m,
        &c,
        10 * MIN,
        battery(P1_NODE, Some(87), None, Some("P1")),
    );
    assert_eq!(m.batteries[&P1_NODE], (Some(87), Some(3.7), 10 * MIN));
    // A battery reading opens nothing, answers nothing, says nothing.
    assert!(queued(&d).is_empty() && events(&d).is_empty(), "{d:?}");
    assert!(m.incidents.is_empty());
    // Measured earlier by the node's clock (heard late): the newer reading stays.
    let d = hear(
        &mut m,
        &c,
        11 * MIN,
        battery(P1_NODE, Some(95), Some(60), Some("P1")),
    );
    assert!(d.effects.is_empty(), "{d:?}");
    assert_eq!(m.batteries[&P1_NODE].0, Some(87));
    // A sender's clock ahead of the station's counts as heard now.
    hear(
        &mut m,
        &c,
        12 * MIN,
        battery(P1_NODE, Some(86), Some(u32::MAX), Some("P1")),
    );
    assert_eq!(m.batteries[&P1_NODE], (Some(86), Some(3.7), 12 * MIN));
    // Anyone's battery is kept; powered (101) as sent.
    hear(&mut m, &c, 13 * MIN, battery(PHONE, Some(101), None, None));
    assert_eq!(m.batteries[&PHONE].0, Some(101));
    assert!(m.incidents.is_empty());
}

#[test]
fn a_patrols_low_battery_is_audited_once_when_it_gets_low() {
    let (c, mut m) = (cfg(), Model::default());
    let low = |d: &Decision| {
        events(d)
            .into_iter()
            .filter(|e| e.starts_with("patrol P1 battery low"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(low(&hear(
        &mut m,
        &c,
        MIN,
        battery(P1_NODE, Some(21), None, Some("P1"))
    ))
    .is_empty());
    let d = hear(
        &mut m,
        &c,
        2 * MIN,
        battery(P1_NODE, Some(18), None, Some("P1")),
    );
    assert_eq!(
        low(&d),
        vec!["patrol P1 battery low: 18% (!5a5a0101)".to_string()]
    );
    // Still low: not again.
    assert!(low(&hear(
        &mut m,
        &c,
        3 * MIN,
        battery(P1_NODE, Some(12), None, Some("P1"))
    ))
    .is_empty());
    // Plugged in, then low again: said again.
    assert!(low(&hear(
        &mut m,
        &c,
        4 * MIN,
        battery(P1_NODE, Some(101), None, Some("P1"))
    ))
    .is_empty());
    assert_eq!(
        low(&hear(
            &mut m,
            &c,
            5 * MIN,
            battery(P1_NODE, Some(20), None, Some("P1"))
        ))
        .len(),
        1
    );
    // A stranger's low battery is no patrol's.
    let d = hear(&mut m, &c, 6 * MIN, battery(PHONE, Some(5), None, None));
    assert!(events(&d).is_empty(), "{d:?}");
}

#[test]
fn a_patrol_heard_is_ok_at_once_and_says_so_once_after_being_lost() {
    let (c, mut m) = (cfg(), Model::default());
    let heard = |m: &mut Model, at: i64| {
        hear(
            m,
            &c,
            at,
            Signal::Position {
                node: P1_NODE,
                fix: fix(31.2, -111.4, 32),
                patrol: Some("P1".into()),
            },
        )
    };
    // Never heard before: ok with its first position, before any tick, and no event.
    let d = heard(&mut m, 0);
    assert_eq!(m.teams["P1"].1, TeamHealth::Ok);
    assert!(!d.effects.iter().any(|e| matches!(e, Effect::Event { .. })));
    m.run(&c, 8 * MIN, |d| d.team_tick()).unwrap();
    assert_eq!(m.teams["P1"].1, TeamHealth::Lost);
    // Heard again: ok at once, said once; the next tick has nothing to add.
    let d = heard(&mut m, 9 * MIN);
    assert_eq!(m.teams["P1"].1, TeamHealth::Ok);
    let said: Vec<_> = d
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event { what, .. } => Some(what.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(said, ["patrol P1 is ok again"]);
    let d = m.run(&c, 9 * MIN + 1_000, |d| d.team_tick()).unwrap().1;
    assert!(!d
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Event { .. } | Effect::TeamStatus { .. })));
}

// ----- properties ----------------------------------------------------------------------

/// One thing that can happen to a station.
#[derive(Debug, Clone)]
enum Input {
    Distress { phone: u8, text: u8, placed: bool },
    Patrol { team: u8, verb: u8, seq: u8 },
    Operator { verb: u8, seq: u8, arg: u8 },
    Municipality { which: u8, verb: u8, seq: u8 },
    Send,
    Delivery { outcome: u8 },
    Tick { minutes: u8 },
    Battery { team: u8, level: u8 },
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => (0u8..4, 0u8..5, any::<bool>()).prop_map(|(phone, text, placed)| Input::Distress { phone, text, placed }),
        3 => (0u8..2, 0u8..11, 1u8..6).prop_map(|(team, verb, seq)| Input::Patrol { team, verb, seq }),
        3 => (0u8..10, 1u8..6, 0u8..4).prop_map(|(verb, seq, arg)| Input::Operator { verb, seq, arg }),
        2 => (0u8..2, 0u8..5, 1u8..6).prop_map(|(which, verb, seq)| Input::Municipality { which, verb, seq }),
        3 => Just(Input::Send),
        2 => (0u8..4).prop_map(|outcome| Input::Delivery { outcome }),
        2 => (0u8..8).prop_map(|minutes| Input::Tick { minutes }),
        1 => (0u8..2, 0u8..=101).prop_map(|(team, level)| Input::Battery { team, level }),
    ]
}

const TEXTS: [&str; 5] = [
    "SOS",
    "AUXILIO estamos perdidos somos 6",
    "ayuda mi hijo no respira",
    "HELP injured",
    "AUXILIO herida embarazada sangrando",
];

fn outcome(arg: u8) -> Outcome {
    [
        Outcome::Rescued,
        Outcome::TransferredHospital,
        Outcome::FalseAlarm,
        Outcome::NotFound,
    ][arg as usize % 4]
}

/// Runs one input; a refusal is a valid answer (nothing applied).
fn step(m: &mut Model, c: &StoreConfig, at: i64, input: &Input) -> Option<Decision> {
    let signal = |m: &mut Model, s: Signal| {
        let from = sender(&s);
        m.run(c, at, |d| d.signal(&rx(from), s))
            .ok()
            .map(|(_, d)| d)
    };
    match *input {
        Input::Battery { team, level } => {
            let (node, name) = [(P1_NODE, "P1"), (P2_NODE, "P2")][team as usize];
            let d = signal(m, battery(node, Some(u32::from(level)), None, Some(name)))?;
            // A battery reading records itself and may say so (and the harness's direct
            // message proves the sender's key): nothing else.
            assert!(
                d.effects.iter().all(|e| matches!(
                    e,
                    Effect::NodeBattery { .. } | Effect::Event { .. } | Effect::NodeKey { .. }
                )),
                "{d:?}"
            );
            Some(d)
        }
        Input::Distress {
            phone,
            text,
            placed,
        } => {
            let pos = placed.then(|| {
                fix(
                    31.0 + f64::from(phone) * 0.1,
                    -111.5,
                    32 - u32::from(phone) * 5,
                )
            });
            signal(
                m,
                distress(PHONE + u32::from(phone), TEXTS[text as usize], pos),
            )
        }
        Input::Patrol { team, verb, seq } => {
            let (node, name) = [(P1_NODE, "P1"), (P2_NODE, "P2")][team as usize];
            let text = match verb {
                0 => format!("ACK SAS-{seq}"),
                1 => format!("RUTA SAS-{seq}"),
                2 => format!("LLEGUE SAS-{seq}"),
                3 => format!("CERRAR SAS-{seq} rescatado"),
                4 => format!("NOTA SAS-{seq} dos personas"),
                5 => "ESTADO".into(),
                6 => format!("AMB SAS-{seq}"),
                7 => "AMB".into(),
                8 => "CERRAR".into(),
                9 => return signal(m, note(node, name, "Llegamos, 3 personas, una herida")),
                _ => return signal(m, note(node, name, "Necesitamos ayuda aquí")),
            };
            signal(m, command(node, name, &text))
        }
        Input::Operator { verb, seq, arg } => {
            let id = format!("SAS-{seq}");
            let req = match verb {
                0 => OperatorRequest::Ack(id),
                1 => OperatorRequest::Assign(id, ["P1", "P2", "P9", "P1"][arg as usize].into()),
                2 => OperatorRequest::Close(id, outcome(arg), Some("nota".into())),
                3 => OperatorRequest::Reopen(id),
                4 => OperatorRequest::Note(id, "llamada".into()),
                5 => OperatorRequest::Ambulance(id, None),
                6 => OperatorRequest::AmbulanceCancel(id),
                7 => OperatorRequest::AmbulanceRecord(id, arg % 2 == 0, (arg < 2).then_some(30)),
                8 => OperatorRequest::Position(id, 31.3, -111.45),
                _ => OperatorRequest::Ambulance(id, Some("Altar".into())),
            };
            m.run(c, at, |d| d.operator("ana", req))
                .ok()
                .map(|(_, d)| d)
        }
        Input::Municipality { which, verb, seq } => {
            let node = [SARIC, ALTAR][which as usize];
            let text = match verb {
                0 => format!("OK SAS-{seq} 20"),
                1 => format!("NO SAS-{seq} sin unidades"),
                2 => format!("LLEGO SAS-{seq}"),
                3 => "OK".into(),
                _ => "que?".into(),
            };
            signal(m, muni_says(node, &text))
        }
        Input::Send => {
            let row = m.send_next()?;
            m.run(c, at, |d| d.amb_on_sent(row)).ok().map(|(_, d)| d)
        }
        Input::Delivery { outcome } => {
            let row = m.outbox.iter().find(|r| r.state == "sent")?.id;
            let o = match outcome {
                0 => DeliveryOutcome::Acked,
                1 => DeliveryOutcome::ImplicitAck,
                2 => DeliveryOutcome::TimedOut,
                _ => DeliveryOutcome::Nak(routing::Error::MaxRetransmit),
            };
            m.run(c, at, |d| d.delivery("r0", row as u32, o))
                .ok()
                .map(|(_, d)| d)
        }
        Input::Tick { .. } => {
            let mut d = m.run(c, at, |d| d.team_tick()).ok()?.1;
            let amb = m.run(c, at, |d| d.amb_tick()).ok()?.1;
            d.effects.extend(amb.effects);
            Some(d)
        }
    }
}

/// Messages that may concern a closed incident: they say so (the close confirmed, a command
/// refused because it is closed, an ambulance called off).
fn may_follow_a_close(msg: Option<Msg>) -> bool {
    matches!(
        msg,
        Some(Msg::CmdOk | Msg::CmdRefused | Msg::AmbulanceCancel | Msg::PatrolAmbCancelled)
    )
}

fn check(m: &Model, d: &Decision) -> Result<(), TestCaseError> {
    // Every change of an incident has its audit event in the same decision.
    for e in &d.effects {
        let changed = match e {
            Effect::Open(n) => Some(n.id.as_str()),
            Effect::Status { id, .. }
            | Effect::Position { id, .. }
            | Effect::Heard { id, .. }
            | Effect::Triage { id, .. } => Some(id.as_str()),
            Effect::AmbStart(a) => Some(a.incident.as_str()),
            _ => None,
        };
        if let Some(id) = changed {
            prop_assert!(
                d.effects
                    .iter()
                    .any(|e| matches!(e, Effect::Event { incident: Some(i), .. } if i == id)),
                "{e:?} without an event for {id}: {:#?}",
                d.effects
            );
        }
        if let Effect::AmbStatus { row, status, .. } = e {
            if !matches!(status, AmbState::Sent | AmbState::Delivered) {
                let inc = &m
                    .amb
                    .iter()
                    .find(|a| a.row.id == *row)
                    .unwrap()
                    .row
                    .incident;
                prop_assert!(
                    d.effects
                        .iter()
                        .any(|e| matches!(e, Effect::Event { incident: Some(i), .. } if i == inc)),
                    "ambulance {status} without an event: {:#?}",
                    d.effects
                );
            }
        }
        // No message for a closed incident unless it says so.
        let msg = match e {
            Effect::Queue(msg) => Some(msg),
            Effect::AmbStart(a) => a.request.as_ref(),
            _ => None,
        };
        if let Some(msg) = msg {
            prop_assert!(msg.text.len() <= faro_proto::mesh::PAYLOAD_BUDGET);
            if let Some(inc) = msg.incident.as_deref().and_then(|i| m.incidents.get(i)) {
                prop_assert!(
                    inc.facts.status.state.is_open() || may_follow_a_close(msg.msg),
                    "{:?} queued for closed {}",
                    msg.msg,
                    inc.facts.id
                );
            }
        }
    }
    // No impossible state.
    for i in m.incidents.values() {
        let s = &i.facts.status;
        if matches!(s.state, State::Assigned | State::EnRoute | State::OnScene) {
            prop_assert!(
                s.team.is_some(),
                "{} {} without a team",
                i.facts.id,
                s.state
            );
        }
        prop_assert_eq!(s.state == State::Closed, s.outcome.is_some(), "{:?}", s);
        if let Some(t) = &s.team {
            prop_assert!(t == "P1" || t == "P2", "unknown team {}", t);
        }
        let active = m
            .amb
            .iter()
            .filter(|a| a.row.incident == i.facts.id && a.row.status.active())
            .count();
        prop_assert!(
            active <= 1,
            "{} has {active} ambulance attempts in play",
            i.facts.id
        );
        // Never two ambulances accepted for one incident.
        let accepted = m
            .amb
            .iter()
            .filter(|a| a.row.incident == i.facts.id && a.row.status == AmbState::Accepted)
            .count();
        prop_assert!(
            accepted <= 1,
            "{} has {accepted} accepted ambulances",
            i.facts.id
        );
        // Nothing of an ambulance stays in play, queued or on its way for a closed incident.
        if !i.facts.status.state.is_open() {
            prop_assert!(
                active == 0,
                "closed {} has an ambulance in play",
                i.facts.id
            );
            let queued = m.outbox.iter().any(|r| {
                r.m.incident.as_deref() == Some(i.facts.id.as_str())
                    && r.state == "pending"
                    && matches!(
                        r.m.msg,
                        Some(Msg::AmbulanceRequest | Msg::AmbulanceReminder)
                    )
            });
            prop_assert!(
                !queued,
                "closed {} has an ambulance request queued",
                i.facts.id
            );
        }
        // On its own the station asks at most the configured number (an operator may ask
        // again by name).
        let asked = m
            .amb
            .iter()
            .filter(|a| a.row.incident == i.facts.id && a.row.requested_by == "system")
            .count();
        prop_assert!(
            asked <= 3,
            "{} asked {asked} municipalities by itself",
            i.facts.id
        );
    }
    let mut seqs: Vec<u32> = m.incidents.values().map(|i| i.seq).collect();
    seqs.sort_unstable();
    prop_assert!(
        seqs.iter().enumerate().all(|(n, s)| *s == n as u32 + 1),
        "{seqs:?}"
    );
    Ok(())
}

/// Runs `inputs` one second apart (a tick also lets its minutes pass) on a station whose new
/// P1 medical incidents ask for an ambulance, checking every invariant after each.
fn live_a_day(mut c: StoreConfig, inputs: &[Input]) -> Result<(), TestCaseError> {
    c.auto_ambulance_kinds = vec![crate::incident::Kind::Medical];
    let mut m = Model::default();
    let mut at = 0i64;
    for i in inputs {
        at += match i {
            Input::Tick { minutes } => i64::from(*minutes) * MIN + 1_000,
            _ => 1_000,
        };
        if let Some(d) = step(&mut m, &c, at, i) {
            check(&m, &d)?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_days_keep_every_invariant(inputs in proptest::collection::vec(input(), 1..60)) {
        live_a_day(cfg(), &inputs)?;
    }

    #[test]
    fn a_refused_request_changes_nothing(inputs in proptest::collection::vec(input(), 1..40), verb in 0u8..10, seq in 1u8..8, arg in 0u8..4) {
        let c = cfg();
        let mut m = Model::default();
        for (n, i) in inputs.iter().enumerate() {
            step(&mut m, &c, n as i64 * 1_000, i);
        }
        let before = (m.incidents.clone(), m.outbox.clone(), m.amb.clone(), m.events.len());
        let at = inputs.len() as i64 * 1_000;
        if step(&mut m, &c, at, &Input::Operator { verb, seq, arg }).is_none() {
            prop_assert_eq!(before, (m.incidents.clone(), m.outbox.clone(), m.amb.clone(), m.events.len()));
        }
    }
}

// ----- trust -------------------------------------------------------------------------------

/// Hears `s` as it arrived by `auth`.
fn hear_as(m: &mut Model, c: &StoreConfig, at: i64, s: Signal, auth: Auth) -> Decision {
    let mut r = rx(sender(&s));
    r.auth = auth;
    m.run(c, at, |d| d.signal(&r, s)).expect("signal").1
}

/// Every way a message can claim a node without being from its key.
fn forgeries(node: u32) -> Vec<(&'static str, Auth)> {
    let mut mqtt = Auth::pki(key_of(node));
    mqtt.via_mqtt = true;
    vec![
        ("broadcast", Auth::default()),
        (
            "channel-key DM",
            Auth {
                direct: true,
                ..Auth::default()
            },
        ),
        ("wrong key", Auth::pki(key_of(0xbad0_0001))),
        ("MQTT", mqtt),
    ]
}

#[test]
fn a_forged_patrol_command_changes_nothing_is_audited_and_the_real_patrol_is_told_hourly() {
    let (c, mut m) = (cfg(), Model::default());
    hear(&mut m, &c, 0, distress(PHONE, "AUXILIO", None));
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    let before = m.clone();
    for (i, (how, auth)) in forgeries(P1_NODE).into_iter().enumerate() {
        let at = 2 * MIN + i as i64;
        let d = hear_as(
            &mut m,
            &c,
            at,
            command(P1_NODE, "P1", "CERRAR SAS-1 falsa"),
            auth,
        );
        assert_eq!(state(&m, 1).0, State::Assigned, "{how}");
        let ev = events(&d);
        assert!(
            ev.iter()
                .any(|e| e.contains("unverified message in the name of patrol P1")),
            "{how}: {ev:?}"
        );
        // The real patrol hears of it once, not once per forgery.
        let warned = queued(&d) == [(P1_NODE, Some(Msg::Impersonated))];
        assert_eq!(warned, i == 0, "{how}: {:?}", queued(&d));
    }
    assert_eq!(m.incidents["SAS-1"].facts, before.incidents["SAS-1"].facts);
    // An hour later a new forgery warns again; the real key still works.
    let d = hear_as(
        &mut m,
        &c,
        70 * MIN,
        command(P1_NODE, "P1", "RUTA SAS-1"),
        Auth::default(),
    );
    assert_eq!(queued(&d), [(P1_NODE, Some(Msg::Impersonated))]);
    hear(&mut m, &c, 71 * MIN, command(P1_NODE, "P1", "RUTA SAS-1"));
    assert_eq!(state(&m, 1).0, State::EnRoute);
}

#[test]
fn a_forged_municipal_answer_accepts_nothing() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    let row = request_row(&m);
    send_until(&mut m, &c, 2, row);
    for (how, auth) in forgeries(SARIC) {
        hear_as(&mut m, &c, 3, muni_says(SARIC, "OK SAS-1 25"), auth);
        assert_ne!(m.amb[0].row.status, AmbState::Accepted, "{how}");
    }
    hear(&mut m, &c, 4, muni_says(SARIC, "OK SAS-1 25"));
    assert_eq!(m.amb[0].row.status, AmbState::Accepted);
}

#[test]
fn a_key_enrolled_at_the_desk_is_trusted_and_a_key_shared_by_two_nodes_is_not() {
    let mut c = cfg();
    c.teams[0].keys.clear();
    let mut m = Model::default();
    hear(&mut m, &c, 0, distress(PHONE, "AUXILIO", None));
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    // Nothing pinned: even the real key is refused, and says why.
    let d = hear(&mut m, &c, 2, command(P1_NODE, "P1", "RUTA SAS-1"));
    assert!(
        events(&d)[0].contains("no key is pinned"),
        "{:?}",
        events(&d)
    );
    m.enrolled.push((P1_NODE, key_of(P1_NODE)));
    hear(&mut m, &c, 3, command(P1_NODE, "P1", "RUTA SAS-1"));
    assert_eq!(state(&m, 1).0, State::EnRoute);
    // The same key announced by another node: a cloned key proves nothing.
    m.node_keys.insert(P1_NODE, key_of(P1_NODE));
    m.node_keys.insert(PHONE2, key_of(P1_NODE));
    let d = hear(&mut m, &c, 4, command(P1_NODE, "P1", "LLEGUE SAS-1"));
    assert!(
        events(&d)[0].contains("shared by several nodes"),
        "{:?}",
        events(&d)
    );
    assert_eq!(state(&m, 1).0, State::EnRoute);
}

#[test]
fn a_plea_in_a_patrols_name_is_still_heard_but_a_forged_note_raises_nothing() {
    let (c, mut m) = (cfg(), Model::default());
    // Distress is heard from anyone, forged or not: nobody is refused help.
    let d = hear_as(
        &mut m,
        &c,
        0,
        note(P1_NODE, "P1", "auxilio nos volcamos"),
        Auth::default(),
    );
    assert!(d.incident.is_some_and(|(_, opened)| opened));
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    let before = m.incidents["SAS-1"].facts.clone();
    hear_as(
        &mut m,
        &c,
        2,
        note(P1_NODE, "P1", "somos 9, dos niños sangrando"),
        Auth::default(),
    );
    assert_eq!(m.incidents["SAS-1"].facts, before);
}

fn node_info(node: u32, key: PublicKey, from_radio: bool) -> Signal {
    Signal::NodeInfo {
        node,
        long_name: "x".into(),
        short_name: "x".into(),
        key: Some(key),
        from_radio,
    }
}

#[test]
fn a_changed_duplicated_or_claimed_key_raises_an_alert_and_is_never_trusted() {
    let (c, mut m) = (cfg(), Model::default());
    // The radio's own database holds the pinned key: recorded, no alert.
    let d = hear(&mut m, &c, 0, node_info(P1_NODE, key_of(P1_NODE), true));
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert_eq!(m.node_keys.get(&P1_NODE), Some(&key_of(P1_NODE)));
    // A broadcast NodeInfo claiming P1 with another key: an alert, nothing recorded.
    let d = hear(
        &mut m,
        &c,
        1,
        node_info(P1_NODE, key_of(0xbad0_0001), false),
    );
    assert!(
        events(&d)[0].starts_with("alert: a NodeInfo broadcast"),
        "{:?}",
        events(&d)
    );
    assert_eq!(m.node_keys.get(&P1_NODE), Some(&key_of(P1_NODE)));
    // The radio now holds another key for P1 (its database was reset and refilled): alert.
    let d = hear(&mut m, &c, 2, node_info(P1_NODE, key_of(0xbad0_0001), true));
    assert!(
        events(&d)[0].contains("not the one pinned"),
        "{:?}",
        events(&d)
    );
    // Another node proven to hold P2's key: both hold one key.
    hear(&mut m, &c, 3, node_info(P2_NODE, key_of(P2_NODE), true));
    let d = hear(&mut m, &c, 4, node_info(PHONE, key_of(P2_NODE), true));
    assert!(
        events(&d)[0].contains("hold the same key"),
        "{:?}",
        events(&d)
    );
    hear(&mut m, &c, 5, distress(PHONE2, "AUXILIO", None));
    op(
        &mut m,
        &c,
        6,
        OperatorRequest::Assign("SAS-1".into(), "P2".into()),
    )
    .unwrap();
    hear(&mut m, &c, 7, command(P2_NODE, "P2", "RUTA SAS-1"));
    assert_eq!(
        state(&m, 1).0,
        State::Assigned,
        "a shared key commands nothing"
    );
}

// ----- what a patrol is told (issue 13) ----------------------------------------------------

/// The texts queued for `node` by a decision.
fn texts_to(d: &Decision, node: u32) -> Vec<(Option<Msg>, &str)> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Queue(m) if m.dest == node => Some((m.msg, m.text.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_dispatch_says_what_where_how_many_and_who_in_the_teams_language() {
    let mut c = cfg();
    c.teams[1].language = Lang::En;
    let mut m = Model::default();
    let r = ManualReport {
        lat: Some(31.4746),
        lon: Some(-111.5449),
        kind: Some("heat".into()),
        people: Some(3),
        flags: vec!["children".into(), "injured".into()],
        ..Default::default()
    };
    op(&mut m, &c, 0, OperatorRequest::Report(r.clone())).unwrap();
    let d = op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    let sent = texts_to(&d, P1_NODE);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (msg, text) = sent[0];
    assert_eq!(msg, Some(Msg::Dispatch));
    assert_eq!(
        text,
        "Faro SAS-1 P1 calor, 3 pers., niños/herido: 31.47460,-111.54490 (Sásabe), aviso manual"
    );
    // The same incident for an English-speaking team.
    op(&mut m, &c, 2, OperatorRequest::Report(r)).unwrap();
    let d = op(
        &mut m,
        &c,
        3,
        OperatorRequest::Assign("SAS-2".into(), "P2".into()),
    )
    .unwrap();
    let (_, text) = texts_to(&d, P2_NODE)[0];
    assert!(
        text.starts_with("Faro SAS-2 P1 heat, 3 ppl, children/injured: 31.47460,-111.54490"),
        "{text}"
    );
    assert!(text.ends_with(", via manual"), "{text}");
    // A phone's call with no position and no count: the reporter, and `?` where unknown.
    hear(&mut m, &c, 4, distress(PHONE, "SOS", None));
    let d = op(
        &mut m,
        &c,
        5,
        OperatorRequest::Assign("SAS-3".into(), "P1".into()),
    )
    .unwrap();
    let (_, text) = texts_to(&d, P1_NODE)[0];
    assert_eq!(
        text,
        "Faro SAS-3 P2 auxilio, ? pers.: ?,?, aviso tel !5a5a0301"
    );
}

#[test]
fn a_dispatch_with_everything_at_its_longest_keeps_id_priority_and_position() {
    let mut c = cfg();
    c.towers.insert(
        0x5a5a_0209,
        Tower {
            name: "Torre de vigilancia número veintiocho del desierto".into(),
            lat: 31.0,
            lon: -111.0,
        },
    );
    let mut m = Model::default();
    let inc = IncidentFacts {
        id: "SAS-99999".into(),
        status: crate::incident::Status {
            state: State::New,
            team: None,
            outcome: None,
        },
        priority: 1,
        people: Some(999),
        position: Some(Placed {
            lat: -89.99999,
            lon: -179.99999,
            precision_bits: 32,
            at: 0,
        }),
        kind: crate::incident::Kind::Drowning,
        flags: crate::incident::Flag::ALL.to_vec(),
        why: vec![],
        reporter: Some(0x5a5a_0209),
        language: Lang::Es,
    };
    for lang in Lang::ALL {
        let text = m.run(&c, 0, |d| Ok(d.dispatch_text(&inc, lang))).unwrap().0;
        assert!(text.len() < 200, "{lang}: {text}");
        assert!(
            text.starts_with("Faro SAS-99999 P1 ") && text.contains("-89.99999,-179.99999"),
            "{lang}: {text}"
        );
    }
}

#[test]
fn the_assigned_patrol_hears_a_new_position_and_a_higher_priority() {
    let (c, mut m) = (cfg(), Model::default());
    hear(
        &mut m,
        &c,
        0,
        distress(PHONE, "SOS", Some(fix(31.47, -111.54, 32))),
    );
    // Not assigned yet: nobody to tell.
    let d = op(
        &mut m,
        &c,
        1,
        OperatorRequest::Position("SAS-1".into(), 31.48, -111.55),
    )
    .unwrap();
    assert!(texts_to(&d, P1_NODE).is_empty());
    op(
        &mut m,
        &c,
        2,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    // An operator's position goes to the patrol at once.
    let d = op(
        &mut m,
        &c,
        3,
        OperatorRequest::Position("SAS-1".into(), 31.5, -111.6),
    )
    .unwrap();
    let sent = texts_to(&d, P1_NODE);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, Some(Msg::PatrolUpdate));
    assert!(
        sent[0]
            .1
            .starts_with("Faro SAS-1 cambio: P2 auxilio, ? pers.: 31.50000,-111.60000"),
        "{}",
        sent[0].1
    );
    assert!(events(&d).contains(&"patrol P1 told the new position"));
    // The reporter's own new position, within the minute: not again.
    let d = hear(
        &mut m,
        &c,
        4,
        distress(PHONE, "SOS", Some(fix(31.52, -111.6, 32))),
    );
    assert!(texts_to(&d, P1_NODE).is_empty());
    // The same place a while later: nothing new.
    let d = hear(
        &mut m,
        &c,
        5 * MIN,
        distress(PHONE, "SOS", Some(fix(31.52, -111.6, 32))),
    );
    assert!(texts_to(&d, P1_NODE).is_empty());
    // Moved, after the minute: told.
    let d = hear(
        &mut m,
        &c,
        6 * MIN,
        distress(PHONE, "SOS", Some(fix(31.53, -111.6, 32))),
    );
    assert_eq!(texts_to(&d, P1_NODE).len(), 1);
    // A higher priority is told at once, even within the minute.
    let d = hear(
        &mut m,
        &c,
        6 * MIN + 1000,
        distress(PHONE, "AUXILIO mi amigo esta herido sangrando", None),
    );
    let sent = texts_to(&d, P1_NODE);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.contains(": P1 "), "{}", sent[0].1);
    assert!(events(&d).contains(&"patrol P1 told the new priority"));
    // Once closed, nothing more.
    hear(
        &mut m,
        &c,
        7 * MIN,
        command(P1_NODE, "P1", "CERRAR SAS-1 rescatado"),
    );
    let d = op(
        &mut m,
        &c,
        8 * MIN,
        OperatorRequest::Position("SAS-1".into(), 31.0, -111.0),
    )
    .unwrap();
    assert!(texts_to(&d, P1_NODE).is_empty());
}

#[test]
fn a_first_mistake_is_always_hinted_and_a_flood_is_not() {
    let (c, mut m) = (cfg(), Model::default());
    // Another answer just before (ESTADO) does not swallow the hint.
    let d = hear(&mut m, &c, 0, command(P1_NODE, "P1", "ESTADO"));
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::StatusNone))]);
    let d = hear(&mut m, &c, 1000, command(P1_NODE, "P1", "LLEGUE"));
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::CmdUsage))]);
    assert!(events(&d)[0].starts_with("malformed command"));
    let (_, text) = texts_to(&d, P1_NODE)[0];
    assert!(text.contains("LLEGUE"), "{text}");
    // Two more different mistakes are answered; a fourth within the minute is not.
    for (i, t) in ["RUTA", "NOTA SAS-1"].into_iter().enumerate() {
        let d = hear(&mut m, &c, 2000 + i as i64, command(P1_NODE, "P1", t));
        assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::CmdUsage))], "{t}");
    }
    let d = hear(&mut m, &c, 3000, command(P1_NODE, "P1", "ACK"));
    assert!(queued(&d).is_empty());
    assert!(events(&d)[0].starts_with("malformed command"));
    // After the minute, answered again.
    let d = hear(&mut m, &c, 2 * MIN, command(P1_NODE, "P1", "ACK"));
    assert_eq!(queued(&d), vec![(P1_NODE, Some(Msg::CmdUsage))]);
}

#[test]
fn every_answer_to_a_patrol_is_in_its_teams_language() {
    let mut c = cfg();
    c.teams[0].language = Lang::En;
    let mut m = Model::default();
    let d = hear(&mut m, &c, 0, command(P1_NODE, "P1", "ESTADO"));
    let (_, text) = texts_to(&d, P1_NODE)[0];
    assert_eq!(text, c.catalog.render(Lang::En, Msg::StatusNone, &[]));
    let d = hear(&mut m, &c, 1, command(P1_NODE, "P1", "LLEGUE SAS-9"));
    let (_, text) = texts_to(&d, P1_NODE)[0];
    assert_eq!(
        text,
        c.catalog
            .render(Lang::En, Msg::CmdUnknownIncident, &[("id", "SAS-9")])
    );
    // Its confirmations name the state in its language; Spanish for P2.
    hear(&mut m, &c, 2, distress(PHONE, "SOS", None));
    let d = hear(&mut m, &c, 3, command(P1_NODE, "P1", "RUTA SAS-1"));
    assert_eq!(texts_to(&d, P1_NODE)[0].1, "Faro SAS-1: en route");
    hear(&mut m, &c, 4, distress(PHONE2, "SOS", None));
    let d = hear(&mut m, &c, 5, command(P2_NODE, "P2", "RUTA SAS-2"));
    assert_eq!(texts_to(&d, P2_NODE)[0].1, "Faro SAS-2: en camino");
    let d = hear(
        &mut m,
        &c,
        6,
        command(P2_NODE, "P2", "NOTA SAS-2 llevamos agua"),
    );
    assert_eq!(texts_to(&d, P2_NODE)[0].1, "Faro SAS-2: nota");
}

// ----- ambulances never doubled, never stranded -----------------------------------------

/// Two municipalities with a mesh contact (Sáric, then Altar), no phone-only one.
fn cfg_two_mesh() -> StoreConfig {
    let mut c = cfg();
    c.municipalities.retain(|m| !m.nodes.is_empty());
    c
}

fn outbox_state(m: &Model, row: i64) -> &'static str {
    m.outbox.iter().find(|r| r.id == row).unwrap().state
}

#[test]
fn a_request_deadline_and_reminder_run_from_when_it_is_on_air() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    let row = request_row(&m);
    // Replies queued ahead keep it off the air for ten minutes: it does not time out.
    let d = m.run(&c, 1 + 5 * MIN, |d| d.amb_tick()).unwrap().1;
    assert!(d.effects.is_empty(), "{:?}", d.effects);
    assert_eq!(m.amb[0].row.status, AmbState::Pending);
    send_until(&mut m, &c, 10 * MIN, row);
    let d = m.run(&c, 10 * MIN + 149_000, |d| d.amb_tick()).unwrap().1;
    assert!(queued(&d).is_empty(), "the reminder runs from the air time");
    let d = m.run(&c, 10 * MIN + 150_000, |d| d.amb_tick()).unwrap().1;
    assert_eq!(queued(&d), vec![(SARIC, Some(Msg::AmbulanceReminder))]);
    m.run(&c, 15 * MIN - 1, |d| d.amb_tick()).unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::Sent);
    assert_eq!(m.amb.len(), 1, "nobody else asked yet");
    m.run(&c, 15 * MIN, |d| d.amb_tick()).unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::TimedOut);
    assert_eq!(m.amb.len(), 2);
}

#[test]
fn a_request_that_never_gets_on_air_times_out_late_and_is_withdrawn() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    let row = request_row(&m);
    m.run(&c, 1 + 15 * MIN - 1, |d| d.amb_tick()).unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::Pending);
    m.run(&c, 1 + 15 * MIN, |d| d.amb_tick()).unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::TimedOut);
    assert_eq!(
        outbox_state(&m, row),
        "done",
        "never sent after its timeout"
    );
}

/// Sáric asked, on air, timed out; Altar asked (pending) and put on air.
fn saric_timed_out_altar_asked(m: &mut Model, c: &StoreConfig) -> i64 {
    with_request(m, c);
    let r = request_row(m);
    send_until(m, c, 2, r);
    m.run(c, 2 + 5 * MIN, |d| d.amb_tick()).unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::TimedOut);
    assert_eq!(m.amb[1].row.municipality, "Altar");
    request_row(m)
}

#[test]
fn a_second_ok_while_another_acceptance_stands_is_called_off_at_once() {
    let (c, mut m) = (cfg_two_mesh(), Model::default());
    op(
        &mut m,
        &c,
        0,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .ok();
    let altar = saric_timed_out_altar_asked(&mut m, &c);
    send_until(&mut m, &c, 6 * MIN, altar);
    hear(&mut m, &c, 7 * MIN, muni_says(ALTAR, "OK SAS-1 30"));
    assert_eq!(m.amb[1].row.status, AmbState::Accepted);
    let d = hear(&mut m, &c, 8 * MIN, muni_says(SARIC, "OK SAS-1 10"));
    assert_eq!(queued(&d), vec![(SARIC, Some(Msg::AmbulanceCancel))]);
    assert!(
        events(&d)
            .iter()
            .any(|e| e.contains("Sáric answered OK but Altar's ambulance is already accepted")),
        "{:?}",
        events(&d)
    );
    assert_eq!(m.amb[0].row.status, AmbState::TimedOut);
    assert_eq!(m.amb[1].row.status, AmbState::Accepted);
    assert_eq!(m.amb[1].eta, Some(30));
}

#[test]
fn a_late_ok_still_needed_is_taken_and_the_other_request_withdrawn() {
    let (c, mut m) = (cfg_two_mesh(), Model::default());
    let altar = saric_timed_out_altar_asked(&mut m, &c);
    // Altar's request is not on air yet: a late yes from Sáric withdraws it.
    let d = hear(&mut m, &c, 6 * MIN, muni_says(SARIC, "OK SAS-1 10"));
    assert_eq!(m.amb[0].row.status, AmbState::Accepted);
    assert_eq!(m.amb[1].row.status, AmbState::Cancelled);
    assert_eq!(outbox_state(&m, altar), "done");
    assert!(queued(&d).contains(&(SARIC, Some(Msg::AmbulanceThanks))));
    assert!(!queued(&d).iter().any(|(n, _)| *n == ALTAR));
}

#[test]
fn a_late_ok_after_a_decline_is_taken_and_the_one_on_air_cancelled() {
    let (c, mut m) = (cfg_two_mesh(), Model::default());
    with_request(&mut m, &c);
    let r = request_row(&m);
    send_until(&mut m, &c, 2, r);
    hear(&mut m, &c, 3, muni_says(SARIC, "NO SAS-1 sin unidades"));
    assert_eq!(m.amb[0].row.status, AmbState::Declined);
    let r = request_row(&m);
    send_until(&mut m, &c, 4, r);
    assert_eq!(m.amb[1].row.status, AmbState::Sent);
    let d = hear(&mut m, &c, 5, muni_says(SARIC, "OK SAS-1 15"));
    assert_eq!(m.amb[0].row.status, AmbState::Accepted);
    assert_eq!(m.amb[0].eta, Some(15));
    assert_eq!(m.amb[1].row.status, AmbState::Cancelled);
    let q = queued(&d);
    assert!(q.contains(&(ALTAR, Some(Msg::AmbulanceCancel))), "{q:?}");
    assert!(q.contains(&(SARIC, Some(Msg::AmbulanceThanks))), "{q:?}");
    // Altar's yes now comes too late: thanked and called off, not a second ambulance.
    let d = hear(&mut m, &c, 6, muni_says(ALTAR, "OK SAS-1 5"));
    assert_eq!(queued(&d), vec![(ALTAR, Some(Msg::AmbulanceCancel))]);
    assert_eq!(m.amb[1].row.status, AmbState::Cancelled);
    // A late no changes nothing and is no refusal.
    let d = hear(&mut m, &c, 7, muni_says(ALTAR, "NO SAS-1"));
    assert!(
        events(&d)[0].contains("late NO from Altar"),
        "{:?}",
        events(&d)
    );
    assert_eq!(m.amb[0].row.status, AmbState::Accepted);
}

#[test]
fn a_late_ok_for_a_closed_incident_is_thanked_and_called_off() {
    let (c, mut m) = (cfg_two_mesh(), Model::default());
    with_request(&mut m, &c);
    let r = request_row(&m);
    send_until(&mut m, &c, 2, r);
    m.run(&c, 2 + 5 * MIN, |d| d.amb_tick()).unwrap();
    op(
        &mut m,
        &c,
        6 * MIN,
        OperatorRequest::Close("SAS-1".into(), Outcome::Rescued, None),
    )
    .unwrap();
    let d = hear(&mut m, &c, 7 * MIN, muni_says(SARIC, "OK SAS-1 10"));
    assert_eq!(queued(&d), vec![(SARIC, Some(Msg::AmbulanceCancel))]);
    assert!(m.amb.iter().all(|a| a.row.status != AmbState::Accepted));
}

#[test]
fn closing_an_incident_cancels_its_ambulance_over_the_mesh_and_tells_the_patrol() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    let r = request_row(&m);
    send_until(&mut m, &c, 2, r);
    hear(&mut m, &c, 3, muni_says(SARIC, "OK SAS-1 25"));
    let d = op(
        &mut m,
        &c,
        4,
        OperatorRequest::Close("SAS-1".into(), Outcome::Rescued, None),
    )
    .unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::Cancelled);
    let q = queued(&d);
    assert!(q.contains(&(SARIC, Some(Msg::AmbulanceCancel))), "{q:?}");
    assert!(
        q.contains(&(P1_NODE, Some(Msg::PatrolAmbCancelled))),
        "{q:?}"
    );
}

#[test]
fn a_patrol_close_withdraws_a_request_not_yet_on_air() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    )
    .unwrap();
    let row = request_row(&m);
    let d = hear(
        &mut m,
        &c,
        2,
        command(P1_NODE, "P1", "CERRAR SAS-1 rescatado"),
    );
    assert_eq!(state(&m, 1).0, State::Closed);
    assert_eq!(m.amb[0].row.status, AmbState::Cancelled);
    assert_eq!(outbox_state(&m, row), "done");
    let q = queued(&d);
    assert!(!q.iter().any(|(n, _)| *n == SARIC), "{q:?}");
    assert!(
        q.contains(&(P1_NODE, Some(Msg::PatrolAmbCancelled))),
        "{q:?}"
    );
}

#[test]
fn closing_with_a_phone_only_request_asks_the_operator_to_phone() {
    let (c, mut m) = (cfg(), Model::default());
    hear(
        &mut m,
        &c,
        0,
        distress(PHONE, "SOS", Some(fix(31.2, -111.4, 32))),
    );
    op(
        &mut m,
        &c,
        1,
        OperatorRequest::Ambulance("SAS-1".into(), Some("Tubutama".into())),
    )
    .unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::Call);
    let d = op(
        &mut m,
        &c,
        2,
        OperatorRequest::Close("SAS-1".into(), Outcome::FalseAlarm, None),
    )
    .unwrap();
    assert_eq!(m.amb[0].row.status, AmbState::Cancelled);
    assert!(
        events(&d)
            .iter()
            .any(|e| e.contains("call +52 637 000 0000 to say the ambulance is no longer needed")),
        "{:?}",
        events(&d)
    );
}

#[test]
fn accepted_without_minutes_keeps_the_eta_the_municipality_gave() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    let r = request_row(&m);
    send_until(&mut m, &c, 2, r);
    hear(&mut m, &c, 3, muni_says(SARIC, "OK SAS-1 25"));
    assert_eq!(m.amb[0].eta, Some(25));
    op(
        &mut m,
        &c,
        4,
        OperatorRequest::AmbulanceRecord("SAS-1".into(), true, None),
    )
    .unwrap();
    assert_eq!(m.amb[0].eta, Some(25));
    op(
        &mut m,
        &c,
        5,
        OperatorRequest::AmbulanceRecord("SAS-1".into(), true, Some(40)),
    )
    .unwrap();
    assert_eq!(m.amb[0].eta, Some(40));
}

/// Inputs about ambulances only, dense: two incidents that want one, answers late or not,
/// ticks, declines, closes and reopens.
fn amb_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => (0u8..2).prop_map(|phone| Input::Distress { phone, text: 2, placed: true }),
        3 => (prop::sample::select(vec![2u8, 3, 5, 6, 7, 9]), 1u8..3, 0u8..4)
            .prop_map(|(verb, seq, arg)| Input::Operator { verb, seq, arg }),
        1 => (prop::sample::select(vec![3u8, 6]), 1u8..3)
            .prop_map(|(verb, seq)| Input::Patrol { team: 0, verb, seq }),
        4 => (0u8..2, 0u8..4, 1u8..3).prop_map(|(which, verb, seq)| Input::Municipality { which, verb, seq }),
        3 => Just(Input::Send),
        2 => (0u8..4).prop_map(|outcome| Input::Delivery { outcome }),
        3 => (0u8..8).prop_map(|minutes| Input::Tick { minutes }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ambulances_are_never_doubled_nor_left_for_a_closed_incident(
        inputs in proptest::collection::vec(amb_input(), 1..60),
    ) {
        live_a_day(cfg_two_mesh(), &inputs)?;
    }
}

#[test]
fn a_cancelled_request_is_not_retried_on_the_air() {
    let (c, mut m) = (cfg(), Model::default());
    with_request(&mut m, &c);
    let row = request_row(&m);
    send_until(&mut m, &c, 2, row);
    op(
        &mut m,
        &c,
        3,
        OperatorRequest::Close("SAS-1".into(), Outcome::Rescued, None),
    )
    .unwrap();
    // The firmware's pacing would retry any other row.
    let paced = DeliveryOutcome::Nak(routing::Error::RateLimitExceeded);
    m.run(&c, 4, |d| d.delivery("r0", row as u32, paced))
        .unwrap();
    assert_eq!(outbox_state(&m, row), "done");
}

#[test]
fn a_late_ok_after_another_ambulance_arrived_is_called_off() {
    let (c, mut m) = (cfg_two_mesh(), Model::default());
    let altar = saric_timed_out_altar_asked(&mut m, &c);
    send_until(&mut m, &c, 6 * MIN, altar);
    hear(&mut m, &c, 7 * MIN, muni_says(ALTAR, "OK SAS-1 30"));
    hear(&mut m, &c, 8 * MIN, muni_says(ALTAR, "LLEGO SAS-1"));
    assert_eq!(m.amb[1].row.status, AmbState::Arrived);
    let d = hear(&mut m, &c, 9 * MIN, muni_says(SARIC, "OK SAS-1 10"));
    assert_eq!(queued(&d), vec![(SARIC, Some(Msg::AmbulanceCancel))]);
    assert_eq!(m.amb[0].row.status, AmbState::TimedOut);
}

// ----- surge -----------------------------------------------------------------------------

/// Triage gives no distress text less than P2 today: these tests make an incident P3 as an
/// operator's or a future rule's triage would, with its waiting acknowledgement in the P3 class.
fn make_p3(m: &mut Model, id: &str) {
    m.incidents.get_mut(id).expect("incident").facts.priority = 3;
    for r in m
        .outbox
        .iter_mut()
        .filter(|r| r.m.incident.as_deref() == Some(id))
    {
        r.m.class = CLASS_P3;
    }
}

fn surge_tick(m: &mut Model, c: &StoreConfig, at: i64) -> Decision {
    m.run(c, at, |d| d.surge_tick()).expect("surge tick").1
}

fn cfg_surge() -> StoreConfig {
    let mut c = cfg();
    // Three waiting replies (12 s one by one) are a surge.
    c.surge.after = Duration::from_secs(10);
    c
}

#[test]
fn a_surge_groups_p3_acknowledgements_by_short_name_keeps_p1_direct_and_ends() {
    let c = cfg_surge();
    let mut m = Model::default();
    let senders: Vec<u32> = (0..5).map(|i| 0x5a5a_0500 + i).collect();
    m.short_names.insert(senders[0], "Ana4".into());
    m.short_names
        .insert(senders[1], " b\u{7}2,c1\u{202E} ".into());
    m.short_names.insert(senders[2], "ññññññññññ".into());
    // senders[3] and [4] have no name: their app shows the node number's last 4 digits.
    for (i, node) in senders.iter().enumerate() {
        hear(&mut m, &c, i as i64 * 1000, distress(*node, "ayuda", None));
        make_p3(&mut m, &format!("SAS-{}", i + 1));
    }
    // Before the tick, nothing is grouped: the acknowledgements wait in the outbox.
    assert_eq!(m.outbox.len(), 5);

    let start = surge_tick(&mut m, &c, 10_000);
    let e = events(&start);
    assert_eq!(
        e,
        vec!["surge: 5 replies waiting, about 1 min to send one by one; P3/P4 acknowledgements grouped"]
    );
    assert!(m.surges.len() == 1 && m.surges[0].2.is_none());
    // The direct acknowledgements still waiting are dropped and their senders grouped.
    assert!(m.outbox.iter().all(|r| r.state == "dropped"));
    let names: Vec<&str> = m
        .grouped
        .iter()
        .map(|(g, _)| g.short_name.as_str())
        .collect();
    assert_eq!(names, vec!["Ana4", "b2c1", "ññññ", "0503", "0504"]);

    // During the surge a P1 is answered directly, at once.
    let p1 = hear(
        &mut m,
        &c,
        12_000,
        distress(PHONE, "AUXILIO somos 3, una niña", None),
    );
    assert_eq!(queued(&p1), vec![(PHONE, Some(Msg::DistressAck))]);
    let direct = m.outbox.last().unwrap();
    assert_eq!(direct.m.class, CLASS_P1);
    // A P3 sender heard again after the reply interval joins the group instead.
    let again = hear(&mut m, &c, 11 * MIN, distress(senders[0], "ayuda", None));
    assert!(queued(&again).is_empty(), "{:?}", again.effects);
    assert!(again
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Group { node, .. } if *node == senders[0])));
    assert_eq!(m.by_seq(1).unwrap().last_reply_at, Some(11 * MIN));

    // The next tick: one Spanish broadcast names every waiting sender (the repeat once).
    let flush = surge_tick(&mut m, &c, 11 * MIN + 30_000);
    let casts: Vec<&Message> = flush
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Queue(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(casts.len(), 1, "{:?}", flush.effects);
    let cast = casts[0];
    assert_eq!(
        (cast.dest, cast.class, cast.msg),
        (mesh::BROADCAST, CLASS_P3, Some(Msg::GroupAck))
    );
    assert!(cast.text.len() <= mesh::PAYLOAD_BUDGET);
    assert!(
        cast.text
            .starts_with("Faro: recibimos su SOS: Ana4, b2c1, ññññ, 0503, 0504, Ana4."),
        "{}",
        cast.text
    );
    assert!(m.grouped.iter().all(|(_, sent)| sent.is_some()));
    // Only the P1's reply waits (4 s, below half of 10 s) and every grouped sender was named:
    // the surge ends (from 10 s to 11.5 min, rounded up).
    let e = events(&flush);
    assert!(
        e.iter()
            .any(|w| w.starts_with("surge over after 12 min: 6 senders acknowledged")),
        "{e:?}"
    );
    assert!(m.surges[0].2.is_some());
    // Over: P3 acknowledgements are direct again.
    let after = hear(&mut m, &c, 30 * MIN, distress(senders[1], "ayuda", None));
    assert_eq!(queued(&after), vec![(senders[1], Some(Msg::DistressAck))]);
}

#[test]
fn a_long_group_goes_out_over_several_ticks_in_each_language() {
    let c = cfg_surge();
    let mut m = Model::default();
    // Three waiting P2 replies start the surge (the estimate counts every reply class).
    for i in 0..3 {
        hear(
            &mut m,
            &c,
            i,
            distress(0x5a5a_0600 + i as u32, "ayuda", None),
        );
    }
    surge_tick(&mut m, &c, 1_000);
    assert_eq!(m.surges.len(), 1);
    // Forty senders wait: 30 in Spanish with 8-byte names, 10 in English.
    for i in 0..40u32 {
        let lang = if i < 30 { Lang::Es } else { Lang::En };
        m.grouped.push((
            GroupedAck {
                id: m.grouped.len() as i64 + 1,
                node: 0x5a5a_0700 + i,
                incident: None,
                language: lang,
                short_name: format!("name{i:04}"),
            },
            None,
        ));
    }
    let first = surge_tick(&mut m, &c, 31_000);
    let casts: Vec<&Message> = first
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Queue(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(casts.len(), 2, "one per language");
    assert!(casts.iter().all(|m| m.text.len() <= mesh::PAYLOAD_BUDGET));
    assert!(casts[0]
        .text
        .starts_with("Faro: recibimos su SOS: name0000, name0001"));
    assert!(casts[1].text.starts_with("Faro heard your SOS: name0030"));
    let waiting = m.grouped.iter().filter(|(_, s)| s.is_none()).count();
    assert!(waiting > 0 && waiting < 30, "{waiting}");
    // Senders still waiting keep the surge on, whatever the estimate.
    for r in &mut m.outbox {
        r.state = "acked";
    }
    assert!(events(&first).is_empty());
    let mut at = 61_000;
    while m.grouped.iter().any(|(_, s)| s.is_none()) {
        let d = surge_tick(&mut m, &c, at);
        assert!(m.surges[0].2.is_none() || !m.grouped.iter().any(|(_, s)| s.is_none()));
        at += 30_000;
        assert!(at < 10 * MIN, "{:?}", d.effects);
    }
    assert!(
        m.surges[0].2.is_some(),
        "it ends once every sender was named"
    );
}

#[test]
fn with_the_default_settings_a_busy_hour_is_no_surge() {
    let c = cfg();
    let mut m = Model::default();
    for i in 0..40 {
        hear(
            &mut m,
            &c,
            i * 1000,
            distress(0x5a5a_0800 + i as u32, "ayuda", None),
        );
    }
    // 40 replies x 4 s = 160 s: under 3 min.
    let d = surge_tick(&mut m, &c, 60_000);
    assert!(d.effects.is_empty(), "{:?}", d.effects);
    assert!(m.surges.is_empty());
}

#[test]
fn grouping_from_p2_groups_bare_sos_acknowledgements_and_never_a_p1() {
    let mut c = cfg_surge();
    c.surge.group_from = 2;
    let mut m = Model::default();
    // Four bare calls for help (P2 by triage) start the surge.
    for i in 0..4u32 {
        hear(
            &mut m,
            &c,
            i64::from(i),
            distress(0x5a5a_0800 + i, "ayuda", None),
        );
    }
    assert!(m.outbox.iter().all(|r| r.m.class == CLASS_P2));
    surge_tick(&mut m, &c, 1_000);
    assert_eq!(m.surges.len(), 1);
    assert!(m.outbox.iter().all(|r| r.state == "dropped"));
    assert_eq!(m.grouped.len(), 4);
    // A new P2 joins the group; a P1 is still answered directly.
    let p2 = hear(&mut m, &c, 2_000, distress(0x5a5a_0810, "ayuda", None));
    assert!(queued(&p2).is_empty(), "{:?}", p2.effects);
    let p1 = hear(
        &mut m,
        &c,
        3_000,
        distress(PHONE, "AUXILIO somos 3, una niña", None),
    );
    assert_eq!(queued(&p1), vec![(PHONE, Some(Msg::DistressAck))]);
    // With the default (from P3), the same P2 would have had its own reply.
    let d = cfg_surge();
    assert_eq!(d.surge.group_class(), CLASS_P3);
    assert_eq!(c.surge.group_class(), CLASS_P2);
}

#[test]
fn scheduled_broadcasts_go_once_per_period_in_each_language_and_pause_in_a_surge() {
    let mut c = cfg_surge();
    c.broadcasts = vec![Broadcast {
        name: "calor".into(),
        every: Duration::from_secs(6 * 3600),
        texts: vec![
            (Lang::Es, "Faro: calor extremo hoy. Beba agua.".into()),
            (Lang::En, "Faro: extreme heat today. Drink water.".into()),
        ],
    }];
    let casts = |d: &Decision| -> Vec<(u32, u8, String)> {
        d.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Queue(m) if m.msg == Some(Msg::Scheduled) => {
                    Some((m.dest, m.class, m.text.clone()))
                }
                _ => None,
            })
            .collect()
    };
    let mut m = Model::default();
    let first = surge_tick(&mut m, &c, 1_000);
    assert_eq!(
        casts(&first),
        vec![
            (
                mesh::BROADCAST,
                CLASS_BROADCAST,
                "Faro: calor extremo hoy. Beba agua.".to_string()
            ),
            (
                mesh::BROADCAST,
                CLASS_BROADCAST,
                "Faro: extreme heat today. Drink water.".to_string()
            ),
        ]
    );
    assert!(events(&first).contains(&"scheduled broadcast \"calor\" (es)"));
    // Not again within the period.
    assert!(casts(&surge_tick(&mut m, &c, 3 * 3600 * 1000)).is_empty());
    // A surge starts before the next period: the broadcast waits until it is over.
    for i in 0..3u32 {
        hear(
            &mut m,
            &c,
            6 * 3600 * 1000 + i64::from(i),
            distress(0x5a5a_0900 + i, "ayuda", None),
        );
    }
    let during = surge_tick(&mut m, &c, 6 * 3600 * 1000 + 5_000);
    assert_eq!(m.surges.len(), 1);
    assert!(casts(&during).is_empty());
    for r in &mut m.outbox {
        r.state = "acked";
    }
    let after = surge_tick(&mut m, &c, 6 * 3600 * 1000 + 35_000);
    assert!(m.surges[0].2.is_some(), "the surge ended");
    assert_eq!(casts(&after).len(), 2);
}
