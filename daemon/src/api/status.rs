//! The station as a whole: `GET /v1/status` (radios, counts, teams, database health) and
//! `GET /v1/teams`.

use axum::extract::State;
use axum::Json;
use faro_proto::mesh::NodeId;
use serde::Serialize;

use super::request::read;
use super::{ApiResult, Shared};
use crate::radio::link::LinkState;
use crate::store::query::{Counts, SurgeView, TeamView};
use crate::store::rfc3339;

/// One radio in `/v1/status`.
#[derive(Debug, Serialize)]
struct RadioView {
    name: String,
    state: &'static str,
    node: Option<String>,
    last_error: Option<String>,
    connects: u64,
    queue_free: Option<u32>,
    frames: u64,
    malformed: u64,
    /// Low-value packets (telemetry, range tests...) dropped because the event queue was full.
    dropped: u64,
    /// The modem preset the device reported.
    preset: Option<&'static str>,
    /// Percent of the last minute the device heard the channel busy (its telemetry).
    channel_utilization: Option<f32>,
    /// Percent of the last hour the device transmitted (its telemetry).
    air_util_tx: Option<f32>,
}

#[derive(Debug, Serialize)]
pub(super) struct StatusView {
    station: String,
    version: &'static str,
    /// UTC, RFC 3339, like every time in the API.
    time: String,
    /// The station's time zone (IANA name): faroctl shows times in it.
    timezone: String,
    /// Why the database refused the last transaction (locked, full, read-only); null when
    /// it commits.
    database_error: Option<String>,
    radios: Vec<RadioView>,
    counts: Counts,
    teams: Vec<TeamView>,
    /// The surge in progress (P3/P4 acknowledgements grouped), null when none.
    surge: Option<SurgeView>,
    /// The uplink to headquarters: whether it is on, the last change the broker
    /// acknowledged, and how many changes wait (`backlog`).
    uplink: crate::store::query::UplinkStatus,
}

fn link_state(s: LinkState) -> &'static str {
    match s {
        LinkState::Connecting => "connecting",
        LinkState::Handshaking => "handshaking",
        LinkState::Up => "up",
        LinkState::Stopped => "stopped",
    }
}

pub(super) async fn status(State(st): State<Shared>) -> ApiResult<Json<StatusView>> {
    let radios = st
        .api
        .radios
        .iter()
        .map(|r| {
            let s = r.status();
            RadioView {
                name: r.name().to_string(),
                state: link_state(s.state),
                node: s.node.map(|n| NodeId(n).to_string()),
                last_error: s.last_error,
                connects: s.connects,
                queue_free: s.queue_free,
                frames: s.frames,
                malformed: s.malformed,
                dropped: s.dropped_packets,
                preset: s.preset.map(|p| p.name()),
                channel_utilization: s.channel_utilization,
                air_util_tx: s.air_util_tx,
            }
        })
        .collect();
    let teams = st.api.teams.clone();
    let surge_cfg = st.api.surge.clone();
    let (counts, teams, surge, uplink) = read(&st, move |r| {
        Ok((
            r.counts()?,
            r.teams(&teams, None)?,
            r.surge(&surge_cfg)?,
            r.uplink_status()?,
        ))
    })
    .await?;
    Ok(Json(StatusView {
        station: st.api.station.clone(),
        version: env!("CARGO_PKG_VERSION"),
        time: rfc3339(st.api.clock.now_ms()),
        timezone: st.api.timezone.clone(),
        database_error: st.api.store.last_error(),
        radios,
        counts,
        teams,
        surge,
        uplink,
    }))
}

pub(super) async fn teams(State(st): State<Shared>) -> ApiResult<Json<Vec<TeamView>>> {
    let teams = st.api.teams.clone();
    Ok(Json(read(&st, move |r| r.teams(&teams, None)).await?))
}
