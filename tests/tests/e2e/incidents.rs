//! The incident queue end to end: farod's station (links, intake, store, outbox) against the
//! simulated mesh over duplex streams under paused time, with a real SQLite file.

use std::time::Duration;

use faro_proto::mesh::BROADCAST;
use faro_sim::{Action, Sim};
use faro_tests::desk::*;
use faro_tests::nodes::*;
use faro_tests::*;
use farod::radio::Transport;
use farod::station::Station;
use farod::store::query::{Filter, Reader};
use farod::store::OperatorRequest;

const MINUTE: Duration = Duration::from_secs(60);

/// A second station radio on the mast next to the station (its own node, its own serial).
const SAS_MAST: u32 = 0x5a5a_0002;

/// The quiet built-in scenario with a second station radio beside the first.
fn two_radio_sim() -> Sim {
    let mut scenario = quiet_scenario();
    let mut mast = scenario.node(SAS).unwrap().clone();
    mast.id = SAS_MAST;
    mast.long_name = "Grupo Beta Sásabe (mástil)".into();
    mast.short_name = "SASM".into();
    mast.lat += 0.002;
    mast.replies.clear();
    scenario.nodes.push(mast);
    Sim::start(
        scenario,
        faro_sim::SimOptions {
            seed: Some(7),
            ..Default::default()
        },
    )
}

#[tokio::test(start_paused = true)]
async fn tower_panic_button_two_hops_away_opens_one_incident_and_the_tower_gets_the_reply() {
    init_logging();
    let sim = quiet_sim();
    let mut sim_events = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(Action::Detection {
        from: T7,
        name: "Botón de pánico T7".into(),
        bell: true,
    })
    .await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    let inc = show(&d, "SAS-1");
    let tower = sim.scenario().node(T7).unwrap();
    assert_eq!(
        (inc.source.as_str(), inc.priority, inc.state.as_str()),
        ("detection", 2, "new")
    );
    assert_eq!((inc.lat, inc.lon), (Some(tower.lat), Some(tower.lon)));
    assert_eq!(inc.position_source.as_deref(), Some("tower"));
    assert_eq!(inc.reporter.as_deref(), Some("!5a5a0201"));
    assert_eq!(inc.language, "es");
    let reply = received(&mut sim_events, T7, "Faro SAS-1").await;
    assert!(reply.contains("escuchó"), "{reply}");
    assert!(reply.len() <= 200);
    until(&d, 5 * MINUTE, "the reply acknowledged", |d| {
        show(d, "SAS-1")
            .events
            .unwrap()
            .iter()
            .any(|e| e.what.contains("delivered (ack)"))
    })
    .await;
    assert_eq!(incidents(&d).len(), 1);
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_same_sos_heard_on_two_radios_is_one_incident_and_a_repeat_updates_it() {
    init_logging();
    let sim = two_radio_sim();
    let d = station(&sim, 2, tempfile::tempdir().unwrap()).await;
    let mut heard = d.station.radio_events();
    sim.act(text(T7, BROADCAST, "\u{7}SOS")).await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    tokio::time::sleep(MINUTE).await;
    // Both radios heard the tower's packet...
    let mut radios = std::collections::BTreeSet::new();
    while let Ok(ev) = heard.try_recv() {
        if let farod::radio::RadioEventKind::Packet(p) = &ev.kind {
            if p.from == T7 {
                radios.insert(ev.radio.to_string());
            }
        }
    }
    assert_eq!(radios.len(), 2, "both radios heard the SOS: {radios:?}");
    // ...and it is one signal.
    let inc = show(&d, "SAS-1");
    assert_eq!(
        inc.heard_count, 1,
        "both radios heard the same packet: one signal"
    );
    // The tower sends SOS again (a new packet) ten minutes later: the incident is updated.
    tokio::time::sleep(10 * MINUTE).await;
    sim.act(text(T7, BROADCAST, "\u{7}SOS")).await;
    until(&d, 2 * MINUTE, "heard twice", |d| {
        show(d, "SAS-1").heard_count == 2
    })
    .await;
    assert_eq!(incidents(&d).len(), 1, "a repeat updates, never duplicates");
    let events = show(&d, "SAS-1").events.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.what.starts_with("opened"))
            .count(),
        1
    );
    assert!(events
        .iter()
        .any(|e| e.what.starts_with("distress heard again (2 times")));
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_patrol_drives_an_incident_from_assigned_to_closed_by_text() {
    init_logging();
    let sim = quiet_sim();
    let mut sim_events = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    let cel1 = sim.scenario().node_by_name("CEL1").unwrap().id;
    sim.act(text(cel1, BROADCAST, "AUXILIO somos 3, una niña, sin agua"))
        .await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    let inc = show(&d, "SAS-1");
    assert_eq!(
        (inc.priority, inc.kind.as_str(), inc.people),
        (1, "heat", Some(3))
    );
    assert_eq!(
        inc.flags,
        vec!["children".to_string(), "dehydration".to_string()]
    );
    assign(&d, "SAS-1", "P1").await;
    d.station.wake_outbox();
    received(&mut sim_events, P1, "Faro SAS-1").await;
    for (cmd, state) in [
        ("ACK SAS-1", "assigned"),
        ("RUTA SAS-1", "en_route"),
        ("llegué sas-1", "on_scene"),
        ("CERRAR SAS-1 rescatado", "closed"),
    ] {
        sim.act(text(P1, SAS, cmd)).await;
        until(&d, 2 * MINUTE, cmd, |d| show(d, "SAS-1").state == state).await;
        let confirmation = received(&mut sim_events, P1, "Faro SAS-1").await;
        assert!(confirmation.len() <= 200, "{confirmation}");
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let inc = show(&d, "SAS-1");
    assert_eq!(inc.outcome.as_deref(), Some("rescued"));
    let whats: Vec<String> = inc
        .events
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.who, e.what))
        .collect();
    for want in [
        "operator:ana assigned to P1",
        "patrol:P1 P1 en route",
        "patrol:P1 P1 on scene",
        "patrol:P1 closed: rescued",
    ] {
        assert!(
            whats.iter().any(|w| w == want),
            "{want:?} not in {whats:#?}"
        );
    }
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_patrols_free_text_is_a_note_on_its_incident_not_a_new_incident() {
    init_logging();
    let sim = quiet_sim();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    let cel1 = sim.scenario().node_by_name("CEL1").unwrap().id;
    sim.act(text(cel1, BROADCAST, "AUXILIO")).await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    assert_eq!(show(&d, "SAS-1").people, None);
    assign(&d, "SAS-1", "P1").await;
    let note = "Llegamos, 2 personas, una con insolacion";
    sim.act(text(P1, SAS, note)).await;
    until(&d, 2 * MINUTE, "the note read", |d| {
        show(d, "SAS-1").people == Some(2)
    })
    .await;
    let inc = show(&d, "SAS-1");
    // The note is in the incident's conversation, from the patrol's node.
    let messages = inc.messages.unwrap();
    let heard = messages
        .iter()
        .find(|m| m.text == note)
        .unwrap_or_else(|| panic!("the note is not in {messages:#?}"));
    assert_eq!(
        (heard.direction.as_str(), heard.node.as_str()),
        ("in", "!5a5a0101")
    );
    assert_eq!(heard.understood.as_deref(), Some("patrol note"));
    // The audit trail says a note came and what it raised, never the note itself.
    let whats: Vec<String> = inc.events.unwrap().into_iter().map(|e| e.what).collect();
    let sent = format!("patrol P1 sent a note ({} bytes)", note.len());
    assert!(whats.contains(&sent), "{whats:#?}");
    assert!(
        whats
            .iter()
            .any(|w| w.starts_with("follow-up:") && w.contains("2 people")),
        "{whats:#?}"
    );
    assert!(!whats.iter().any(|w| w.contains("Llegamos")), "{whats:#?}");
    // No incident of its own for the patrol.
    tokio::time::sleep(MINUTE).await;
    assert_eq!(incidents(&d).len(), 1);
    // The team shows its last note.
    let teams = farod::app::scenario_station_config(sim.scenario(), "unused".into())
        .store
        .teams;
    let p1 = reader(&d)
        .teams(&teams, None)
        .unwrap()
        .into_iter()
        .find(|t| t.name == "P1")
        .unwrap();
    assert_eq!(p1.last_note.map(|n| n.text).as_deref(), Some(note));
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn commands_from_an_unregistered_node_are_refused_and_recorded() {
    init_logging();
    let sim = quiet_sim();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    let cel1 = sim.scenario().node_by_name("CEL1").unwrap().id;
    sim.act(text(T7, BROADCAST, "\u{7}SOS")).await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    sim.act(text(cel1, SAS, "CERRAR SAS-1 falsa")).await;
    let r = Reader::open(d.station.store.path()).unwrap();
    until(&d, 2 * MINUTE, "the refusal recorded", |_| {
        r.events(None, 0, 1000)
            .unwrap()
            .iter()
            .any(|e| e.what == "command from unregistered node !5a5a0301 refused")
    })
    .await;
    assert_eq!(show(&d, "SAS-1").state, "new", "nothing changed");
    // A patrol naming an incident that does not exist gets told so.
    sim.act(text(P1, SAS, "RUTA SAS-99")).await;
    until(&d, 2 * MINUTE, "unknown incident recorded", |_| {
        r.events(None, 0, 1000)
            .unwrap()
            .iter()
            .any(|e| e.what == "command names unknown incident SAS-99")
    })
    .await;
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn after_a_crash_every_incident_survives_and_the_outbox_is_sent() {
    init_logging();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("faro.db");
    let sim = quiet_sim();
    let mut sim_events = sim.events();
    // First life: the SOS is committed; the station dies before it can answer (no radio to
    // send with: the link is cut right after the commit).
    {
        let cfg = farod::app::scenario_station_config(sim.scenario(), db.clone());
        let store_cfg = cfg.store.clone();
        let (store, thread) = farod::store::Store::open(&db, store_cfg).unwrap();
        let icfg_sig = farod::ingest::Signal::Distress(farod::ingest::Distress {
            node: T7,
            packet_id: 4242,
            kind: farod::ingest::DistressKind::Text,
            language: farod::lang::Lang::Es,
            text: "\u{7}SOS".into(),
            position: None,
            channel: 0,
        });
        let rx = farod::store::Rx {
            radio: "r0".into(),
            from: T7,
            packet_id: 4242,
            hops: Some(2),
            channel: 0,
            snr: None,
            text: Some("\u{7}SOS".into()),
            auth: Default::default(),
        };
        let o = store.ingest(rx, icfg_sig, 1_000).await.unwrap();
        assert_eq!(o.incident, Some(("SAS-1".to_string(), true)));
        assert_eq!(o.queued, 1);
        drop(store);
        thread.join().unwrap();
    }
    // Second life: the incident and its events are there, and the reply still goes out.
    let d = Desk {
        station: Station::start(
            farod::app::scenario_station_config(sim.scenario(), db.clone()),
            vec![(
                test_link_config("r0"),
                Transport::sim(sim.clone(), None).unwrap(),
            )],
        )
        .await
        .unwrap(),
        dir,
    };
    let inc = show(&d, "SAS-1");
    assert!(inc.events.unwrap()[0].what.starts_with("opened"));
    let reply = received(&mut sim_events, T7, "Faro SAS-1").await;
    assert!(reply.contains("escuchó"), "{reply}");
    // A crash mid-flight loses nothing committed either.
    sim.act(text(P2, BROADCAST, "AYUDA, herido en el km 20"))
        .await;
    until(&d, 2 * MINUTE, "a second incident", |d| {
        incidents(d).len() == 2
    })
    .await;
    let before = incidents(&d);
    let path = d.station.store.path().to_path_buf();
    d.station.crash();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = Reader::open(&path).unwrap();
    let after = r.incidents(Filter::All, 100).unwrap();
    assert_eq!(before, after);
}

#[tokio::test(start_paused = true)]
async fn the_assigned_patrol_receives_what_and_where_and_then_a_new_position() {
    init_logging();
    let sim = quiet_sim();
    let mut sim_events = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    let cel1 = sim.scenario().node_by_name("CEL1").unwrap().id;
    sim.act(text(cel1, BROADCAST, "AUXILIO somos 3, una niña, sin agua"))
        .await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    let store = &d.station.store;
    if show(&d, "SAS-1").lat.is_none() {
        let at = d.station.clock.now_ms();
        let set = OperatorRequest::Position("SAS-1".into(), 31.4746, -111.5449);
        store.operator("ana", set, at).await.unwrap();
    }
    let inc = show(&d, "SAS-1");
    let (lat, lon) = (inc.lat.unwrap(), inc.lon.unwrap());
    let at = d.station.clock.now_ms();
    let assign = OperatorRequest::Assign("SAS-1".into(), "P1".into());
    store.operator("ana", assign, at).await.unwrap();
    d.station.wake_outbox();
    // What P1's radio shows: the emergency, how many, where, and who called, in Spanish.
    let dispatch = received(&mut sim_events, P1, "Faro SAS-1").await;
    assert!(
        dispatch.starts_with("Faro SAS-1 P1 calor, 3 pers., niños/deshidratación: "),
        "{dispatch}"
    );
    assert!(
        dispatch.contains(&format!("{lat:.5},{lon:.5}")),
        "{dispatch}"
    );
    assert!(
        dispatch.ends_with(&format!(", aviso tel {}", faro_proto::mesh::NodeId(cel1))),
        "{dispatch}"
    );
    assert!(dispatch.len() <= 200, "{dispatch}");
    // The desk moves the incident: the patrol hears it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let at = d.station.clock.now_ms();
    let moved = OperatorRequest::Position("SAS-1".into(), 31.5, -111.6);
    store.operator("ana", moved, at).await.unwrap();
    d.station.wake_outbox();
    let update = received(&mut sim_events, P1, "Faro SAS-1 cambio").await;
    assert!(
        update.contains("P1 calor, 3 pers.: 31.50000,-111.60000"),
        "{update}"
    );
    d.station.stop().await;
}
