//! farod over real TCP sockets on 127.0.0.1 against faro-sim's network API front end, and
//! `farod probe` against it. Real time; every wait bounded.

use std::net::SocketAddr;
use std::time::Duration;

use faro_proto::mesh::BROADCAST;
use faro_sim::{Action, Faults, SimEvent};
use faro_tests::nodes::*;
use faro_tests::*;
use farod::probe::{probe, ProbeOptions};
use farod::radio::{DeliveryOutcome, Outgoing, RadioEventKind, RadioUri, Transport};

const WAIT: Duration = Duration::from_secs(30);

async fn tcp_sim() -> (faro_sim::Sim, SocketAddr) {
    let sim = quiet_sim();
    let addr = sim
        .serve_tcp(SAS, "127.0.0.1:0".parse().unwrap(), Faults::default())
        .await
        .unwrap();
    (sim, addr)
}

#[tokio::test]
async fn handshake_packets_and_acks_over_tcp() {
    init_logging();
    let (sim, addr) = tcp_sim().await;
    let (link, mut rx) = link_over(Transport::Tcp(addr.to_string()), test_link_config("tcp"));
    let info = wait_up(&mut rx, WAIT).await;
    assert_eq!(info.node_num(), SAS);
    sim.act(Action::Text {
        from: P1,
        to: BROADCAST,
        channel: 0,
        text: "ESTADO".into(),
        want_ack: false,
    })
    .await;
    let ((from, body, _), _) = wait_for(&mut rx, WAIT, "P1's text", text_of).await;
    assert_eq!((from, body.as_str()), (P1, "ESTADO"));
    let id = link
        .send(Outgoing::text(P1, 0, "Faro: sin incidentes abiertos"))
        .await
        .unwrap();
    let (outcome, _) = wait_for(&mut rx, WAIT, "the ACK", |k| match k {
        RadioEventKind::Delivery {
            id: got, outcome, ..
        } if *got == id => Some(*outcome),
        _ => None,
    })
    .await;
    assert_eq!(outcome, DeliveryOutcome::Acked);
}

#[tokio::test]
async fn closed_tcp_peer_is_reconnected() {
    init_logging();
    let (sim, addr) = tcp_sim().await;
    let (link, mut rx) = link_over(Transport::Tcp(addr.to_string()), test_link_config("tcp"));
    wait_up(&mut rx, WAIT).await;
    sim.act(Action::Unplug {
        node: SAS,
        for_secs: 1.0,
    })
    .await;
    wait_for(&mut rx, WAIT, "down", |k| {
        matches!(k, RadioEventKind::Down { .. }).then_some(())
    })
    .await;
    wait_up(&mut rx, WAIT).await;
    assert_eq!(link.status().connects, 2);
}

#[tokio::test]
async fn probe_prints_the_node_and_the_packets_it_hears() {
    init_logging();
    let (sim, addr) = tcp_sim().await;
    let opts = ProbeOptions {
        uri: RadioUri::Tcp(addr.to_string()),
        listen: Duration::from_secs(6),
        json: true,
        handshake_timeout: Duration::from_secs(10),
    };
    // The mesh speaks once the probe's handshake is through and the radio is live toward it.
    let mut device = sim.events();
    let talker = {
        let sim = sim.clone();
        tokio::spawn(async move {
            tokio::time::timeout(WAIT, async {
                loop {
                    match device.recv().await {
                        Ok(SimEvent::DeviceState { state, .. }) if state == "send_packets" => break,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(e) => panic!("sim events: {e}"),
                    }
                }
            })
            .await
            .expect("the probe's handshake within the bound");
            sim.act(Action::Text {
                from: P1,
                to: BROADCAST,
                channel: 0,
                text: "AYUDA aquí".into(),
                want_ack: false,
            })
            .await;
        })
    };
    let mut out = Vec::new();
    probe(&opts, &mut out).await.unwrap();
    talker.await.unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["node"], "!5a5a0001");
    assert_eq!(lines[0]["long_name"], "Grupo Beta Sásabe");
    assert_eq!(lines[0]["modem_preset"], "LONG_FAST");
    assert_eq!(lines[0]["nodes_known"], sim.scenario().nodes.len() - 1);
    let text = lines
        .iter()
        .find(|l| l["text"] == "AYUDA aquí")
        .expect("the packet was printed");
    assert_eq!(text["from"], "!5a5a0101");
    assert_eq!(text["portnum"], "TEXT_MESSAGE_APP");
}

#[tokio::test]
async fn probe_of_a_closed_port_fails_with_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = ProbeOptions {
        uri: RadioUri::Tcp(format!("127.0.0.1:{port}")),
        listen: Duration::ZERO,
        json: false,
        handshake_timeout: Duration::from_secs(2),
    };
    let mut out = Vec::new();
    let e = probe(&opts, &mut out).await.unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("cannot connect to tcp:127.0.0.1:{port}: ")),
        "{e}"
    );
    assert!(!e.contains('\n'));
    assert!(out.is_empty());
}
