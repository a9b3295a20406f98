//! A whole station (links, intake, store, outbox) on a temporary SQLite file against the
//! simulated mesh, and bounded waits on what it recorded and what the mesh received.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::time::Duration;

use faro_proto::mesh::{self, BROADCAST};
use faro_sim::{Action, Faults, Sim, SimEvent};
use farod::radio::{LinkState, Transport};
use farod::station::Station;
use farod::store::query::{Filter, IncidentView, Reader};

use crate::test_link_config;

const MINUTE: Duration = Duration::from_secs(60);

/// A running station with its temporary data directory.
#[derive(Debug)]
pub struct Desk {
    /// The station.
    pub station: Station,
    /// Kept so the directory lives as long as the station.
    pub dir: tempfile::TempDir,
}

/// A station (code SAS, teams P1 and P2, tower T7) with a link to each of the sim's stations.
pub async fn station(sim: &Sim, radios: usize, dir: tempfile::TempDir) -> Desk {
    station_with(sim, radios, dir, |_| {}).await
}

/// [`station`], with its configuration changed by `edit` before it starts.
pub async fn station_with(
    sim: &Sim,
    radios: usize,
    dir: tempfile::TempDir,
    edit: impl FnOnce(&mut farod::station::StationConfig),
) -> Desk {
    let mut cfg = farod::app::scenario_station_config(sim.scenario(), dir.path().join("faro.db"));
    edit(&mut cfg);
    let stations = sim.scenario().stations();
    assert!(stations.len() >= radios);
    let links = stations[..radios]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                test_link_config(&format!("r{i}")),
                Transport::sim(sim.clone(), Some(*s))
                    .unwrap()
                    .with_faults(Faults::default()),
            )
        })
        .collect();
    let station = Station::start(cfg, links).await.unwrap();
    let deadline = tokio::time::Instant::now() + MINUTE;
    while !station
        .links
        .iter()
        .all(|l| l.status().state == LinkState::Up)
    {
        assert!(tokio::time::Instant::now() < deadline, "radios not up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Desk { station, dir }
}

/// Operator "ana" assigns `id` to `team` now, and the outbox is woken for what that queues.
pub async fn assign(d: &Desk, id: &str, team: &str) {
    let req = farod::store::OperatorRequest::Assign(id.into(), team.into());
    d.station
        .store
        .operator("ana", req, d.station.clock.now_ms())
        .await
        .unwrap();
    d.station.wake_outbox();
}

pub fn reader(d: &Desk) -> Reader {
    Reader::open(d.station.store.path()).unwrap()
}

pub fn incidents(d: &Desk) -> Vec<IncidentView> {
    reader(d).incidents(Filter::All, 100).unwrap()
}

pub fn show(d: &Desk, id: &str) -> IncidentView {
    reader(d)
        .incident(id)
        .unwrap()
        .unwrap_or_else(|| panic!("no {id}"))
}

/// Waits (bounded, in simulated time) until `cond` holds on the database.
pub async fn until(d: &Desk, within: Duration, what: &str, mut cond: impl FnMut(&Desk) -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !cond(d) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}; incidents {:#?}; events {:#?}",
            incidents(d),
            reader(d)
                .events(None, 0, 1000)
                .map(|v| v.into_iter().map(|e| e.what).collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits for `node` to receive a text starting with `prefix`; returns it.
pub async fn received(
    events: &mut tokio::sync::broadcast::Receiver<SimEvent>,
    node: u32,
    prefix: &str,
) -> String {
    tokio::time::timeout(5 * MINUTE, async {
        loop {
            match events.recv().await {
                Ok(SimEvent::Received { node: n, packet }) if n == node => {
                    if let Some(d) = mesh::data(&packet) {
                        let t = String::from_utf8_lossy(&d.payload).into_owned();
                        if t.starts_with(prefix) {
                            return t;
                        }
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("sim events: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{node:#x} never received {prefix:?}"))
}

pub fn text(from: u32, to: u32, t: &str) -> Action {
    Action::Text {
        from,
        to,
        channel: 0,
        text: t.into(),
        want_ack: to != BROADCAST,
    }
}

/// Kills the station as a crash would (tasks cancelled where they stand), leaves it down for
/// `down`, and starts a new one on the same database with one link to the sim's station.
pub async fn crash_and_restart(d: Desk, sim: &Sim, down: Duration) -> Desk {
    let Desk { station, dir } = d;
    let db = station.store.path().to_path_buf();
    station.crash();
    tokio::time::sleep(down).await;
    let cfg = farod::app::scenario_station_config(sim.scenario(), db);
    let link = (
        test_link_config("r0"),
        Transport::sim(sim.clone(), None).unwrap(),
    );
    let station = Station::start(cfg, vec![link]).await.unwrap();
    Desk { station, dir }
}
