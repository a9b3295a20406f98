//! Trust on the air, end to end: an attacker's radio in range claims patrol P1 and Sáric's
//! dispatcher, with every forgery the simulated firmware allows; nothing changes, the desk sees
//! each refused attempt, and the real patrol's own direct message does change the incident.
//! Under paused time, on a real SQLite file.

use std::time::Duration;

use faro_proto::mesh::BROADCAST;
use faro_sim::{Action, ForgeMode, Scenario, Sim};
use faro_tests::desk::*;
use faro_tests::nodes::*;
use faro_tests::*;
use farod::store::OperatorRequest;

const MINUTE: Duration = Duration::from_secs(60);
/// "Celular Migrante": the attacker's radio here (any radio in range would do).
const CEL1: u32 = 0x5a5a_0301;
/// A phone in distress.
const CEL2: u32 = 0x5a5a_0302;
/// Protección Civil Sáric's dispatcher.
const SAR: u32 = 0x5a5a_0401;

/// SAS-1, assigned to P1.
async fn assigned(d: &Desk, sim: &Sim) {
    sim.act(text(CEL2, BROADCAST, "AUXILIO estamos perdidos"))
        .await;
    until(d, 2 * MINUTE, "the incident", |d| !incidents(d).is_empty()).await;
    assign(d, "SAS-1", "P1").await;
}

fn forge(claimed_from: u32, text: &str, mode: ForgeMode) -> Action {
    Action::Forge {
        by: CEL1,
        claimed_from,
        to: SAS,
        channel: 0,
        text: text.into(),
        mode,
    }
}

fn unverified(d: &Desk) -> Vec<String> {
    reader(d)
        .events(None, 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.what.starts_with("unverified message"))
        .map(|e| e.what)
        .collect()
}

/// Firmware before 2.7.14 still hands channel-key direct messages to the client decoded: the
/// station itself must refuse them (later firmware refuses them first).
fn old_firmware() -> Scenario {
    let mut s = quiet_scenario();
    s.radio.firmware_version = "2.6.11.60ec05e".into();
    s
}

#[tokio::test(start_paused = true)]
async fn forged_patrol_commands_change_nothing_and_the_real_patrols_dm_does() {
    init_logging();
    let sim = sim_of(old_firmware());
    let mut heard = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    assigned(&d, &sim).await;
    for (i, mode) in [
        ForgeMode::Broadcast,
        ForgeMode::ChannelDm,
        ForgeMode::WrongKey,
        ForgeMode::ViaMqtt,
    ]
    .into_iter()
    .enumerate()
    {
        sim.act(forge(P1, "CERRAR SAS-1 falsa", mode)).await;
        tokio::time::sleep(MINUTE).await;
        let inc = show(&d, "SAS-1");
        assert_eq!(
            inc.state, "assigned",
            "forgery {i} ({mode:?}) changed the incident"
        );
    }
    // Each forgery is on the desk, said why. (The wrong key never decodes at the station's
    // radio, whose node database holds P1's real key: farod sees a DM it cannot read.)
    let seen = unverified(&d);
    for why in ["broadcast", "channel key", "MQTT", "could not decrypt"] {
        assert!(seen.iter().any(|e| e.contains(why)), "{why}: {seen:?}");
    }
    assert!(seen.iter().all(|e| e.contains("patrol P1")), "{seen:?}");
    // The real patrol is told, once.
    let warned = received(&mut heard, P1, "Faro: se rechazó un mensaje a su nombre").await;
    assert!(warned.contains("mensaje directo"), "{warned}");
    // P1's own radio, a PKI direct message with its pinned key: it counts.
    sim.act(text(P1, SAS, "RUTA SAS-1")).await;
    until(&d, 2 * MINUTE, "the real command", |d| {
        show(d, "SAS-1").state == "en_route"
    })
    .await;
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_forged_municipal_answer_accepts_no_ambulance() {
    init_logging();
    let mut s = old_firmware();
    // Sáric's dispatcher stays silent: only forgeries answer.
    for n in s.nodes.iter_mut().filter(|n| n.id == SAR) {
        n.replies.clear();
    }
    let sim = sim_of(s);
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(text(T7, BROADCAST, "\u{7}SOS")).await;
    until(&d, 2 * MINUTE, "the incident", |d| !incidents(d).is_empty()).await;
    let at = d.station.clock.now_ms();
    d.station
        .store
        .operator("ana", OperatorRequest::Ambulance("SAS-1".into(), None), at)
        .await
        .unwrap();
    d.station.wake_outbox();
    tokio::time::sleep(MINUTE).await;
    for mode in [
        ForgeMode::Broadcast,
        ForgeMode::ChannelDm,
        ForgeMode::ViaMqtt,
    ] {
        sim.act(forge(SAR, "OK SAS-1 25", mode)).await;
        sim.act(forge(SAR, "LLEGO SAS-1", mode)).await;
    }
    tokio::time::sleep(MINUTE).await;
    let states: Vec<String> = reader(&d)
        .ambulance("SAS-1")
        .unwrap()
        .into_iter()
        .map(|a| a.state)
        .collect();
    assert!(
        !states.iter().any(|s| s == "accepted" || s == "arrived"),
        "{states:?}"
    );
    let seen = unverified(&d);
    assert!(
        seen.iter()
            .filter(|e| e.contains("municipality Sáric"))
            .count()
            >= 3,
        "{seen:?}"
    );
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_forged_node_info_for_a_patrol_raises_an_alert() {
    init_logging();
    let sim = sim_of(quiet_scenario());
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(Action::ForgeNodeInfo {
        by: CEL1,
        claimed_from: P1,
    })
    .await;
    until(&d, 2 * MINUTE, "an alert", |d| {
        reader(d)
            .events(None, 0, 1000)
            .unwrap()
            .iter()
            .any(|e| e.what.starts_with("alert:") && e.what.contains("patrol P1"))
    })
    .await;
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn with_current_firmware_forged_dms_do_not_even_decode_and_are_still_shown() {
    init_logging();
    let sim = sim_of(quiet_scenario());
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    assigned(&d, &sim).await;
    for mode in [
        ForgeMode::ChannelDm,
        ForgeMode::WrongKey,
        ForgeMode::ViaMqtt,
    ] {
        sim.act(forge(P1, "CERRAR SAS-1 falsa", mode)).await;
    }
    tokio::time::sleep(2 * MINUTE).await;
    assert_eq!(show(&d, "SAS-1").state, "assigned");
    let seen = unverified(&d);
    assert!(
        seen.iter()
            .filter(|e| e.contains("could not decrypt"))
            .count()
            >= 2,
        "{seen:?}"
    );
    d.station.stop().await;
}
