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
fn headquarters(port: u16) -> mpsc::UnboundedReceiver<(String, Message)> {
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
                    let m: Message = serde_json::from_str(&text).unwrap();
                    assert!(p.topic.starts_with("faro/v1/SAS/"), "{}", p.topic);
                    if tx.send((text, m)).is_err() {
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

/// The next message about incident `id` for which `cond` holds (bounded).
async fn until_incident(
    rx: &mut mpsc::UnboundedReceiver<(String, Message)>,
    id: &str,
    mut cond: impl FnMut(&farod::uplink::message::IncidentState) -> bool,
) -> (String, Message) {
    tokio::time::timeout(WAIT, async {
        loop {
            let (text, m) = rx.recv().await.unwrap();
            if let Payload::Incident(i) = &m.payload {
                if i.id == id && cond(i) {
                    return (text, m);
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no message about {id} within {WAIT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sos_reaches_headquarters_and_a_broker_restart_loses_nothing() {
    if !mosquitto_present() {
        return;
    }
    init_logging();
    let mut broker = Broker::start();
    let mut hq = headquarters(broker.port);
    let sim = quiet_sim();
    let url = broker.url();
    let d = station_with(&sim, 1, tempfile::tempdir().unwrap(), |cfg| {
        cfg.uplink = Some(UplinkConfig::from_url(&url).unwrap());
    })
    .await;

    // A plea through the mesh: headquarters hears of the incident, and of nothing personal.
    sim.act(text(CEL1, BROADCAST, PLEA)).await;
    let (raw, first) = until_incident(&mut hq, "SAS-1", |i| i.state == "new").await;
    assert_eq!(
        (first.schema.as_str(), first.station.as_str()),
        ("faro/v1", "SAS")
    );
    let Payload::Incident(inc) = &first.payload else {
        unreachable!()
    };
    assert_eq!((inc.priority, inc.kind.as_str()), (1, "medical"));
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
    tokio::time::sleep(Duration::from_secs(2)).await;

    // It comes back: what waited arrives, in order, and the backlog empties.
    broker.up();
    let (_, assigned) = until_incident(&mut hq, "SAS-1", |i| i.team.as_deref() == Some("P1")).await;
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
    d.station.stop().await;
}
