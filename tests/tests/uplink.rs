//! The uplink to headquarters against a real Mosquitto (Debian's `mosquitto`, started here on
//! 127.0.0.1 with a generated configuration, no system service): a whole station and faro-sim
//! in real time, and a subscriber standing for headquarters.
//!
//! Without `mosquitto` installed the tests say so and pass, unless `FARO_REQUIRE_MOSQUITTO` or
//! `CI` is set (`.ci/run` installs it and sets the first).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faro_proto::mesh::BROADCAST;
use faro_tests::desk::*;
use faro_tests::*;
use farod::uplink::message::{Message, Payload};
use farod::uplink::UplinkConfig;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(40);
const CEL1: u32 = 0x5a5a_0301;
const PLEA: &str = "alluda porfa mi hijo no respira";

fn mosquitto_present() -> bool {
    let present = Path::new(MOSQUITTO).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none()
                && std::env::var_os("FARO_REQUIRE_MOSQUITTO").is_none(),
            "{MOSQUITTO} is missing (.ci/run installs mosquitto)"
        );
        eprintln!("skipped: {MOSQUITTO} is missing (apt-get install mosquitto)");
    }
    present
}

/// A broker of our own on 127.0.0.1, killed when dropped.
struct Broker {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut b = Broker {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        b.up();
        b
    }

    /// Starts the broker (again) on its port; returns once it accepts connections.
    fn up(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\n",
                self.port
            ),
        )
        .unwrap();
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < WAIT, "mosquitto did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the broker as a crash would.
    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.down();
    }
}

/// Headquarters: every message under `faro/v1/#`, decoded, with its raw text; it subscribes
/// again after each reconnection.
/// What headquarters heard: a message of the station's schema, a CAP alert, a CoT event.
#[derive(Debug)]
enum Heard {
    Message(Box<Message>),
    Cap,
    Cot,
}

fn headquarters(port: u16) -> mpsc::UnboundedReceiver<(String, Heard)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut opts = MqttOptions::new("hq-test", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut ev) = AsyncClient::new(opts, 16);
    tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client
                        .subscribe("faro/v1/#", QoS::AtLeastOnce)
                        .await
                        .unwrap();
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let text = String::from_utf8(p.payload.to_vec()).unwrap();
                    let feed = match p.topic.as_str() {
                        "faro/v1/SAS/incidents" | "faro/v1/SAS/teams" => {
                            let m: Message = serde_json::from_str(&text).unwrap();
                            Heard::Message(Box::new(m))
                        }
                        "faro/v1/SAS/cap" => Heard::Cap,
                        "faro/v1/SAS/cot" => Heard::Cot,
                        other => panic!("unexpected topic {other}"),
                    };
                    if tx.send((text, feed)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    rx
}

/// The next message about incident `id` for which `cond` holds (bounded); the CAP alerts
/// and CoT events heard on the way are kept in `feeds`.
async fn until_incident(
    rx: &mut mpsc::UnboundedReceiver<(String, Heard)>,
    feeds: &mut Vec<(String, Heard)>,
    id: &str,
    mut cond: impl FnMut(&farod::uplink::message::IncidentState) -> bool,
) -> (String, Message) {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await.unwrap() {
                (text, Heard::Message(m)) => {
                    if let Payload::Incident(i) = &m.payload {
                        if i.id == id && cond(i) {
                            return (text, *m);
                        }
                    }
                }
                other => feeds.push(other),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no message about {id} within {WAIT:?}"))
}

/// Every CAP alert heard validates against the OASIS CAP 1.2 schema (when xmllint is here).
fn validate_cap(feeds: &[(String, Heard)]) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cap/CAP-v1.2.xsd");
    let has_xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    let dir = tempfile::tempdir().unwrap();
    for (n, (text, _)) in feeds
        .iter()
        .filter(|(_, h)| matches!(h, Heard::Cap))
        .enumerate()
    {
        assert!(text.contains("<scope>Restricted</scope>"), "{text}");
        if !has_xmllint {
            continue;
        }
        let file = dir.path().join(format!("alert-{n}.xml"));
        std::fs::write(&file, text).unwrap();
        let out = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sos_reaches_headquarters_and_a_broker_restart_loses_nothing() {
    if !mosquitto_present() {
        return;
    }
    init_logging();
    let mut broker = Broker::start();
    let mut hq = headquarters(broker.port);
    // Headquarters itself (faro-hq's loop, in process), on its own database.
    let hq_dir = tempfile::tempdir().unwrap();
    let hq_db = hq_dir.path().join("hq.db");
    let (hq_stop, hq_stopped) = tokio::sync::watch::channel(false);
    let hq_task = tokio::spawn(faro_hq::run(
        broker.url(),
        "faro-hq-test".into(),
        faro_hq::Hq::open(&hq_db).unwrap(),
        hq_stopped,
    ));
    let sim = quiet_sim();
    let url = broker.url();
    let d = station_with(&sim, 1, tempfile::tempdir().unwrap(), |cfg| {
        cfg.uplink = Some(UplinkConfig::from_url(&url).unwrap());
    })
    .await;

    // A phone shares its position, then pleads through the mesh: headquarters hears of the
    // incident, and of nothing personal.
    sim.act(faro_sim::Action::Position {
        node: CEL1,
        lat: 31.42073,
        lon: -111.75547,
        alt: None,
    })
    .await;
    until(&d, WAIT, "the position recorded", |d| {
        reader(d)
            .nodes(100)
            .unwrap()
            .iter()
            .any(|n| n.node == "!5a5a0301" && n.lat.is_some())
    })
    .await;
    sim.act(text(CEL1, BROADCAST, PLEA)).await;
    let mut feeds = Vec::new();
    let (raw, first) = until_incident(&mut hq, &mut feeds, "SAS-1", |i| i.state == "new").await;
    assert_eq!(
        (first.schema.as_str(), first.station.as_str()),
        ("faro/v1", "SAS")
    );
    let Payload::Incident(inc) = &first.payload else {
        unreachable!()
    };
    assert_eq!((inc.priority, inc.kind.as_str()), (1, "medical"));
    assert_eq!(
        (inc.lat, inc.lon),
        (Some(31.421), Some(-111.755)),
        "about 100 m, no closer"
    );
    for personal in [
        "alluda", "respira", "hijo", "5a5a0301", "Celular", "said", "reporter",
    ] {
        assert!(!raw.contains(personal), "{personal:?} went up: {raw}");
    }

    // The broker dies. Meanwhile the desk acknowledges and assigns: the changes wait.
    broker.down();
    for req in [
        farod::store::OperatorRequest::Ack("SAS-1".into()),
        farod::store::OperatorRequest::Assign("SAS-1".into(), "P1".into()),
    ] {
        d.station
            .store
            .operator("ana", req, d.station.clock.now_ms())
            .await
            .unwrap();
    }
    let waiting = reader(&d).uplink_status().unwrap();
    assert!(waiting.backlog >= 2, "{waiting:?}");
    // The station knows its link is down (STATUS says so), and works on.
    let started = Instant::now();
    while d.station.uplink.borrow().connected {
        assert!(started.elapsed() < WAIT, "the link still looks up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // It comes back: what waited arrives, in order, and the backlog empties.
    broker.up();
    let (_, assigned) = until_incident(&mut hq, &mut feeds, "SAS-1", |i| {
        i.team.as_deref() == Some("P1")
    })
    .await;
    assert!(assigned.seq > first.seq);
    let started = Instant::now();
    loop {
        let s = reader(&d).uplink_status().unwrap();
        if s.backlog == 0 && s.acked >= assigned.seq {
            break;
        }
        assert!(started.elapsed() < WAIT, "the backlog did not empty: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(d.station.uplink.borrow().connected);
    // The CAP alerts and CoT events of those changes, on their own topics: the first alert,
    // then updates referencing it; each valid against the CAP 1.2 schema; nothing personal.
    let started = Instant::now();
    while !feeds
        .iter()
        .any(|(t, h)| matches!(h, Heard::Cap) && t.contains("<msgType>Update</msgType>"))
    {
        assert!(started.elapsed() < WAIT, "CAP alerts: {feeds:?}");
        if let Ok(Some(h)) = tokio::time::timeout(Duration::from_secs(1), hq.recv()).await {
            feeds.push(h);
        }
    }
    let caps: Vec<&String> = feeds
        .iter()
        .filter(|(_, h)| matches!(h, Heard::Cap))
        .map(|(t, _)| t)
        .collect();
    // Delivery is at least once: an alert may come twice, always the same alert.
    assert!(caps[0].contains("<msgType>Alert</msgType>"), "{}", caps[0]);
    for c in &caps {
        if c.contains("<identifier>faro-SAS-SAS-1-0</identifier>") {
            assert_eq!(
                *c, caps[0],
                "the first alert, sent again, must say the same"
            );
        } else {
            assert!(c.contains("<msgType>Update</msgType>"), "{c}");
            assert!(c.contains("<references>faro@sas,faro-SAS-SAS-1-0,"), "{c}");
        }
    }
    assert!(
        feeds
            .iter()
            .any(|(t, h)| matches!(h, Heard::Cot) && t.contains("type=\"b-a-o-tbl\"")),
        "{feeds:?}"
    );
    for (text, _) in &feeds {
        for personal in ["alluda", "porfa", "hijo", "5a5a0301", "Celular"] {
            assert!(!text.contains(personal), "{personal:?} went up: {text}");
        }
    }
    validate_cap(&feeds);

    // Headquarters applied it all, once: SAS-1 assigned to P1, as the newest message said.
    let national = |what: &str| {
        let started = Instant::now();
        loop {
            let hq = faro_hq::Hq::open(&hq_db).unwrap();
            let open = hq.open_incidents().unwrap();
            if open
                .iter()
                .any(|n| n.incident.team.as_deref() == Some("P1"))
            {
                return (open, hq.gaps("SAS").unwrap());
            }
            assert!(
                started.elapsed() < WAIT,
                "{what}: headquarters has {open:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (open, gaps) = national("the assignment");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        (open[0].station.as_str(), open[0].incident.id.as_str()),
        ("SAS", "SAS-1")
    );
    assert_eq!(open[0].seq, assigned.seq);
    assert_eq!(gaps, [], "nothing missing");
    // A replay of the first message (someone publishing it again) changes nothing.
    let mut opts = MqttOptions::new("replayer", "127.0.0.1", broker.port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (replayer, mut ev) = AsyncClient::new(opts, 4);
    replayer
        .publish(
            "faro/v1/SAS/incidents",
            QoS::AtLeastOnce,
            false,
            raw.clone().into_bytes(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        if let Ok(Event::Incoming(Packet::PubAck(_))) = ev.poll().await {
            break;
        }
        assert!(started.elapsed() < WAIT, "the replay was not published");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (again, _) = national("after the replay");
    assert_eq!(again, open, "a replayed message changed headquarters");
    hq_stop.send(true).unwrap();
    hq_task.await.unwrap().unwrap();
    d.station.stop().await;
}
