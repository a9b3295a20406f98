//! The store through its public handle, on real SQLite files: dedup, repeats, replies only in
//! the outbox, retries and failures, team timeouts, operator refusals, durability across a
//! reopen, and a database another process has locked.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use faro_proto::mesh::routing;
use farod::ingest::{Distress, DistressKind, Fix, Signal, Tower};
use farod::lang::Lang;
use farod::radio::DeliveryOutcome;
use farod::store::query::{Filter, Reader};
use farod::store::{OperatorRequest, Refusal, Rx, Store, StoreConfig, StoreError, TeamConfig};

const TOWER: u32 = 0x5a5a_0201;
const PHONE: u32 = 0x5a5a_0301;
const PATROL: u32 = 0x5a5a_0101;
/// Patrol P1's radio's public key, pinned in the configuration.
const PATROL_KEY: farod::trust::PublicKey = farod::trust::PublicKey([0x11; 32]);
const MIN: i64 = 60_000;

fn config() -> StoreConfig {
    let mut c = StoreConfig::new("SAS");
    c.teams = vec![TeamConfig {
        name: "P1".into(),
        nodes: vec![PATROL],
        interval: Duration::from_secs(60),
        keys: vec![PATROL_KEY],
        language: farod::lang::Lang::Es,
    }];
    c.towers.insert(
        TOWER,
        Tower {
            name: "T7".into(),
            lat: 31.4387,
            lon: -111.7976,
        },
    );
    c
}

fn open(dir: &tempfile::TempDir) -> (Store, std::thread::JoinHandle<()>) {
    Store::open(&dir.path().join("faro.db"), config()).unwrap()
}

fn sos(node: u32, packet_id: u32, text: &str, lang: Lang) -> (Rx, Signal) {
    let rx = Rx {
        radio: "r0".into(),
        from: node,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: Some(6.25),
        text: Some(text.into()),
        auth: Default::default(),
    };
    let s = Signal::Distress(Distress {
        node,
        packet_id,
        kind: DistressKind::Text,
        language: lang,
        text: text.into(),
        position: None,
        channel: 0,
    });
    (rx, s)
}

fn reader(store: &Store) -> Reader {
    Reader::open(store.path()).unwrap()
}

#[tokio::test]
async fn one_packet_heard_twice_is_one_signal_and_repeats_update() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let (rx, s) = sos(PHONE, 7, "AUXILIO somos 3", Lang::Es);
    let first = store.ingest(rx.clone(), s.clone(), 1_000).await.unwrap();
    assert_eq!(first.incident, Some(("SAS-1".into(), true)));
    assert_eq!(
        first.queued, 1,
        "the reply is queued in the same transaction"
    );
    // The same packet again (second radio, Store & Forward replay): nothing happens.
    let again = store
        .ingest(
            Rx {
                radio: "r1".into(),
                ..rx
            },
            s,
            2_000,
        )
        .await
        .unwrap();
    assert!(again.duplicate);
    // A new packet from the same node within the window updates the incident; the reply is
    // not repeated within the reply interval.
    let (rx, s) = sos(PHONE, 8, "AUXILIO", Lang::Es);
    let third = store.ingest(rx, s, 5 * MIN).await.unwrap();
    assert_eq!(
        (third.incident, third.queued),
        (Some(("SAS-1".into(), false)), 0)
    );
    // Past the window: a new incident.
    let (rx, s) = sos(PHONE, 9, "AUXILIO", Lang::Es);
    let fourth = store.ingest(rx, s, 40 * MIN).await.unwrap();
    assert_eq!(fourth.incident, Some(("SAS-2".into(), true)));
    let r = reader(&store);
    let inc = r.incident("sas-1").unwrap().unwrap();
    assert_eq!(inc.heard_count, 2);
    assert_eq!(inc.people, Some(3));
    assert_eq!(r.incidents(Filter::Open, 10).unwrap().len(), 2);
}

#[tokio::test]
async fn replies_are_in_the_language_that_matched_and_fit_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    for (i, (text, lang)) in [
        ("ÈD! Nou se 2 moun", Lang::Ht),
        ("AIDE", Lang::Fr),
        ("HELP", Lang::En),
    ]
    .iter()
    .enumerate()
    {
        let (rx, s) = sos(0x100 + i as u32, 1, text, *lang);
        store.ingest(rx, s, 1_000).await.unwrap();
    }
    let items = store.outbox_claim(1_000, 10).await.unwrap();
    assert_eq!(items.len(), 3);
    for it in &items {
        assert!(it.payload.len() <= 200);
        assert!(it.want_ack);
        assert!(
            (farod::desk::CLASS_P1..=farod::desk::CLASS_P3).contains(&it.class),
            "{}",
            it.class
        );
    }
    let texts: Vec<String> = items
        .iter()
        .map(|i| String::from_utf8(i.payload.clone()).unwrap())
        .collect();
    assert!(texts[0].starts_with("Faro SAS-1"), "{texts:?}");
    assert_ne!(texts[0], texts[1], "each in its own language: {texts:?}");
}

#[tokio::test]
async fn outbox_retries_with_backoff_then_fails_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let (rx, s) = sos(PHONE, 1, "SOS", Lang::Es);
    store.ingest(rx, s, 0).await.unwrap();
    let mut at = 0;
    for attempt in 1..=5 {
        let items = store.outbox_claim(at, 10).await.unwrap();
        assert_eq!(items.len(), 1, "attempt {attempt} is due at {at}");
        // Claimed rows are not handed out twice.
        assert!(store.outbox_claim(at, 10).await.unwrap().is_empty());
        store
            .outbox_sent(items[0].row, "r0", 1000 + attempt, at)
            .await
            .unwrap();
        store
            .outbox_delivery(
                "r0",
                1000 + attempt,
                DeliveryOutcome::Nak(routing::Error::MaxRetransmit),
                at,
            )
            .await
            .unwrap();
        at += 10 * MIN;
    }
    assert!(
        store.outbox_claim(at, 10).await.unwrap().is_empty(),
        "failed for good after 5 attempts"
    );
    let inc = reader(&store).incident("SAS-1").unwrap().unwrap();
    let last = inc.events.unwrap().last().unwrap().what.clone();
    assert_eq!(
        last,
        "reply to !5a5a0301 failed after 5 attempts: nak MAX_RETRANSMIT"
    );
    assert_eq!(reader(&store).counts().unwrap().outbox_failed, 1);
}

#[tokio::test]
async fn rows_being_sent_at_a_crash_go_out_again_and_everything_committed_survives() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, t) = open(&dir);
        let (rx, s) = sos(TOWER, 1, "\u{7}SOS", Lang::Es);
        store.ingest(rx, s, 0).await.unwrap();
        let items = store.outbox_claim(0, 10).await.unwrap();
        store.outbox_sent(items[0].row, "r0", 99, 0).await.unwrap();
        drop(store);
        t.join().unwrap();
    }
    let (store, _t) = open(&dir);
    let items = store.outbox_claim(1, 10).await.unwrap();
    assert_eq!(items.len(), 1, "sent but never acknowledged: sent again");
    let inc = reader(&store).incident("SAS-1").unwrap().unwrap();
    assert_eq!(inc.position_source.as_deref(), Some("tower"));
    assert_eq!((inc.lat, inc.lon), (Some(31.4387), Some(-111.7976)));
}

#[tokio::test]
async fn operators_are_refused_with_a_reason_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let (rx, s) = sos(PHONE, 1, "SOS", Lang::Es);
    store.ingest(rx, s, 0).await.unwrap();
    let refuse = |r: Result<String, StoreError>| match r {
        Err(StoreError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        refuse(
            store
                .operator("ana", OperatorRequest::Ack("SAS-9".into()), 1)
                .await
        ),
        Refusal::NotFound("no incident SAS-9".into())
    );
    let unknown_team = refuse(
        store
            .operator(
                "ana",
                OperatorRequest::Assign("SAS-1".into(), "P9".into()),
                1,
            )
            .await,
    );
    assert!(
        matches!(&unknown_team, Refusal::NotFound(m) if m.starts_with("unknown team \"P9\"")),
        "{unknown_team:?}"
    );
    assert_eq!(
        refuse(
            store
                .operator("ana", OperatorRequest::Reopen("SAS-1".into()), 1)
                .await
        ),
        Refusal::Conflict("SAS-1: cannot reopen: not closed (new)".into())
    );
    assert_eq!(
        store
            .operator("ana", OperatorRequest::Ack("sas-1".into()), 1)
            .await
            .unwrap(),
        "SAS-1"
    );
    let inc = reader(&store).incident("SAS-1").unwrap().unwrap();
    assert_eq!(inc.state, "acknowledged");
    assert_eq!(
        inc.events.unwrap().len(),
        2,
        "opened + acknowledged, nothing from the refusals"
    );
}

#[tokio::test]
async fn a_patrol_that_stops_reporting_goes_stale_then_lost_on_its_incident() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let fix = Fix {
        lat: 31.47,
        lon: -111.55,
        alt: None,
        precision_bits: 32,
        time: None,
    };
    let pos = Signal::Position {
        node: PATROL,
        fix,
        patrol: Some("P1".into()),
    };
    store
        .ingest(
            Rx {
                radio: "r0".into(),
                from: PATROL,
                packet_id: 1,
                hops: Some(0),
                ..Rx::default()
            },
            pos,
            0,
        )
        .await
        .unwrap();
    let (rx, s) = sos(PHONE, 1, "SOS", Lang::Es);
    store.ingest(rx, s, 0).await.unwrap();
    store
        .operator(
            "ana",
            OperatorRequest::Assign("SAS-1".into(), "P1".into()),
            0,
        )
        .await
        .unwrap();
    for at in [MIN, 2 * MIN, 6 * MIN] {
        store.tick(at).await.unwrap();
    }
    let events: Vec<String> = reader(&store)
        .incident("SAS-1")
        .unwrap()
        .unwrap()
        .events
        .unwrap()
        .into_iter()
        .map(|e| e.what)
        .collect();
    assert!(
        events.contains(&"patrol P1 is stale: last position 120 s ago".to_string()),
        "{events:#?}"
    );
    assert!(
        events.contains(&"patrol P1 is lost: last position 360 s ago".to_string()),
        "{events:#?}"
    );
    let teams = reader(&store).teams(&config().teams, None).unwrap();
    assert_eq!(teams[0].status, "lost");
    assert_eq!(teams[0].assigned, vec!["SAS-1".to_string()]);
}

#[tokio::test]
async fn a_locked_database_refuses_without_acknowledging_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    // Another process holds the write lock.
    let other = rusqlite::Connection::open(store.path()).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (rx, s) = sos(PHONE, 1, "SOS", Lang::Es);
    let err = store.ingest(rx.clone(), s.clone(), 0).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Busy(ref m) if m.contains("locked")),
        "{err}"
    );
    other.execute_batch("ROLLBACK").unwrap();
    // Nothing was half-written: the retry opens the incident and queues the reply.
    let ok = store.ingest(rx, s, 1).await.unwrap();
    assert_eq!((ok.duplicate, ok.queued), (false, 1));
    assert_eq!(reader(&store).incidents(Filter::All, 10).unwrap().len(), 1);
}

#[tokio::test]
async fn many_packets_at_once_each_get_their_own_result_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    // 300 signals handed over back to back (as the supervisor does under load): 150 new
    // phones in distress, each heard twice (the second copy a duplicate).
    let mut batch = Vec::new();
    for i in 0..150u32 {
        let (rx, s) = sos(PHONE + 1 + i, 1_000 + i, "SOS", Lang::Es);
        batch.push((rx.clone(), s.clone()));
        batch.push((
            Rx {
                radio: "r1".into(),
                ..rx
            },
            s,
        ));
    }
    let results = store.ingest_many(batch, 1_000).await.unwrap();
    assert_eq!(results.len(), 300);
    for (i, r) in results.iter().enumerate() {
        let o = r.as_ref().unwrap();
        if i % 2 == 0 {
            let want = format!("SAS-{}", i / 2 + 1);
            assert_eq!(o.incident, Some((want, true)), "result {i} in order");
            assert_eq!(o.queued, 1);
        } else {
            assert!(o.duplicate, "result {i}: the second copy is a duplicate");
        }
    }
    assert_eq!(
        reader(&store).incidents(Filter::Open, 500).unwrap().len(),
        150
    );

    // A locked database: every signal of the batch is refused, nothing is half-written, and
    // the same batch commits once the lock is gone.
    let other = rusqlite::Connection::open(store.path()).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let next: Vec<_> = (0..20u32)
        .map(|i| sos(PHONE + 500 + i, 5_000 + i, "AUXILIO", Lang::Es))
        .collect();
    let refused = store.ingest_many(next.clone(), 2_000).await.unwrap();
    assert!(refused
        .iter()
        .all(|r| matches!(r, Err(StoreError::Busy(m)) if m.contains("locked"))));
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        reader(&store).incidents(Filter::Open, 500).unwrap().len(),
        150
    );
    let ok = store.ingest_many(next, 3_000).await.unwrap();
    assert!(ok.iter().all(|r| r.as_ref().is_ok_and(|o| o.queued == 1)));
    assert_eq!(
        reader(&store).incidents(Filter::Open, 500).unwrap().len(),
        170
    );
}

#[tokio::test]
async fn the_outbox_learns_every_radio_that_heard_a_node_latest_first() {
    use farod::store::Route;
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    // Heard first by "mast" through two relays, then the same packet by "main" directly (a
    // duplicate, still recorded), both on channel 1.
    let (rx, s) = sos(PHONE, 7, "SOS", Lang::Es);
    let mast = Rx {
        radio: "mast".into(),
        hops: Some(2),
        channel: 1,
        ..rx.clone()
    };
    let main = Rx {
        radio: "main".into(),
        hops: Some(0),
        channel: 1,
        ..rx
    };
    let route = |radio: &str, hops| Route {
        radio: radio.into(),
        hops,
        channel: Some(1),
    };
    store.ingest(mast, s.clone(), 1_000).await.unwrap();
    assert!(store.ingest(main, s, 2_000).await.unwrap().duplicate);
    let items = store.outbox_claim(3_000, 10).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].routes,
        vec![route("main", Some(0)), route("mast", Some(2))]
    );
    // An hour later neither counts as recent: only the radio of its last fresh packet is left.
    store
        .outbox_retry(items[0].row, "test", 3_000)
        .await
        .unwrap();
    let later = store.outbox_claim(3_600_000 + 10_000, 10).await.unwrap();
    assert_eq!(later.len(), 1);
    // Its hops are stale (the device's own limit then); its channel is still the node's.
    assert_eq!(later[0].routes, vec![route("mast", None)]);
}

#[tokio::test]
async fn a_rounded_position_stays_rounded_from_the_packet_to_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let rx = Rx {
        radio: "r0".into(),
        from: PHONE,
        packet_id: 40,
        hops: Some(0),
        ..Rx::default()
    };
    // The phone shares its position rounded to 13 bits (the apps' "2.9 km"), then calls.
    let position = Signal::Position {
        node: PHONE,
        fix: Fix {
            lat: 31.45,
            lon: -111.55,
            alt: None,
            precision_bits: 13,
            time: None,
        },
        patrol: None,
    };
    store.ingest(rx, position, 1_000).await.unwrap();
    let (rx, s) = sos(PHONE, 41, "AUXILIO", Lang::Es);
    store.ingest(rx, s, 2_000).await.unwrap();
    let inc = reader(&store).incident("SAS-1").unwrap().unwrap();
    assert_eq!(inc.position_source.as_deref(), Some("last_known"));
    assert_eq!(inc.precision_bits, Some(13));
    let m = inc
        .precision_m
        .expect("a rounded position says how far off it may be");
    assert!((2_900.0..2_950.0).contains(&m), "{m}");
    let opened = &inc.events.as_ref().unwrap()[0].what;
    assert!(opened.contains("±2.9 km (last_known"), "{opened}");
    // The operator's own position is exact.
    store
        .operator(
            "ana",
            OperatorRequest::Position("SAS-1".into(), 31.46, -111.56),
            3_000,
        )
        .await
        .unwrap();
    let inc = reader(&store).incident("SAS-1").unwrap().unwrap();
    assert_eq!((inc.precision_bits, inc.precision_m), (Some(32), None));
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_says_its_path_once_and_why() {
    let dir = tempfile::tempdir().unwrap();
    // The data directory's parent is a file.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let db = file.join("faro.db");
    let err = Store::open(&db, config()).unwrap_err();
    assert!(err.is_fatal(), "{err:?}");
    let line = err.to_string();
    assert_eq!(line.matches(&*db.to_string_lossy()).count(), 1, "{line}");
    assert!(line.ends_with(": its directory is a file"), "{line}");
    // A file that is not a database (a wrong path, a damaged disk) is named as such.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&junk, config()).unwrap_err();
    assert!(err.is_fatal(), "{err:?}");
    assert!(
        err.to_string().ends_with("the file is not a database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&junk).unwrap(), vec![0x5a; 8192], "untouched");
}

/// A text from a node that is neither a patrol nor in distress: chatter, no incident.
fn chatter(node: u32, packet_id: u32, text: &str) -> (Rx, Signal) {
    let rx = Rx {
        radio: "r0".into(),
        from: node,
        packet_id,
        hops: Some(2),
        channel: 1,
        snr: None,
        text: Some(text.into()),
        auth: Default::default(),
    };
    let s = Signal::Activity {
        node,
        portnum: faro_proto::mesh::PortNum::TextMessageApp as i32,
        bytes: text.len(),
    };
    (rx, s)
}

#[tokio::test]
async fn the_conversation_is_kept_once_with_its_incident_and_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let (rx, s) = sos(PHONE, 7, "AUXILIO somos 3", Lang::Es);
    store.ingest(rx.clone(), s.clone(), 1_000).await.unwrap();
    // Heard again on another radio: a duplicate, not a second message.
    let again = Rx {
        radio: "r1".into(),
        ..rx
    };
    assert!(store.ingest(again, s, 2_000).await.unwrap().duplicate);
    let r = reader(&store);
    let conv = r.incident("SAS-1").unwrap().unwrap().messages.unwrap();
    assert_eq!(conv.len(), 2, "{conv:?}");
    // The text heard first, then the reply it got, with the reply's delivery state.
    assert_eq!(
        (conv[0].direction.as_str(), conv[0].node.as_str()),
        ("in", "!5a5a0301")
    );
    assert_eq!(conv[0].text, "AUXILIO somos 3");
    assert_eq!(conv[0].language.as_deref(), Some("es"));
    assert_eq!(conv[0].understood.as_deref(), Some("distress"));
    assert_eq!(conv[0].delivery, None);
    assert_eq!(
        (conv[1].direction.as_str(), conv[1].node.as_str()),
        ("out", "!5a5a0301")
    );
    assert!(conv[1].text.contains("SAS-1"), "{}", conv[1].text);
    assert_eq!(conv[1].understood.as_deref(), Some("distress_ack"));
    assert_eq!(conv[1].delivery.as_deref(), Some("pending"));
    // The delivery state is the outbox row's, read when asked.
    let items = store.outbox_claim(3_000, 10).await.unwrap();
    store
        .outbox_sent(items[0].row, "r0", 501, 3_000)
        .await
        .unwrap();
    store
        .outbox_delivery("r0", 501, DeliveryOutcome::Acked, 4_000)
        .await
        .unwrap();
    let conv = r.conversation("SAS-1", 100).unwrap();
    assert_eq!(conv[1].delivery.as_deref(), Some("acked"));
    // The row keeps what the radio said about the packet heard.
    let (radio, channel, hops, snr): (String, u32, u32, f64) =
        rusqlite::Connection::open(store.path())
            .unwrap()
            .query_row(
                "SELECT radio, channel, hops, snr FROM messages WHERE direction = 'in'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
    assert_eq!((radio.as_str(), channel, hops, snr), ("r0", 0, 1, 6.25));
    // Nothing of it is loose traffic.
    assert!(r.loose_messages(None, 0, 100).unwrap().is_empty());
}

#[tokio::test]
async fn traffic_of_no_incident_by_node_and_time_and_operator_texts() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    for (i, at) in [1_000, 2_000, 3_000].into_iter().enumerate() {
        let (rx, s) = chatter(PHONE, 100 + i as u32, &format!("hola {i}"));
        store.ingest(rx, s, at).await.unwrap();
    }
    let (rx, s) = chatter(TOWER, 200, "otro");
    store.ingest(rx, s, 2_500).await.unwrap();
    // A packet without text (a position) is no message.
    let (mut rx, _) = chatter(PHONE, 300, "");
    rx.text = None;
    store
        .ingest(
            rx,
            Signal::Activity {
                node: PHONE,
                portnum: 3,
                bytes: 10,
            },
            3_500,
        )
        .await
        .unwrap();
    store
        .operator(
            "operator:ana",
            OperatorRequest::Send(PHONE, "¿cuántos son?".into()),
            4_000,
        )
        .await
        .unwrap();
    let r = reader(&store);
    let all = r.loose_messages(None, 0, 100).unwrap();
    let texts: Vec<&str> = all.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["hola 0", "hola 1", "otro", "hola 2", "¿cuántos son?"]
    );
    assert_eq!(all[0].understood.as_deref(), Some("no emergency"));
    assert_eq!(
        (all[4].direction.as_str(), all[4].understood.as_deref()),
        ("out", Some("operator text"))
    );
    assert_eq!(all[4].delivery.as_deref(), Some("pending"));
    // One node, from a time on, the latest N (still oldest first).
    let phone = r.loose_messages(Some(PHONE), 2_000, 100).unwrap();
    let texts: Vec<&str> = phone.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hola 1", "hola 2", "¿cuántos son?"]);
    let last2 = r.loose_messages(Some(PHONE), 0, 2).unwrap();
    let texts: Vec<&str> = last2.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hola 2", "¿cuántos son?"]);
}

#[test]
fn migration_6_adds_the_conversation_to_a_database_with_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faro.db");
    {
        // A database left at version 5 (no conversation, orientation counts or keys), with an
        // incident and a reply queued.
        let mut c = rusqlite::Connection::open(&path).unwrap();
        farod::store::migrations::migrate(&mut c).unwrap();
        c.execute_batch(
            "DROP TRIGGER uplink_incident_opened; DROP TRIGGER uplink_incident_changed;
             DROP TRIGGER uplink_team_status; DROP TABLE uplink_state; DROP TABLE uplink;
             ALTER TABLE nodes DROP COLUMN battery_level; ALTER TABLE nodes DROP COLUMN voltage;
             ALTER TABLE nodes DROP COLUMN telemetry_at;
             DROP INDEX sessions_by_user; DROP TABLE sessions; DROP TABLE users;
             DROP TABLE disclosures; DROP TABLE personal_records; DROP TABLE keyring;
             DROP TABLE location_requests; DROP TABLE complaints; DROP TABLE consents;
             DROP TABLE assistance_kinds; DROP TABLE assistance;
             CREATE TABLE personal (incident TEXT PRIMARY KEY REFERENCES incidents(id), name TEXT,
                 nationality TEXT, origin TEXT, relative_phone TEXT, updated_at INTEGER NOT NULL);
             DROP INDEX grouped_acks_waiting; DROP TABLE grouped_acks; DROP TABLE surges;
             DROP INDEX messages_by_incident; DROP INDEX messages_by_node; DROP TABLE messages; DROP TABLE orientations;
             DROP INDEX nodes_by_key; ALTER TABLE nodes DROP COLUMN public_key; DROP TABLE keys; DROP TABLE pending_answers;
             ALTER TABLE seen_packets DROP COLUMN keep;
             ALTER TABLE node_radios DROP COLUMN hops; ALTER TABLE node_radios DROP COLUMN channel;
             PRAGMA user_version = 5;
             INSERT INTO incidents(id, seq, state, kind, priority, priority_why, source, language,
                                   created_at, updated_at, last_heard_at)
             VALUES ('SAS-1', 1, 'new', 'lost', 2, '[]', 'text', 'es', 0, 0, 0);
             INSERT INTO outbox(created_at, class, incident, dest, channel, portnum, payload, want_ack, state,
                                next_attempt_at, updated_at)
             VALUES (0, 0, 'SAS-1', 1, 0, 1, 'x', 1, 'acked', 0, 0);",
        )
        .unwrap();
    }
    let (store, t) = open(&dir);
    let r = reader(&store);
    // Rows from before have no conversation; the incident is intact.
    let inc = r.incident("SAS-1").unwrap().unwrap();
    assert_eq!(inc.messages, Some(vec![]));
    // Migrations 9 and 10 gave the queued reply its class: a reply to a priority 2 incident.
    let class: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT class FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(class, i64::from(farod::desk::CLASS_P2));
    drop(store);
    t.join().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, farod::store::migrations::CURRENT);
    // The incident link is a real reference.
    c.pragma_update(None, "foreign_keys", true).unwrap();
    assert!(c
        .execute(
            "INSERT INTO messages(at, direction, node, text, incident) VALUES (1, 'in', 1, 'x', 'SAS-9')",
            []
        )
        .is_err());
    assert!(c
        .execute(
            "INSERT INTO messages(at, direction, node, text) VALUES (1, 'sideways', 1, 'x')",
            []
        )
        .is_err());
}

/// Notes an older farod wrote into the audit trail (`note: <text>`) are sealed into personal
/// records the first time farod starts with its key; the event says only that a note was
/// added, and the text is nowhere in the file or its WAL. Without the key they wait.
#[test]
fn notes_an_older_farod_wrote_into_the_trail_are_sealed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faro.db");
    {
        let mut c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        farod::store::migrations::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO incidents(id, seq, state, kind, priority, priority_why, source, language,
                                   created_at, updated_at, last_heard_at)
             VALUES ('SAS-1', 1, 'new', 'lost', 2, '[]', 'manual', 'es', 0, 0, 0);
             INSERT INTO events(incident, at, who, via, what)
             VALUES ('SAS-1', 5, 'operator:ana', 'faroctl', 'note: VIEJOZAFIRO llamó su hermana'),
                    ('SAS-1', 6, 'operator:ana', 'faroctl', 'acknowledged');",
        )
        .unwrap();
    }
    let whats = |c: &rusqlite::Connection| -> Vec<String> {
        let mut st = c
            .prepare("SELECT what FROM events WHERE incident = 'SAS-1' ORDER BY id")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // No key: nothing moves.
    let (store, t) = open(&dir);
    drop(store);
    t.join().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(whats(&c)[0], "note: VIEJOZAFIRO llamó su hermana");
    drop(c);
    // With the key: sealed, the event rewritten, the trail append-only again.
    let mut cfg = config();
    cfg.personal_key = Some(farod::casework::seal::Key::random());
    let (store, t) = Store::open(&path, cfg).unwrap();
    drop(store);
    t.join().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let w = whats(&c);
    assert_eq!(
        w,
        [
            format!(
                "note added (personal record 1, {} bytes; sealed on upgrade)",
                "VIEJOZAFIRO llamó su hermana".len()
            ),
            "acknowledged".to_string()
        ]
    );
    let (subject, field, by): (String, String, String) = c
        .query_row(
            "SELECT subject, field, recorded_by FROM personal_records",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (subject.as_str(), field.as_str(), by.as_str()),
        ("SAS-1", "note", "operator:ana")
    );
    assert!(c.execute("UPDATE events SET what = 'x'", []).is_err());
    assert!(c.execute("DELETE FROM events", []).is_err());
    drop(c);
    let mut raw = std::fs::read(&path).unwrap();
    raw.extend(std::fs::read(dir.path().join("faro.db-wal")).unwrap_or_default());
    assert!(
        !raw.windows(11).any(|w| w == b"VIEJOZAFIRO"),
        "the old note is still in the file"
    );
}

#[tokio::test]
async fn a_patrols_command_belongs_to_the_incident_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let (rx, s) = sos(PHONE, 7, "AUXILIO", Lang::Es);
    store.ingest(rx, s, 1_000).await.unwrap();
    let text = "NOTA SAS-1 llevamos agua";
    let command = faro_proto::text::parse_command(text).unwrap();
    let rx = Rx {
        radio: "r0".into(),
        from: PATROL,
        packet_id: 50,
        hops: Some(0),
        channel: 0,
        snr: Some(-3.5),
        text: Some(text.into()),
        auth: farod::trust::Auth::pki(PATROL_KEY),
    };
    let s = Signal::Command {
        node: PATROL,
        patrol: "P1".into(),
        packet_id: 50,
        command,
    };
    let o = store.ingest(rx, s, 2_000).await.unwrap();
    assert_eq!(o.incident, Some(("SAS-1".into(), false)));
    let conv = reader(&store).conversation("SAS-1", 100).unwrap();
    let seen: Vec<(&str, &str, Option<&str>)> = conv
        .iter()
        .map(|m| {
            (
                m.direction.as_str(),
                m.node.as_str(),
                m.understood.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("in", "!5a5a0301", Some("distress")),
            ("out", "!5a5a0301", Some("distress_ack")),
            ("in", "!5a5a0101", Some("command")),
            ("out", "!5a5a0101", Some("cmd_ok")),
        ]
    );
    assert_eq!(conv[2].text, text);
    assert_eq!(conv[2].language, None);
}

fn patrol_says(packet_id: u32, text: &str) -> (Rx, Signal) {
    let rx = Rx {
        radio: "r0".into(),
        from: PATROL,
        packet_id,
        hops: Some(0),
        channel: 0,
        snr: None,
        text: Some(text.into()),
        auth: farod::trust::Auth::pki(PATROL_KEY),
    };
    let s = Signal::PatrolNote {
        node: PATROL,
        patrol: "P1".into(),
        packet_id,
        text: text.into(),
    };
    (rx, s)
}

#[tokio::test]
async fn a_patrols_note_is_kept_with_its_one_incident_or_is_its_own_distress() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    // No incident for the team, and words that ask for help: the patrol's own distress.
    let (rx, s) = patrol_says(1, "Necesitamos ayuda aquí");
    let o = store.ingest(rx, s, 1_000).await.unwrap();
    assert_eq!(o.incident, Some(("SAS-1".into(), true)));
    let conv = reader(&store).conversation("SAS-1", 100).unwrap();
    assert_eq!(conv[0].understood.as_deref(), Some("distress"));
    // The team works a phone's incident: its note is that incident's, and the team's last.
    let (rx, s) = sos(PHONE, 7, "AUXILIO", Lang::Es);
    store.ingest(rx, s, 2_000).await.unwrap();
    store
        .operator(
            "ana",
            OperatorRequest::Assign("SAS-2".into(), "P1".into()),
            3_000,
        )
        .await
        .unwrap();
    let note = "Llegamos, 2 personas, una con insolacion";
    let (rx, s) = patrol_says(2, note);
    let o = store.ingest(rx, s, 4_000).await.unwrap();
    assert_eq!(o.incident, Some(("SAS-2".into(), false)));
    let r = reader(&store);
    let conv = r.conversation("SAS-2", 100).unwrap();
    let heard = conv.iter().find(|m| m.text == note).expect("the note");
    assert_eq!(
        (heard.node.as_str(), heard.understood.as_deref()),
        ("!5a5a0101", Some("patrol note"))
    );
    assert_eq!(r.incident("SAS-2").unwrap().unwrap().people, Some(2));
    let teams = r.teams(&config().teams, None).unwrap();
    let last = teams[0].last_note.as_ref().expect("a last note");
    assert_eq!(last.text, note);
    // Nothing of it in the audit trail but its length.
    let events = r.events(None, 0, 1000).unwrap();
    assert!(events.iter().all(|e| !e.what.contains("Llegamos")));
    assert!(events
        .iter()
        .any(|e| e.what == format!("patrol P1 sent a note ({} bytes)", note.len())));
}

#[tokio::test]
async fn a_patrols_command_played_again_days_later_after_a_restart_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, s) = sos(PHONE, 7, "AUXILIO", Lang::Es);
    let cerrar = || {
        let text = "CERRAR SAS-1 rescatado";
        let rx = Rx {
            radio: "r0".into(),
            from: PATROL,
            packet_id: 77,
            hops: Some(1),
            channel: 0,
            snr: None,
            text: Some(text.into()),
            auth: farod::trust::Auth::pki(PATROL_KEY),
        };
        let s = Signal::Command {
            node: PATROL,
            patrol: "P1".into(),
            packet_id: 77,
            command: faro_proto::text::parse_command(text).unwrap(),
        };
        (rx, s)
    };
    {
        let (store, t) = open(&dir);
        store.ingest(rx, s, 1_000).await.unwrap();
        store
            .operator(
                "operator:ana",
                farod::store::OperatorRequest::Assign("SAS-1".into(), "P1".into()),
                2_000,
            )
            .await
            .unwrap();
        let (rx, s) = cerrar();
        assert!(!store.ingest(rx, s, 3_000).await.unwrap().duplicate);
        store
            .operator(
                "operator:ana",
                farod::store::OperatorRequest::Reopen("SAS-1".into()),
                4_000,
            )
            .await
            .unwrap();
        drop(store);
        t.join().unwrap();
    }
    // Restarted; two days of housekeeping later the captured packet comes again.
    let (store, _t) = open(&dir);
    let later = 3_000 + 2 * 24 * 60 * MIN;
    store.tick(later).await.unwrap();
    let (rx, s) = cerrar();
    let o = store.ingest(rx, s, later + 1).await.unwrap();
    assert!(o.duplicate, "a replay is recognised");
    let inc = reader(&store).incident("SAS-1").unwrap().unwrap();
    assert_ne!(inc.state, "closed");
}

fn patrol_command(packet_id: u32, text: &str) -> (Rx, Signal) {
    let rx = Rx {
        radio: "r0".into(),
        from: PATROL,
        packet_id,
        hops: Some(0),
        channel: 0,
        snr: None,
        text: Some(text.into()),
        auth: farod::trust::Auth::pki(PATROL_KEY),
    };
    let s = Signal::Command {
        node: PATROL,
        patrol: "P1".into(),
        packet_id,
        command: faro_proto::text::parse_command(text).unwrap(),
    };
    (rx, s)
}

#[tokio::test]
async fn a_first_mistake_is_always_hinted_and_the_same_one_not_twice_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    // Another answer just before, then a mistake, the same again, a different one.
    for (i, t) in ["ESTADO", "LLEGUE", "LLEGUE", "RUTA"]
        .into_iter()
        .enumerate()
    {
        let (rx, s) = patrol_command(60 + i as u32, t);
        store.ingest(rx, s, 1_000 * (i as i64 + 1)).await.unwrap();
    }
    let out: Vec<(Option<String>, String)> = reader(&store)
        .loose_messages(Some(PATROL), 0, 100)
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == "out")
        .map(|m| (m.understood, m.text))
        .collect();
    let what: Vec<Option<&str>> = out.iter().map(|(u, _)| u.as_deref()).collect();
    assert_eq!(
        what,
        [Some("status_none"), Some("cmd_usage"), Some("cmd_usage")],
        "{out:?}"
    );
    assert!(
        out[1].1.contains("LLEGUE") && out[2].1.contains("RUTA"),
        "{out:?}"
    );
}

#[tokio::test]
async fn unsent_messages_whose_reason_ended_are_dropped_with_an_event_and_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let state = |row: i64| -> String {
        rusqlite::Connection::open(dir.path().join("faro.db"))
            .unwrap()
            .query_row("SELECT state FROM outbox WHERE id = ?1", [row], |r| {
                r.get(0)
            })
            .unwrap()
    };
    // Two reporters; each gets an answer queued. One answer is held by the outbox task.
    let (rx, s) = sos(PHONE, 1, "SOS", Lang::Es);
    store.ingest(rx, s, 0).await.unwrap();
    let held = store.outbox_claim(1, 1).await.unwrap();
    assert_eq!(held.len(), 1);
    let (rx, s) = sos(PHONE + 1, 2, "SOS", Lang::Es);
    store.ingest(rx, s, 2).await.unwrap();
    assert!(store.outbox_still_wanted(held[0].row).await.unwrap());
    // The first incident is closed before its answer went on air: the held answer is not
    // sent, the other incident's answer stays.
    store
        .operator(
            "ana",
            OperatorRequest::Close("SAS-1".into(), faro_proto::text::Outcome::Rescued, None),
            3,
        )
        .await
        .unwrap();
    assert!(!store.outbox_still_wanted(held[0].row).await.unwrap());
    assert_eq!(state(held[0].row), "dropped");
    let left = store.outbox_claim(4, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].dest, PHONE + 1);
    let events: Vec<String> = reader(&store)
        .events(Some("SAS-1"), 0, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.what)
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.contains("distress_ack")
                && e.contains("dropped unsent: the incident was closed")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_newer_answer_to_the_same_reporter_supersedes_the_one_still_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _t) = open(&dir);
    let (rx, s) = sos(PHONE, 1, "SOS", Lang::Es);
    store.ingest(rx, s, 0).await.unwrap();
    // Eleven minutes later (past the reply interval) the phone is heard again while its first
    // answer still waits (say, behind a surge): one answer goes, the newer.
    let (rx, s) = sos(PHONE, 2, "SOS", Lang::Es);
    store.ingest(rx, s, 11 * 60_000).await.unwrap();
    let out = store.outbox_claim(11 * 60_000 + 1, 10).await.unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    let events: Vec<String> = reader(&store)
        .events(Some("SAS-1"), 0, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.what)
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.ends_with("dropped unsent: superseded by a newer message")),
        "{events:?}"
    );
}

/// Surge mode on SQLite: the estimate starts it, waiting P3 acknowledgements are dropped from
/// the outbox and their senders named (by their cleaned short name) in one broadcast, a P1
/// stays direct, and the surge ends with an event once the queue is short.
#[tokio::test]
async fn a_surge_groups_p3_acknowledgements_in_one_broadcast_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.surge.after = Duration::from_secs(10);
    let (store, _w) = Store::open(&dir.path().join("faro.db"), cfg.clone()).unwrap();
    for i in 0..4u32 {
        let (rx, s) = sos(0x5a5a_0500 + i, 100 + i, "ayuda", Lang::Es);
        store.ingest(rx, s, 1_000 + i64::from(i)).await.unwrap();
    }
    // Triage gives no text less than P2 today: these four are made P3 by hand, as an operator's
    // triage would, with their acknowledgements in the P3 class; and two have names.
    {
        let c = rusqlite::Connection::open(store.path()).unwrap();
        c.execute_batch(
            "UPDATE incidents SET priority = 3;
             UPDATE outbox SET class = 5;
             UPDATE nodes SET short_name = 'Ana4' WHERE num = 1515848960;
             UPDATE nodes SET short_name = 'x,\u{7}y\u{202E}zzzzzzzzz' WHERE num = 1515848961;",
        )
        .unwrap();
    }
    store.surge_tick(2_000).await.unwrap();
    let r = reader(&store);
    let surge = r.surge(&cfg.surge).unwrap().expect("a surge");
    assert_eq!((surge.waiting, surge.estimate_s, surge.grouped), (0, 0, 0));
    assert_eq!(surge.grouped_waiting, 4);
    assert!(
        surge.cause.starts_with("4 replies waiting"),
        "{}",
        surge.cause
    );
    let ev = r.events(None, 0, 100).unwrap();
    assert!(
        ev.iter().any(|e| e.incident.is_none()
            && e.who == "system"
            && e.what == "surge: 4 replies waiting, about 1 min to send one by one; P3/P4 acknowledgements grouped"),
        "{ev:?}"
    );
    // A P1 during the surge is answered directly.
    let (rx, s) = sos(PHONE, 200, "AUXILIO somos 3, una niña", Lang::Es);
    store.ingest(rx, s, 3_000).await.unwrap();
    let items = store.outbox_claim(4_000, 10).await.unwrap();
    assert_eq!(
        items.len(),
        1,
        "only the P1's reply: the P3 ones were dropped"
    );
    assert_eq!(items[0].dest, PHONE);
    store
        .outbox_sent(items[0].row, "r0", 900, 4_000)
        .await
        .unwrap();
    store
        .outbox_delivery("r0", 900, DeliveryOutcome::Acked, 5_000)
        .await
        .unwrap();
    let c = rusqlite::Connection::open(store.path()).unwrap();
    let dropped: i64 = c
        .query_row(
            "SELECT count(*) FROM outbox WHERE state = 'dropped' AND last_error = 'grouped in a broadcast'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dropped, 4);
    // The next tick: one broadcast names all four; nobody waits and the queue is empty, so
    // the surge ends.
    store.surge_tick(32_000).await.unwrap();
    let items = store.outbox_claim(33_000, 10).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].dest, faro_proto::mesh::BROADCAST);
    assert!(!items[0].want_ack);
    let text = String::from_utf8(items[0].payload.clone()).unwrap();
    assert!(
        text.starts_with("Faro: recibimos su SOS: Ana4, xyzzzzzz, 0502, 0503."),
        "{text}"
    );
    assert!(text.len() <= faro_proto::mesh::PAYLOAD_BUDGET);
    assert!(r.surge(&cfg.surge).unwrap().is_none());
    let ev = r.events(None, 0, 100).unwrap();
    assert!(
        ev.iter().any(|e| e
            .what
            .starts_with("surge over after 1 min: 4 senders acknowledged")),
        "{ev:?}"
    );
    let (grouped, sent): (i64, i64) = c
        .query_row(
            "SELECT (SELECT grouped FROM surges), (SELECT count(*) FROM grouped_acks WHERE sent_at = 32000)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((grouped, sent), (4, 4));
}
