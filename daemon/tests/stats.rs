//! The figures read the audit trail as the desk writes it: incidents opened, acknowledged,
//! assigned, reached by a patrol and closed through the store's public handle (the real
//! transition code), then counted by `Reader::figures`. The counting itself is checked by hand
//! against a fixture month in tools/ctl/tests/stats.rs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use faro_proto::text::Outcome;
use farod::casework::stats::{date_ms, Span};
use farod::ingest::{Distress, DistressKind, Signal};
use farod::lang::Lang;
use farod::store::query::Reader;
use farod::store::{OperatorRequest, Rx, Store, StoreConfig, TeamConfig};

const PATROL: u32 = 0x5a5a_0101;
const PATROL_KEY: farod::trust::PublicKey = farod::trust::PublicKey([0x11; 32]);
const MIN: i64 = 60_000;

fn config() -> StoreConfig {
    let mut c = StoreConfig::new("SAS");
    c.personal_key = Some(farod::casework::seal::Key::random());
    c.teams = vec![TeamConfig {
        name: "P1".into(),
        nodes: vec![PATROL],
        interval: Duration::from_secs(3600),
        keys: vec![PATROL_KEY],
        language: Lang::Es,
    }];
    c
}

fn rx(from: u32, packet_id: u32, text: &str, auth: farod::trust::Auth) -> Rx {
    Rx {
        radio: "r0".into(),
        from,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: None,
        text: Some(text.into()),
        auth,
    }
}

fn sos(node: u32, packet_id: u32, text: &str) -> (Rx, Signal) {
    let s = Signal::Distress(Distress {
        node,
        packet_id,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: text.into(),
        position: None,
        channel: 0,
    });
    (rx(node, packet_id, text, Default::default()), s)
}

#[tokio::test]
async fn times_to_acknowledge_and_reach_come_from_the_transitions_the_desk_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _writer) = Store::open(&dir.path().join("faro.db"), config()).unwrap();
    let t0 = date_ms("2026-11-10").unwrap() + 8 * 60 * MIN;
    let op = "operator:ana";

    // SAS-1: acknowledged after 90 s, a patrol on scene after 30 min, rescued.
    let (r, s) = sos(0x5a5a_0301, 1, "AUXILIO somos 3");
    store.ingest(r, s, t0).await.unwrap();
    // A note that says "on scene" is no arrival.
    store
        .operator(
            op,
            OperatorRequest::Note("SAS-1".into(), "P1 on scene".into()),
            t0 + 30_000,
        )
        .await
        .unwrap();
    store
        .operator(op, OperatorRequest::Ack("SAS-1".into()), t0 + 90_000)
        .await
        .unwrap();
    let text = "LLEGUE SAS-1";
    let command = faro_proto::text::parse_command(text).unwrap();
    let s = Signal::Command {
        node: PATROL,
        patrol: "P1".into(),
        packet_id: 2,
        command,
    };
    store
        .ingest(
            rx(PATROL, 2, text, farod::trust::Auth::pki(PATROL_KEY)),
            s,
            t0 + 30 * MIN,
        )
        .await
        .unwrap();
    store
        .operator(
            op,
            OperatorRequest::Close("SAS-1".into(), Outcome::Rescued, None),
            t0 + 120 * MIN,
        )
        .await
        .unwrap();

    // SAS-2: straight to a team after 45 s (no acknowledgement first), then a false alarm.
    let t1 = t0 + 240 * MIN;
    let (r, s) = sos(0x5a5a_0302, 3, "AYUDA");
    store.ingest(r, s, t1).await.unwrap();
    store
        .operator(
            op,
            OperatorRequest::Assign("SAS-2".into(), "P1".into()),
            t1 + 45_000,
        )
        .await
        .unwrap();
    store
        .operator(
            op,
            OperatorRequest::Close("SAS-2".into(), Outcome::FalseAlarm, None),
            t1 + 60 * MIN,
        )
        .await
        .unwrap();

    let span = Span::parse(Some("2026-11-01"), Some("2026-11-30"), None, 0).unwrap();
    let f = Reader::open(store.path()).unwrap().figures(&span).unwrap();
    // (45 + 90) / 2 = 67.5 s, rounded.
    assert_eq!(f.median_ack_secs, Some(68));
    assert_eq!(f.median_reach_secs, Some(1800));
    assert_eq!(f.rescued, 3);
    assert_eq!(f.incidents.closed_by_outcome.get("rescued"), 1);
    assert_eq!(f.incidents.closed_by_outcome.get("false_alarm"), 1);
    let opened: i64 = f.incidents.opened_by_priority.0.iter().map(|c| c.1).sum();
    assert_eq!(opened, 2);

    // A reopened incident is not closed until it is closed again.
    store
        .operator(op, OperatorRequest::Reopen("SAS-1".into()), t1 + 70 * MIN)
        .await
        .unwrap();
    let f = Reader::open(store.path()).unwrap().figures(&span).unwrap();
    assert_eq!(f.rescued, 0);
    assert_eq!(f.median_ack_secs, Some(68));

    // December knows nothing of it.
    let span = Span::parse(Some("2026-12-01"), Some("2026-12-31"), None, 0).unwrap();
    let f = Reader::open(store.path()).unwrap().figures(&span).unwrap();
    assert_eq!(f.median_ack_secs, None);
    assert_eq!(f.incidents.closed_by_outcome.get("false_alarm"), 0);
}
