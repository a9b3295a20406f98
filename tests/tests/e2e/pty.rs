//! farod as a serial client on a real pseudo-terminal served by faro-sim, including a radio
//! unplugged and plugged back at the same by-id style symlink. Real time; every wait bounded.

use std::time::Duration;

use faro_proto::mesh::BROADCAST;
use faro_sim::{Action, Faults};
use faro_tests::nodes::*;
use faro_tests::*;
use farod::radio::{RadioEventKind, Transport};

const WAIT: Duration = Duration::from_secs(30);

fn by_id_link(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faro-e2e-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("usb-RAKwireless_WisCore_RAK4631_Board_SAS-if00")
}

#[tokio::test]
async fn serial_link_over_a_pty_survives_unplug_and_return() {
    init_logging();
    let sim = quiet_sim();
    let link_path = by_id_link("unplug");
    let _ = std::fs::remove_file(&link_path);
    sim.serve_pty(
        SAS,
        Some(link_path.clone()),
        Faults {
            log_text: true,
            ..Faults::default()
        },
    )
    .unwrap();
    let (link, mut rx) = link_over(
        Transport::Serial(link_path.clone()),
        test_link_config("usb"),
    );
    let info = wait_up(&mut rx, WAIT).await;
    assert_eq!(info.node_num(), SAS);
    assert_eq!(info.nodes_known, sim.scenario().nodes.len() - 1);

    sim.act(Action::Text {
        from: P2,
        to: BROADCAST,
        channel: 0,
        text: "SOCORRO —É".into(),
        want_ack: false,
    })
    .await;
    let ((from, body, _), _) = wait_for(&mut rx, WAIT, "P2's text", text_of).await;
    assert_eq!((from, body.as_str()), (P2, "SOCORRO —É"));

    sim.act(Action::Unplug {
        node: SAS,
        for_secs: 2.0,
    })
    .await;
    wait_for(&mut rx, WAIT, "down", |k| {
        matches!(k, RadioEventKind::Down { .. }).then_some(())
    })
    .await;
    wait_up(&mut rx, WAIT).await;
    assert_eq!(link.status().connects, 2);
    assert!(
        link.status().log_bytes > 0,
        "device log text between frames was seen"
    );
    sim.act(Action::Text {
        from: P1,
        to: BROADCAST,
        channel: 0,
        text: "de vuelta".into(),
        want_ack: false,
    })
    .await;
    let ((from, body, _), _) = wait_for(&mut rx, WAIT, "a text after the return", text_of).await;
    assert_eq!((from, body.as_str()), (P1, "de vuelta"));
    let _ = std::fs::remove_dir_all(link_path.parent().unwrap());
}

#[tokio::test]
async fn a_port_held_by_another_program_is_reported_busy() {
    init_logging();
    let sim = quiet_sim();
    let link_path = by_id_link("busy");
    let _ = std::fs::remove_file(&link_path);
    sim.serve_pty(SAS, Some(link_path.clone()), Faults::default())
        .unwrap();
    let (_link, mut rx) = link_over(
        Transport::Serial(link_path.clone()),
        test_link_config("usb"),
    );
    wait_up(&mut rx, WAIT).await;
    // farod opens serial ports exclusively (TIOCEXCL): a second opener is refused.
    let err = Transport::Serial(link_path.clone())
        .open()
        .await
        .err()
        .expect("the port is taken");
    let line = err.to_string();
    assert!(
        line.starts_with(&format!(
            "cannot open serial port {}: port busy",
            link_path.display()
        )),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(link_path.parent().unwrap());
}
