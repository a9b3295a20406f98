//! A location request for missing people, end to end: opened and tasked at the desk, the
//! search task reaches patrol P1's radio over the simulated mesh in its language (id, count,
//! date and place only), a forged report in P1's name changes nothing, P1's own direct message
//! `LOC-1 HALLADOS 2` records two found and is acknowledged, the operator closes the request
//! (the patrol is told) and records that the outcome was reported back; the audit trail shows
//! every step. Under paused time, on a real SQLite file.

use std::time::Duration;

use faro_sim::{Action, ForgeMode};
use faro_tests::desk::*;
use faro_tests::nodes::*;
use faro_tests::*;
use farod::casework::locate::{date_of, LocateView};
use farod::casework::LocateOutcome;
use farod::desk::LocateRequest;
use farod::store::OperatorRequest;

const MINUTE: Duration = Duration::from_secs(60);
/// Another radio in range, claiming to be P1.
const CEL1: u32 = 0x5a5a_0301;

fn request(d: &Desk) -> LocateView {
    reader(d).locate(1).unwrap().expect("LOC-1")
}

async fn operator(d: &Desk, req: OperatorRequest) -> String {
    let id = d
        .station
        .store
        .operator("ana", req, d.station.clock.now_ms())
        .await
        .unwrap();
    d.station.wake_outbox();
    id
}

#[tokio::test(start_paused = true)]
async fn a_patrol_searches_for_missing_people_and_reports_them_found() {
    init_logging();
    let sim = quiet_sim();
    let mut heard = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    let seen = date_of(d.station.clock.now_ms() - 2 * 86_400_000);
    let id = operator(
        &d,
        OperatorRequest::LocateOpen(LocateRequest {
            requester: "consulate".into(),
            people: 3,
            place: Some("Sasabe".into()),
            lat: Some(31.4833),
            lon: Some(-111.5333),
            radius_km: Some(12.0),
            last_seen: Some(seen.clone()),
        }),
    )
    .await;
    assert_eq!(id, "LOC-1");
    operator(&d, OperatorRequest::LocateTask(1, "P1".into())).await;
    assert_eq!(request(&d).state, "searching");

    // The task on P1's radio: id, count, date, place and radius; nothing else.
    let task = received(&mut heard, P1, "Faro BUSQUEDA LOC-1").await;
    let day_month = format!("{}/{}", &seen[8..10], &seen[5..7]);
    assert_eq!(
        task,
        format!(
            "Faro BUSQUEDA LOC-1: 3 pers., vistas {day_month} cerca de Sasabe (12 km). \
             Si las halla: LOC-1 HALLADOS <n>. Si no: LOC-1 NADA"
        )
    );

    // A report in P1's name from another radio (broadcast on the channel) changes nothing.
    sim.act(Action::Forge {
        by: CEL1,
        claimed_from: P1,
        to: SAS,
        channel: 0,
        text: "LOC-1 HALLADOS 3".into(),
        mode: ForgeMode::Broadcast,
    })
    .await;
    until(&d, 2 * MINUTE, "the forgery refused", |d| {
        reader(d).events(None, 0, 1000).unwrap().iter().any(|e| {
            e.what
                .starts_with("unverified message in the name of patrol P1")
        })
    })
    .await;
    assert_eq!(request(&d).found, 0, "a forged report counted");

    // P1's own radio, a direct message with its pinned key: two found.
    sim.act(text(P1, SAS, "LOC-1 HALLADOS 2")).await;
    until(&d, 2 * MINUTE, "two found", |d| request(d).found == 2).await;
    let ack = received(&mut heard, P1, "Faro LOC-1: 2 hallados").await;
    assert_eq!(ack, "Faro LOC-1: 2 hallados, registrado. Gracias");
    assert_eq!(request(&d).state, "searching", "a report never closes");

    // The operator knows how it ended: found alive. The patrol hears the search is over.
    operator(
        &d,
        OperatorRequest::LocateClose(1, LocateOutcome::FoundAlive, None),
    )
    .await;
    received(&mut heard, P1, "Faro LOC-1: búsqueda terminada").await;
    operator(&d, OperatorRequest::LocateReported(1, "phone".into())).await;

    let v = request(&d);
    assert_eq!(
        (v.state.as_str(), v.outcome.as_deref(), v.found),
        ("closed", Some("found_alive"), 2)
    );
    assert!(v.closed_at.is_some() && v.reported_at.is_some());
    let trail: Vec<(String, String)> = v
        .events
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.who, e.what))
        .collect();
    let whats: Vec<&str> = trail.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(whats.len(), 5, "{whats:#?}");
    assert!(
        whats[0].starts_with("location request LOC-1 opened: 3 people sought"),
        "{whats:?}"
    );
    assert!(
        whats[1].starts_with("LOC-1: search task given to patrol P1"),
        "{whats:?}"
    );
    assert_eq!(whats[2], "LOC-1: patrol P1 reports 2 found");
    assert_eq!(whats[3], "LOC-1 closed: found_alive, 2 of 3 found");
    assert_eq!(
        whats[4],
        "LOC-1: outcome reported back to the requester by phone"
    );
    assert_eq!(trail[2].0, "patrol:P1");
    assert_eq!(trail[3].0, "operator:ana");
    d.station.stop().await;
}
