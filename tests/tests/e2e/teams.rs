//! The teams page end to end: a patrol's radio broadcasts its DeviceMetrics on the simulated
//! mesh (as the firmware's DeviceTelemetryModule does), farod records its battery, the Reader
//! behind `/v1/teams` shows it, and the patrol going low is in the audit trail once.

use std::time::Duration;

use faro_sim::Action;
use faro_tests::desk::*;
use faro_tests::nodes::*;
use faro_tests::*;
use farod::store::query::BatteryView;

const MINUTE: Duration = Duration::from_secs(60);

fn battery_of(d: &Desk, teams: &[farod::store::TeamConfig], team: &str) -> Option<BatteryView> {
    reader(d)
        .teams(teams, None)
        .unwrap()
        .into_iter()
        .find(|t| t.name == team)
        .and_then(|t| t.battery)
}

#[tokio::test(start_paused = true)]
async fn a_patrols_battery_reaches_the_teams_and_its_going_low_is_audited_once() {
    init_logging();
    let sim = quiet_sim();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    let teams = farod::app::scenario_station_config(sim.scenario(), "unused".into())
        .store
        .teams;
    assert_eq!(battery_of(&d, &teams, "P1"), None);
    // 22 % now, 2 % less every ten minutes: 20 % (low) after ten, 18 % after twenty.
    sim.act(Action::Telemetry {
        node: P1,
        level: 22,
        every: Some(10 * MINUTE),
        drain: 2,
    })
    .await;
    until(&d, 2 * MINUTE, "P1's battery", |d| {
        battery_of(d, &teams, "P1").is_some()
    })
    .await;
    let b = battery_of(&d, &teams, "P1").unwrap();
    assert_eq!((b.level, b.powered), (Some(22), false));
    assert_eq!(b.node, "!5a5a0101");
    assert!(b.voltage.is_some_and(|v| v > 3.3 && v < 4.2), "{b:?}");
    until(&d, 30 * MINUTE, "P1 at 18 %", |d| {
        battery_of(d, &teams, "P1").and_then(|b| b.level) == Some(18)
    })
    .await;
    let low: Vec<String> = reader(&d)
        .events(None, 0, 1000)
        .unwrap()
        .into_iter()
        .map(|e| e.what)
        .filter(|w| w.contains("battery"))
        .collect();
    assert_eq!(low, ["patrol P1 battery low: 20% (!5a5a0101)"]);
    assert_eq!(battery_of(&d, &teams, "P2"), None, "P2 said nothing");
    assert!(incidents(&d).is_empty(), "telemetry opens nothing");
    d.station.stop().await;
}
