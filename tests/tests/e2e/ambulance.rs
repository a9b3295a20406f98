//! Ambulance coordination end to end, under paused time: scripted municipality nodes accept,
//! decline, never answer, or are out of radio range; farod escalates, and the request and its
//! deadline survive a crash of farod mid-wait.

use std::time::Duration;

use faro_proto::mesh::BROADCAST;
use faro_sim::{ReplyRule, Scenario, Sim};
use faro_tests::desk::*;
use faro_tests::nodes::*;
use faro_tests::*;
use farod::radio::Transport;
use farod::station::Station;
use farod::store::OperatorRequest;

const MINUTE: Duration = Duration::from_secs(60);
/// Protección Civil Sáric (44 km from the station; 2 relays).
const SAR: u32 = 0x5a5a_0401;
/// Protección Civil Altar (89 km; 3 relays).
const ALT: u32 = 0x5a5a_0402;

/// The quiet scenario with the municipalities' answers replaced (each 30 s after the request).
fn scenario_with(sar: Option<&str>, alt: Option<&str>) -> Scenario {
    scenario_answering(sar, Duration::from_secs(30), alt)
}

/// The same, with Sáric answering after `sar_after`.
fn scenario_answering(sar: Option<&str>, sar_after: Duration, alt: Option<&str>) -> Scenario {
    let mut s = quiet_scenario();
    for (node, text, after) in [(SAR, sar, sar_after), (ALT, alt, Duration::from_secs(30))] {
        let n = s.nodes.iter_mut().find(|n| n.id == node).unwrap();
        n.replies = vec![ReplyRule {
            contains: "AMBULANCIA".into(),
            text: text.map(str::to_string),
            after,
        }];
    }
    s
}

/// Opens SAS-1 from the tower's SOS (position: the tower) and asks for an ambulance.
async fn request(d: &Desk, sim: &Sim) {
    sim.act(text(T7, BROADCAST, "\u{7}SOS")).await;
    until(d, 2 * MINUTE, "the incident", |d| !incidents(d).is_empty()).await;
    assign(d, "SAS-1", "P1").await;
    d.station
        .store
        .operator(
            "ana",
            OperatorRequest::Ambulance("SAS-1".into(), None),
            d.station.clock.now_ms(),
        )
        .await
        .unwrap();
    d.station.wake_outbox();
}

/// The municipalities asked for SAS-1 and where each attempt ended, in escalation order.
fn attempts(d: &Desk) -> Vec<(String, String)> {
    reader(d)
        .ambulance("SAS-1")
        .unwrap()
        .into_iter()
        .map(|r| (r.municipality, r.state))
        .collect()
}

fn ambulance_events(d: &Desk) -> Vec<String> {
    show(d, "SAS-1")
        .events
        .unwrap()
        .into_iter()
        .map(|e| e.what)
        .filter(|w| w.starts_with("ambulance"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_nearest_municipality_accepts_with_an_eta_and_the_patrol_is_told() {
    init_logging();
    let sim = sim_of(scenario_with(Some("OK {id} 25"), Some("OK {id} 40")));
    let mut mesh = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    request(&d, &sim).await;
    let asked = received(&mut mesh, SAR, "FARO SAS-1").await;
    assert!(
        asked.contains("AMBULANCIA") && asked.contains("OK SAS-1"),
        "{asked}"
    );
    assert!(asked.len() <= 200);
    until(&d, 5 * MINUTE, "accepted", |d| {
        ambulance_events(d)
            .iter()
            .any(|e| e.contains("accepted by Sáric"))
    })
    .await;
    let ev = ambulance_events(&d);
    assert!(
        ev.iter()
            .any(|e| e == "ambulance accepted by Sáric, ETA 25 min"),
        "{ev:#?}"
    );
    let told = received(&mut mesh, P1, "Faro SAS-1: ambulancia de Sáric").await;
    assert!(told.contains("25"), "{told}");
    let rows = reader(&d).ambulance("SAS-1").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].municipality.as_str(),
            rows[0].state.as_str(),
            rows[0].eta_minutes
        ),
        ("Sáric", "accepted", Some(25))
    );
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_decline_sends_the_request_to_the_next_nearest() {
    init_logging();
    let sim = sim_of(scenario_with(
        Some("NO {id} sin unidades"),
        Some("OK {id} 40"),
    ));
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    request(&d, &sim).await;
    until(&d, 10 * MINUTE, "accepted by Altar", |d| {
        ambulance_events(d)
            .iter()
            .any(|e| e.contains("accepted by Altar"))
    })
    .await;
    assert_eq!(
        attempts(&d),
        vec![
            ("Sáric".into(), "declined".into()),
            ("Altar".into(), "accepted".into())
        ]
    );
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn silence_until_the_deadline_escalates_after_one_reminder() {
    init_logging();
    let sim = sim_of(scenario_with(None, Some("OK {id} 40")));
    let mut mesh = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    request(&d, &sim).await;
    let t0 = tokio::time::Instant::now();
    received(&mut mesh, SAR, "FARO SAS-1 AMBULANCIA").await;
    let reminder = received(&mut mesh, SAR, "FARO SAS-1").await;
    assert!(
        !reminder.contains("AMBULANCIA P"),
        "the second message is the reminder: {reminder}"
    );
    until(&d, 15 * MINUTE, "accepted by Altar", |d| {
        ambulance_events(d)
            .iter()
            .any(|e| e.contains("accepted by Altar"))
    })
    .await;
    assert!(
        t0.elapsed() >= Duration::from_secs(300),
        "escalated only after the deadline: {:?}",
        t0.elapsed()
    );
    let ev = ambulance_events(&d);
    assert!(
        ev.iter()
            .any(|e| e == "ambulance: Sáric did not answer in time"),
        "{ev:#?}"
    );
    assert_eq!(
        ev.iter()
            .filter(|e| e.starts_with("ambulance: reminder sent to Sáric"))
            .count(),
        1,
        "{ev:#?}"
    );
    d.station.stop().await;
}

/// A station with nobody in radio range (so nobody relays and the radio NAKs), Sáric far away,
/// and (in the test) Altar with only a phone.
const OUT_OF_RANGE: &str = r#"
name = "out of range"
[[node]]
id = "!5a5a0001"
long_name = "Grupo Beta Sásabe"
short_name = "SAS"
role = "station"
position = { lat = 31.47463, lon = -111.54485 }
[[node]]
id = "!5a5a0401"
long_name = "Protección Civil Sáric"
short_name = "SAR"
role = "municipality"
position = { lat = 31.10566, lon = -111.37556 }
"#;

#[tokio::test(start_paused = true)]
async fn an_unreachable_municipality_is_naked_and_the_next_one_is_called_by_phone() {
    init_logging();
    let scenario = Scenario::from_toml_str(OUT_OF_RANGE).unwrap();
    let sim = sim_of(scenario);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = farod::app::scenario_station_config(sim.scenario(), dir.path().join("faro.db"));
    cfg.store
        .municipalities
        .push(farod::dispatch::Municipality {
            name: "Altar".into(),
            state: "Sonora".into(),
            lat: 30.71365,
            lon: -111.83505,
            nodes: vec![],
            phones: vec!["+52 637 374 0000".into()],
            languages: vec![farod::lang::Lang::Es],
            keys: Vec::new(),
            pki: true,
        });
    let station = Station::start(
        cfg,
        vec![(
            test_link_config("r0"),
            Transport::sim(sim.clone(), None).unwrap(),
        )],
    )
    .await
    .unwrap();
    let d = Desk { station, dir };
    tokio::time::sleep(Duration::from_secs(5)).await;
    // A phone call to the station: someone hurt near Sásabe.
    let report = farod::store::ManualReport {
        lat: Some(31.44),
        lon: Some(-111.60),
        kind: Some("medical".into()),
        people: Some(1),
        ..Default::default()
    };
    let at = d.station.clock.now_ms();
    d.station
        .store
        .operator("ana", OperatorRequest::Report(report), at)
        .await
        .unwrap();
    let at = d.station.clock.now_ms();
    d.station
        .store
        .operator("ana", OperatorRequest::Ambulance("SAS-1".into(), None), at)
        .await
        .unwrap();
    d.station.wake_outbox();
    until(&d, 15 * MINUTE, "escalated to a phone call", |d| {
        ambulance_events(d)
            .iter()
            .any(|e| e.starts_with("ambulance: Altar (") && e.contains("call +52 637 374 0000"))
    })
    .await;
    let ev = ambulance_events(&d);
    assert!(
        ev.iter()
            .any(|e| e == "ambulance: Sáric could not be reached by radio"),
        "{ev:#?}"
    );
    // The operator calls and records the answer.
    let at = d.station.clock.now_ms();
    d.station
        .store
        .operator(
            "ana",
            OperatorRequest::AmbulanceRecord("SAS-1".into(), true, Some(50)),
            at,
        )
        .await
        .unwrap();
    assert_eq!(
        attempts(&d),
        vec![
            ("Sáric".into(), "undeliverable".into()),
            ("Altar".into(), "accepted".into())
        ]
    );
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_request_and_its_deadline_survive_a_crash_mid_wait() {
    init_logging();
    let sim = sim_of(scenario_with(None, Some("OK {id} 40")));
    let mut mesh = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    request(&d, &sim).await;
    received(&mut mesh, SAR, "FARO SAS-1 AMBULANCIA").await;
    let d = crash_and_restart(d, &sim, MINUTE).await;
    until(&d, 15 * MINUTE, "accepted by Altar", |d| {
        ambulance_events(d)
            .iter()
            .any(|e| e.contains("accepted by Altar"))
    })
    .await;
    let ev = ambulance_events(&d);
    assert_eq!(
        ev.iter()
            .filter(|e| e.starts_with("ambulance requested from Sáric"))
            .count(),
        1,
        "{ev:#?}"
    );
    assert!(
        ev.iter()
            .any(|e| e == "ambulance: Sáric did not answer in time"),
        "{ev:#?}"
    );
    let told = received(&mut mesh, P1, "Faro SAS-1: ambulancia de Altar").await;
    assert!(told.contains("40"));
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn answers_from_others_or_for_other_incidents_are_refused() {
    init_logging();
    let sim = sim_of(scenario_with(None, None));
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    request(&d, &sim).await;
    // Once the station's own messages (the request, the patrol's and the reporter's notices)
    // are on air: a half-duplex radio hears nothing while it transmits.
    tokio::time::sleep(MINUTE).await;
    // Sáric names an incident that does not exist.
    sim.act(text(SAR, SAS, "OK SAS-77 10")).await;
    tokio::time::sleep(MINUTE).await;
    // Altar was not asked: its "OK" is refused and recorded; a stranger's is not even a reply.
    sim.act(text(ALT, SAS, "OK SAS-1 10")).await;
    sim.act(text(P2, SAS, "OK SAS-1 10")).await;
    until(&d, 3 * MINUTE, "the refusals recorded", |d| {
        let r = reader(d);
        let all: Vec<String> = r
            .events(None, 0, 1000)
            .unwrap()
            .into_iter()
            .map(|e| e.what)
            .collect();
        all.iter()
            .any(|w| w == "answer from Altar refused: it was not asked for SAS-1")
            && all
                .iter()
                .any(|w| w == "answer from Sáric names SAS-77, which is unknown or closed")
    })
    .await;
    let rows = reader(&d).ambulance("SAS-1").unwrap();
    assert_ne!(rows[0].state, "accepted");
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_comes_while_farod_restarts_is_taken() {
    init_logging();
    // Sáric answers two and a half minutes after it got the request; farod is down for one
    // of those minutes.
    let sim = sim_of(scenario_answering(
        Some("OK {id} 35"),
        Duration::from_secs(150),
        Some("OK {id} 40"),
    ));
    let mut mesh = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    request(&d, &sim).await;
    received(&mut mesh, SAR, "FARO SAS-1 AMBULANCIA").await;
    let d = crash_and_restart(d, &sim, MINUTE).await;
    until(&d, 5 * MINUTE, "accepted by Sáric", |d| {
        ambulance_events(d)
            .iter()
            .any(|e| e == "ambulance accepted by Sáric, ETA 35 min")
    })
    .await;
    let rows = reader(&d).ambulance("SAS-1").unwrap();
    assert_eq!(rows.len(), 1, "nobody else was asked");
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_ambulance_request_goes_on_air_before_forty_queued_replies() {
    use farod::ingest::{Distress, DistressKind, Signal};
    init_logging();
    let sim = sim_of(scenario_with(None, None));
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(text(T7, BROADCAST, "\u{7}SOS")).await;
    until(&d, 2 * MINUTE, "the incident", |d| !incidents(d).is_empty()).await;
    // Forty people in distress out of the sim's range: forty replies wait in the outbox.
    let at = d.station.clock.now_ms();
    for i in 0..40u32 {
        let node = 0x7000_0000 + i;
        let rx = farod::store::Rx {
            radio: "r0".into(),
            from: node,
            packet_id: 1,
            text: Some("AUXILIO".into()),
            ..Default::default()
        };
        let s = Signal::Distress(Distress {
            node,
            packet_id: 1,
            kind: DistressKind::Text,
            language: farod::lang::Lang::Es,
            text: "AUXILIO".into(),
            position: None,
            channel: 0,
        });
        d.station.store.ingest(rx, s, at).await.unwrap();
    }
    d.station.wake_outbox();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut written = sim.events();
    d.station
        .store
        .operator(
            "ana",
            OperatorRequest::Ambulance("SAS-1".into(), None),
            d.station.clock.now_ms(),
        )
        .await
        .unwrap();
    d.station.wake_outbox();
    // The next text the station writes to its radio is the request.
    let next = tokio::time::timeout(MINUTE, async {
        loop {
            if let Ok(faro_sim::SimEvent::ClientSent { msg, .. }) = written.recv().await {
                let Some(faro_proto::mesh::to_radio::PayloadVariant::Packet(p)) =
                    msg.payload_variant
                else {
                    continue;
                };
                if let Some(d) = faro_proto::mesh::data(&p) {
                    if d.portnum == faro_proto::mesh::PortNum::TextMessageApp as i32 {
                        return String::from_utf8_lossy(&d.payload).into_owned();
                    }
                }
            }
        }
    })
    .await
    .expect("a text within a minute");
    assert!(next.starts_with("FARO SAS-1 AMBULANCIA"), "{next}");
    // And the replies were still waiting behind it.
    let waiting = reader(&d).counts().unwrap().outbox_pending;
    assert!(waiting > 20, "{waiting}");
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn closing_the_incident_calls_the_ambulance_off_over_the_mesh() {
    init_logging();
    // Sáric would answer OK only long after the close: it is told first.
    let sim = sim_of(scenario_answering(
        Some("OK {id} 25"),
        4 * MINUTE,
        Some("OK {id} 40"),
    ));
    let mut mesh = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    request(&d, &sim).await;
    received(&mut mesh, SAR, "FARO SAS-1").await;
    until(&d, 2 * MINUTE, "on air", |d| {
        attempts(d).first().is_some_and(|(_, s)| s != "pending")
    })
    .await;
    let at = d.station.clock.now_ms();
    d.station
        .store
        .operator(
            "ana",
            OperatorRequest::Close("SAS-1".into(), faro_proto::text::Outcome::Rescued, None),
            at,
        )
        .await
        .unwrap();
    d.station.wake_outbox();
    let told = received(&mut mesh, SAR, "FARO SAS-1: ambulancia ya no necesaria").await;
    assert!(told.len() <= 200);
    received(&mut mesh, P1, "Faro SAS-1: ambulancia de Sáric cancelada").await;
    assert_eq!(attempts(&d), vec![("Sáric".into(), "cancelled".into())]);
    // Its late yes is answered with the cancellation again; no ambulance is accepted.
    received(&mut mesh, SAR, "FARO SAS-1: ambulancia ya no necesaria").await;
    assert_eq!(attempts(&d), vec![("Sáric".into(), "cancelled".into())]);
    d.station.stop().await;
}

/// Every direct text the mesh's nodes receive, in order, as (node, text), followed by a task
/// until the sim stops. A lagging follower records `None` (its log is then incomplete).
type Heard = std::sync::Arc<std::sync::Mutex<Vec<Option<(u32, String)>>>>;

fn hear_all(sim: &Sim) -> Heard {
    let heard = Heard::default();
    let (log, mut events) = (heard.clone(), sim.events());
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(faro_sim::SimEvent::Received { node, packet }) if packet.to == node => {
                    if let Some(d) = faro_proto::mesh::data(&packet) {
                        let t = String::from_utf8_lossy(&d.payload).into_owned();
                        log.lock().unwrap().push(Some((node, t)));
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    log.lock().unwrap().push(None);
                }
                Err(_) => return,
            }
        }
    });
    heard
}

/// What `node` received, in order.
fn heard_by(heard: &Heard, node: u32) -> Vec<String> {
    let log = heard.lock().unwrap();
    assert!(log.iter().all(Option::is_some), "the mesh log lagged");
    log.iter()
        .flatten()
        .filter(|(n, _)| *n == node)
        .map(|(_, t)| t.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_second_ok_while_another_acceptance_stands_is_answered_at_once_and_recorded() {
    init_logging();
    // Sáric answers its request (not the reminder, nor what it is told later) only eight
    // minutes after it: past its five-minute deadline, once Altar has accepted.
    let sar_after = 8 * MINUTE;
    let mut scenario = scenario_with(None, Some("OK {id} 40"));
    let n = scenario.nodes.iter_mut().find(|n| n.id == SAR).unwrap();
    n.replies = vec![ReplyRule {
        contains: "AMBULANCIA P".into(),
        text: Some("OK {id} 10".into()),
        after: sar_after,
    }];
    let sim = sim_of(scenario);
    let heard = hear_all(&sim);
    let mut mesh = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    request(&d, &sim).await;
    received(&mut mesh, SAR, "FARO SAS-1 AMBULANCIA").await;
    let asked = tokio::time::Instant::now();
    until(&d, 10 * MINUTE, "accepted by Altar", |d| {
        ambulance_events(d)
            .iter()
            .any(|e| e == "ambulance accepted by Altar, ETA 40 min")
    })
    .await;
    assert!(
        asked.elapsed() < sar_after,
        "Altar accepted before Sáric's yes: {:?}",
        asked.elapsed()
    );
    received(&mut mesh, P1, "Faro SAS-1: ambulancia de Altar").await;
    // Sáric's yes: told at once, over the mesh, that the ambulance is no longer needed.
    let told = received(&mut mesh, SAR, "FARO SAS-1: ambulancia ya no necesaria").await;
    assert_eq!(told, "FARO SAS-1: ambulancia ya no necesaria, gracias.");
    let late = asked.elapsed() - sar_after;
    assert!(late < MINUTE, "told {late:?} after its yes");
    until(&d, MINUTE, "the late yes recorded", |d| {
        ambulance_events(d).iter().any(|e| {
            e == "ambulance: Sáric answered OK but Altar's ambulance is already accepted: \
                  told it is no longer needed"
        })
    })
    .await;
    // Nothing else follows: one ambulance, Altar's, with its ETA.
    tokio::time::sleep(5 * MINUTE).await;
    assert_eq!(
        attempts(&d),
        vec![
            ("Sáric".into(), "timed_out".into()),
            ("Altar".into(), "accepted".into())
        ]
    );
    let rows = reader(&d).ambulance("SAS-1").unwrap();
    assert_eq!(rows[1].eta_minutes, Some(40));
    let ev = ambulance_events(&d);
    assert!(
        !ev.iter().any(|e| e.contains("accepted by Sáric")),
        "{ev:#?}"
    );
    assert!(!ev.iter().any(|e| e.contains("cancelled")), "{ev:#?}");
    let sar = heard_by(&heard, SAR);
    assert_eq!(
        sar.iter()
            .filter(|t| t.starts_with("FARO SAS-1: ambulancia ya no necesaria"))
            .count(),
        1,
        "{sar:#?}"
    );
    assert!(
        !sar.iter().any(|t| t.starts_with("FARO SAS-1: gracias")),
        "Sáric is not thanked as the ambulance: {sar:#?}"
    );
    let alt = heard_by(&heard, ALT);
    assert!(
        alt.iter()
            .any(|t| t.starts_with("FARO SAS-1: gracias, confirmado.")),
        "{alt:#?}"
    );
    assert!(!alt.iter().any(|t| t.contains("no necesaria")), "{alt:#?}");
    let p1 = heard_by(&heard, P1);
    assert_eq!(
        p1.last().map(String::as_str),
        Some("Faro SAS-1: ambulancia de Altar en camino, ETA 40 min"),
        "the patrol hears nothing of Sáric's yes: {p1:#?}"
    );
    d.station.stop().await;
}
