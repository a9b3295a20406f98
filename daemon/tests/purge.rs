//! Retention on a real database file: nothing is purged before it is due, everything due is
//! purged after, what must stay stays (incidents, counts, consents, an open incident's
//! reporter, the fleet), and no byte of what was purged is left in `faro.db`, `faro.db-wal` or
//! `faro.db-shm`, while the store runs (the WAL is emptied after the purge) and once stopped.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::time::Duration;

use farod::ingest::{Distress, DistressKind, Signal};
use farod::lang::Lang;
use farod::store::query::Reader;
use farod::store::{OperatorRequest, RetentionConfig, Rx, Store, StoreConfig, TeamConfig};

const PHONE: u32 = 0x5a5a_0301; // reports SAS-1, which is closed
const PHONE2: u32 = 0x5a5a_0302; // reports SAS-2, which stays open
const PHONE3: u32 = 0x5a5a_0303; // a stranger chatting, no incident
const PATROL: u32 = 0x5a5a_0101; // the fleet
const DAY: i64 = 86_400_000;
const N: i64 = 10; // retention days
/// 2026-09-01T00:00:00Z: the incident opens.
const T0: i64 = 1_788_220_800_000;
/// It closes an hour later; everything else happened by then.
const T: i64 = T0 + 3_600_000;
/// Every byte string the purge must remove starts with this.
const MARK: &[u8] = b"PURGEMARK";

fn config() -> StoreConfig {
    let mut c = StoreConfig::new("SAS");
    c.teams = vec![TeamConfig {
        name: "P1".into(),
        nodes: vec![PATROL],
        interval: Duration::from_secs(60),
        keys: vec![],
        language: Lang::Es,
    }];
    c.retention = RetentionConfig {
        personal: Duration::from_secs(N as u64 * 86_400),
        messages: Duration::from_secs(N as u64 * 86_400),
        every: Duration::from_secs(3600),
    };
    c
}

fn rx(node: u32, packet_id: u32, text: Option<&str>) -> Rx {
    Rx {
        radio: "r0".into(),
        from: node,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: None,
        text: text.map(str::to_string),
        auth: Default::default(),
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
    (rx(node, packet_id, Some(text)), s)
}

fn names(node: u32, long: &str, short: &str) -> (Rx, Signal) {
    let s = Signal::NodeInfo {
        node,
        long_name: long.into(),
        short_name: short.into(),
        key: None,
        from_radio: true,
    };
    (rx(node, 0, None), s)
}

fn chat(node: u32, packet_id: u32, text: &str) -> (Rx, Signal) {
    let s = Signal::Activity {
        node,
        portnum: faro_proto::mesh::PortNum::TextMessageApp as i32,
        bytes: text.len(),
    };
    (rx(node, packet_id, Some(text)), s)
}

fn db(store: &Store) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// Where `needle` occurs in the database's files (name and offset), if anywhere.
fn find_in_files(path: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let f = format!("{}{suffix}", path.display());
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        for (i, w) in bytes.windows(needle.len()).enumerate() {
            if w == needle {
                let end = (i + 24).min(bytes.len());
                found.push(format!(
                    "{f} @{i}: {}",
                    String::from_utf8_lossy(&bytes[i..end])
                ));
            }
        }
    }
    found
}

fn count(c: &rusqlite::Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Puts in: a closed incident with its conversation, its reporter's names and position, an
/// exact position and sealed personal records; an open incident whose reporter must stay
/// named; a stranger's chat and an operator's text to it; aid given with its own record; an
/// open location request; grouped acknowledgements, a decided municipal answer, an
/// orientation count and consents.
async fn fill(store: &Store) {
    let (r, s) = names(PHONE, "PURGEMARK-NAME Juan", "PMK1");
    store.ingest(r, s, T0).await.unwrap();
    let (r, s) = sos(PHONE, 1, "AUXILIO PURGEMARK-TXT somos 3");
    let o = store.ingest(r, s, T0).await.unwrap();
    assert_eq!(o.incident, Some(("SAS-1".into(), true)));
    store
        .operator(
            "operator:ana",
            OperatorRequest::Position("SAS-1".into(), 31.438_712, -111.797_634),
            T0 + 1_000,
        )
        .await
        .unwrap();
    let (r, s) = names(PHONE2, "KEEPMARK-NAME Rosa", "KMK2");
    store.ingest(r, s, T0).await.unwrap();
    let (r, s) = sos(PHONE2, 2, "AYUDA KEEPMARK-TXT");
    let o = store.ingest(r, s, T0 + 2_000).await.unwrap();
    assert_eq!(o.incident, Some(("SAS-2".into(), true)));
    store
        .operator(
            "operator:ana",
            OperatorRequest::Position("SAS-2".into(), 31.512_345, -111.654_321),
            T0 + 3_000,
        )
        .await
        .unwrap();
    let (r, s) = names(PATROL, "KEEPMARK-FLEET P1", "P1");
    store.ingest(r, s, T0).await.unwrap();
    let (r, s) = names(PHONE3, "PURGEMARK-NAME3 Luis", "PMK3");
    store.ingest(r, s, T).await.unwrap();
    let (r, s) = chat(PHONE3, 3, "hola PURGEMARK-CHAT");
    store.ingest(r, s, T).await.unwrap();
    store
        .operator(
            "operator:ana",
            OperatorRequest::Send(PHONE3, "PURGEMARK-OUT hola".into()),
            T,
        )
        .await
        .unwrap();
    // Everything queued goes on air (a row done with may lose its text; one to send may not).
    for item in store.outbox_claim(T, 100).await.unwrap() {
        store
            .outbox_sent_unacked(item.row, "r0", item.row as u32 + 1000, T)
            .await
            .unwrap();
    }
    store
        .operator(
            "operator:ana",
            OperatorRequest::Close("SAS-1".into(), faro_proto::text::Outcome::Rescued, None),
            T,
        )
        .await
        .unwrap();
    // Tables no API writes yet.
    let c = db(store);
    c.execute_batch(&format!(
        "UPDATE nodes SET lat = 31.4387, lon = -111.7976, alt = 700, position_at = {T0}, precision_bits = 32
          WHERE num IN ({PHONE}, {PHONE2}, {PHONE3}, {PATROL});
         INSERT INTO keyring(id, created_at, wrapped) VALUES (1, {T0}, x'0102');
         INSERT INTO consents(id, subject, given_by, purposes, at, recorded_by)
              VALUES (1, 'SAS-1', 'person', 'casework', {T0}, 'operator:ana'),
                     (2, 'LOC-1', 'requester', 'search', {T0}, 'operator:ana');
         INSERT INTO assistance(id, at, incident, people, recorded_by, recorded_at)
              VALUES (1, {T}, NULL, 4, 'operator:ana', {T});
         INSERT INTO location_requests(id, at, requester_kind, people_sought, state, recorded_by, updated_at)
              VALUES (1, {T0}, 'relative', 1, 'open', 'operator:ana', {T0});
         INSERT INTO disclosures(at, subject, recipient_kind, recipient, reason, profile, fields, consent, digest, by)
              VALUES ({T}, 'SAS-1', 'consulate', 'Consulado', 'KEEPMARK-DISCLOSURE', 'minimal', 'name', 1, 'ab', 'operator:ana');
         INSERT INTO orientations(day, topic, language, count) VALUES ('2026-09-01', 'water', 'es', 7);
         INSERT INTO grouped_acks(node, incident, language, short_name, queued_at, sent_at)
              VALUES ({PHONE3}, NULL, 'es', 'PURGEMARK-GA', {T}, {T});
         INSERT INTO pending_answers(at, node, municipality, text, state, decided_at, decided_by)
              VALUES ({T}, 1, 'Sáric', 'PURGEMARK-ANS sí', 'confirmed', {T}, 'operator:ana');"
    ))
    .unwrap();
    let mut ins = c
        .prepare(
            "INSERT INTO personal_records(subject, field, key, sealed, consent, at, recorded_by)
             VALUES (?1, ?2, 1, ?3, ?4, ?5, 'operator:ana')",
        )
        .unwrap();
    let sealed = |m: &str| {
        let mut b = vec![0xa5u8; 12];
        b.extend_from_slice(m.as_bytes());
        b.extend_from_slice(&[0x5a; 16]);
        b
    };
    for (subject, field, marker, consent) in [
        ("SAS-1", "name", "PURGEMARK-PR1", Some(1)),
        ("SAS-1", "note", "PURGEMARK-PR2", None),
        ("AID-1", "description", "PURGEMARK-PR3", None),
        ("LOC-1", "description", "KEEPMARK-PR4", Some(2)),
    ] {
        ins.execute(rusqlite::params![
            subject,
            field,
            sealed(marker),
            consent,
            T
        ])
        .unwrap();
    }
}

#[tokio::test]
async fn personal_data_goes_when_due_and_leaves_no_byte_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faro.db");
    let (store, thread) = Store::open(&path, config()).unwrap();
    fill(&store).await;
    // Every commit is on disk (WAL, synchronous=FULL): the scan finds the markers before.
    assert!(
        !find_in_files(&path, MARK).is_empty(),
        "the markers are on disk before the purge"
    );

    // A millisecond before it is due: nothing goes.
    let early = store.purge(T + N * DAY - 1).await.unwrap();
    assert_eq!(early.total(), 0, "{early:?}");
    {
        let c = db(&store);
        assert_eq!(count(&c, "SELECT count(*) FROM personal_records"), 4);
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM messages WHERE text LIKE '%PURGEMARK%'"
            ),
            3
        );
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM nodes WHERE long_name LIKE 'PURGEMARK%'"
            ),
            2
        );
        // The timer's purge that found nothing leaves no trace in the audit trail.
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM events WHERE what LIKE 'retention%'"
            ),
            0
        );
    }

    // Just past it: everything due goes, and the WAL is emptied.
    let report = store
        .purge_now(T + N * DAY + 1, "operator:ana")
        .await
        .unwrap();
    assert_eq!(report.personal_records, 3, "{report:?}");
    assert!(report.messages >= 4, "{report:?}"); // SAS-1's text and reply, the chat, the text sent
    assert_eq!(report.nodes, 2, "{report:?}");
    assert_eq!(report.incident_positions, 1, "{report:?}");
    assert_eq!((report.answers, report.grouped_acks), (1, 1), "{report:?}");
    assert!(report.outbox_texts >= 2, "{report:?}");
    assert_eq!(report.personal_before, "2026-09-01T01:00:00Z");
    let wal = std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is emptied after a purge");
    let left = find_in_files(&path, MARK);
    assert!(left.is_empty(), "left behind while running: {left:?}");

    // Due again later: nothing more (the rounding is done once).
    let again = store.purge(T + N * DAY + 2).await.unwrap();
    assert_eq!(again.total(), 0, "{again:?}");

    {
        let c = db(&store);
        // What stays: the incidents, rounded to about 1 km; the open one's conversation and
        // reporter; the fleet; the counts; consents and disclosures; what is not yet due.
        let (state, lat, lon, bits): (String, f64, f64, u32) = c
            .query_row(
                "SELECT state, lat, lon, precision_bits FROM incidents WHERE id = 'SAS-1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (state.as_str(), lat, lon, bits),
            ("closed", 31.44, -111.8, 16)
        );
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM incidents WHERE id = 'SAS-2' AND state != 'closed'"
            ),
            1
        );
        let kept: Vec<String> = c
            .prepare("SELECT long_name FROM nodes WHERE long_name IS NOT NULL ORDER BY num")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kept, ["KEEPMARK-FLEET P1", "KEEPMARK-NAME Rosa"]);
        assert_eq!(
            count(
                &c,
                &format!("SELECT count(*) FROM nodes WHERE num = {PHONE2} AND lat IS NOT NULL")
            ),
            1
        );
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM messages WHERE text LIKE '%KEEPMARK-TXT%'"
            ),
            1
        );
        assert_eq!(
            count(&c, "SELECT count FROM orientations WHERE topic = 'water'"),
            7
        );
        assert_eq!(count(&c, "SELECT count(*) FROM consents"), 2);
        assert_eq!(count(&c, "SELECT count(*) FROM disclosures"), 1);
        assert_eq!(count(&c, "SELECT count(*) FROM assistance"), 1);
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM personal_records WHERE subject = 'LOC-1'"
            ),
            1
        );
        // One event says what went, in counts only.
        let what: String = c
            .query_row(
                "SELECT what FROM events WHERE what LIKE 'retention%' AND incident IS NULL
                    AND who = 'operator:ana' AND via = 'faroctl'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(what.contains("3 personal records"), "{what}");
        assert!(!what.contains("PURGEMARK"), "{what}");
        // The outbox rows of what was said are still there (their delivery is history), empty.
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM outbox WHERE incident = 'SAS-1' AND length(payload) > 0"
            ),
            0
        );
        // The reader still lists the closed incident.
        let r = Reader::open(&path).unwrap();
        assert!(r.incident("SAS-1").unwrap().is_some());
    }

    // Stopped: the files hold nothing of it either.
    drop(store);
    thread.join().unwrap();
    let left = find_in_files(&path, MARK);
    assert!(left.is_empty(), "left behind once stopped: {left:?}");
    assert!(
        !find_in_files(&path, b"KEEPMARK-PR4").is_empty(),
        "the scan finds what is still there"
    );
}

#[tokio::test]
async fn nothing_is_purged_that_is_not_due() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faro.db");
    let (store, _thread) = Store::open(&path, config()).unwrap();
    fill(&store).await;
    // Long after, but SAS-2 is still open: its reporter, texts and position stay.
    let report = store.purge(T + 400 * DAY).await.unwrap();
    assert!(report.total() > 0);
    let c = db(&store);
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM nodes WHERE num = {PHONE2} AND long_name IS NOT NULL AND lat IS NOT NULL")),
        1
    );
    let (lat, bits): (f64, Option<u32>) = c
        .query_row(
            "SELECT lat, precision_bits FROM incidents WHERE id = 'SAS-2'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(lat, 31.512_345, "an open incident keeps its exact position");
    assert_ne!(bits, Some(16));
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM messages WHERE text LIKE '%KEEPMARK-TXT%'"
        ),
        1
    );
    // The open location request keeps its record; the closed incident's went.
    assert_eq!(
        count(
            &c,
            "SELECT group_concat(subject) = 'LOC-1' FROM personal_records"
        ),
        1
    );
}

#[tokio::test]
async fn casework_records_go_once_their_subject_ended_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faro.db");
    let (store, _thread) = Store::open(&path, config()).unwrap();
    fill(&store).await;
    let later = T + 5 * DAY;
    let c = db(&store);
    c.execute_batch(&format!(
        "INSERT INTO consents(id, subject, given_by, purposes, at, recorded_by)
              VALUES (3, 'CMP-1', 'person', 'complaint', {T0}, 'operator:ana'),
                     (4, 'CMP-2', 'person', 'complaint', {T0}, 'operator:ana');
         INSERT INTO complaints(id, at, category, status, consent, recorded_by, updated_at, lat, lon)
              VALUES (1, {T0}, 'robbery', 'closed', 3, 'operator:ana', {T}, 31.47463, -111.54485),
                     (2, {T0}, 'extortion', 'referred', 4, 'operator:ana', {T}, 31.47463, -111.54485);
         INSERT INTO location_requests(id, at, requester_kind, people_sought, state, outcome,
                                       closed_at, recorded_by, updated_at)
              VALUES (2, {T0}, 'consulate', 1, 'closed', 'found_alive', {T}, 'operator:ana', {T}),
                     (3, {T0}, 'relative', 1, 'closed', 'not_found', {later}, 'operator:ana', {later});
         INSERT INTO assistance(id, at, incident, people, recorded_by, recorded_at)
              VALUES (2, {T}, 'SAS-2', 2, 'operator:ana', {T}),
                     (3, {T}, 'SAS-1', 1, 'operator:ana', {T});"
    ))
    .unwrap();
    let mut ins = c
        .prepare(
            "INSERT INTO personal_records(subject, field, key, sealed, at, recorded_by)
             VALUES (?1, 'note', 1, x'00', ?2, 'operator:ana')",
        )
        .unwrap();
    for subject in ["CMP-1", "CMP-2", "LOC-2", "LOC-3", "AID-2", "AID-3"] {
        ins.execute(rusqlite::params![subject, T]).unwrap();
    }
    let subjects = |c: &rusqlite::Connection| -> Vec<String> {
        c.prepare("SELECT DISTINCT subject FROM personal_records ORDER BY subject")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // Due for what ended at T: the closed complaint, the location request closed at T, aid
    // given with no incident or with a closed one, the closed incident. Not: a complaint still
    // referred, a request closed later, aid given during an incident still open, an open request.
    store.purge(T + N * DAY + 1).await.unwrap();
    assert_eq!(
        subjects(&c),
        ["AID-2", "CMP-2", "LOC-1", "LOC-3"],
        "what is not yet due stays"
    );
    // Where a closed complaint happened is kept as its area; an open one's stays exact.
    let at = |id: i64| -> (f64, f64) {
        c.query_row("SELECT lat, lon FROM complaints WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    };
    assert_eq!(at(1), (31.47, -111.54));
    assert_eq!(at(2), (31.47463, -111.54485));
    // Once the later request is due too, it goes.
    store.purge(later + N * DAY + 1).await.unwrap();
    assert_eq!(subjects(&c), ["AID-2", "CMP-2", "LOC-1"]);
    // Consents stay: the accountability record.
    assert_eq!(count(&c, "SELECT count(*) FROM consents"), 4);
}

#[tokio::test]
async fn a_reader_holding_old_pages_delays_the_scrub_to_the_next_purge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faro.db");
    let (store, thread) = Store::open(&path, config()).unwrap();
    fill(&store).await;
    // A reader in the middle of a read transaction keeps the snapshot with the markers.
    let reader = db(&store);
    reader.execute_batch("BEGIN").unwrap();
    assert!(count(&reader, "SELECT count(*) FROM personal_records") > 0);
    let report = store
        .purge_now(T + N * DAY + 1, "operator:ana")
        .await
        .unwrap();
    assert!(report.total() > 0);
    let wal = || std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
    assert!(wal() > 0, "the reader kept the WAL");
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    // The next purge finds nothing new, and scrubs what the last one could not.
    let again = store.purge(T + N * DAY + 2).await.unwrap();
    assert_eq!(again.total(), 0);
    assert_eq!(wal(), 0);
    let left = find_in_files(&path, MARK);
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(store);
    thread.join().unwrap();
}
