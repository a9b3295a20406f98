//! Message texts are kept in the conversation and never in the logs: a whole station against
//! the simulated mesh under paused time, every log line of farod (down to TRACE, from every
//! thread, the store's writer included) captured in a buffer. A distress text, a command from
//! a stranger and an operator's text each carry a marker word; the marker must be in the
//! database (what the control socket serves) and nowhere in the logs.
//!
//! A test binary of its own: the log subscriber is process-wide, so that lines from the
//! writer thread and the blocking pool are captured too.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faro_proto::mesh::BROADCAST;
use faro_sim::Action;
use faro_tests::desk::*;
use faro_tests::*;
use farod::store::OperatorRequest;

const MINUTE: Duration = Duration::from_secs(60);
/// A word nobody types by accident.
const MARKER: &str = "ZAFIRO7731";
/// A phone in distress, and one that is not a patrol.
const PHONE: u32 = 0x5a5a_0301;
const OTHER_PHONE: u32 = 0x5a5a_0302;
/// Patrol P1's node.
const PATROL: u32 = 0x5a5a_0101;

/// Everything logged, as written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(start_paused = true)]
async fn message_texts_are_in_the_conversation_and_never_in_the_logs() {
    let logs = Captured::default();
    let sink = logs.clone();
    // farod's every line (the simulator's own debug lines are the test tool's, not farod's).
    tracing_subscriber::fmt()
        .with_env_filter("farod=trace,faro_proto=trace")
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();

    let sim = quiet_sim();
    let mut sim_events = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(Action::Text {
        from: PHONE,
        to: BROADCAST,
        channel: 0,
        text: format!("AUXILIO somos 3 {MARKER}"),
        want_ack: false,
    })
    .await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    received(&mut sim_events, PHONE, "Faro SAS-1").await;
    // A command from a node that is no patrol: refused, and the writer logs the refusal.
    sim.act(Action::Text {
        from: OTHER_PHONE,
        to: BROADCAST,
        channel: 0,
        text: format!("NOTA SAS-1 {MARKER}"),
        want_ack: false,
    })
    .await;
    d.station
        .store
        .operator(
            "operator:ana",
            OperatorRequest::Send(OTHER_PHONE, format!("¿quién es? {MARKER}")),
            d.station.clock.now_ms(),
        )
        .await
        .unwrap();
    // An operator's note, a consent and a personal record, shown and disclosed: sealed values,
    // and the trail says only that they exist.
    let at = d.station.clock.now_ms();
    d.station
        .store
        .operator(
            "ana",
            OperatorRequest::Note("SAS-1".into(), format!("la madre llamó {MARKER}")),
            at,
        )
        .await
        .unwrap();
    {
        use farod::casework::request::{CaseRequest, Disclosure};
        use farod::casework::{Field, GivenBy, Purpose, RecipientKind, Subject};
        let subject = Subject::Incident("SAS-1".into());
        let store = &d.station.store;
        let consent = store
            .casework(
                "ana",
                CaseRequest::Consent {
                    subject: subject.clone(),
                    given_by: GivenBy::Person,
                    purposes: vec![Purpose::Record, Purpose::Consulate],
                },
                at,
            )
            .await
            .unwrap()["consent"]
            .as_i64()
            .unwrap();
        let req = |field, value: String| CaseRequest::PersonalAdd {
            subject: subject.clone(),
            field,
            value,
            consent,
        };
        store
            .casework("ana", req(Field::Name, format!("Rosa {MARKER}")), at)
            .await
            .unwrap();
        let shown = store
            .casework(
                "ana",
                CaseRequest::PersonalShow {
                    subject: subject.clone(),
                },
                at,
            )
            .await
            .unwrap();
        assert_eq!(shown["records"][1]["value"], format!("Rosa {MARKER}"));
        let given = store
            .casework(
                "ana",
                CaseRequest::Disclose(Disclosure {
                    subject: subject.clone(),
                    recipient_kind: RecipientKind::Consulate,
                    recipient: "Consulado".into(),
                    reason: "familia".into(),
                    fields: None,
                }),
                at,
            )
            .await
            .unwrap();
        assert!(given["export"].as_str().unwrap().contains(MARKER));
        let trail = show(&d, "SAS-1").events.unwrap();
        assert!(trail.iter().all(|e| !e.what.contains(MARKER)), "{trail:?}");
    }
    // A question (answered: the station has no position for this phone) and a patrol's note.
    sim.act(Action::Text {
        from: OTHER_PHONE,
        to: BROADCAST,
        channel: 0,
        text: format!("donde hay agua {MARKER}"),
        want_ack: false,
    })
    .await;
    sim.act(Action::Text {
        from: PATROL,
        to: BROADCAST,
        channel: 0,
        text: format!("seguimos la ruta norte, todo tranquilo {MARKER}"),
        want_ack: false,
    })
    .await;
    let r = reader(&d);
    let deadline = tokio::time::Instant::now() + 2 * MINUTE;
    while r.loose_messages(Some(OTHER_PHONE), 0, 10).unwrap().len() < 4
        || r.loose_messages(Some(PATROL), 0, 10).unwrap().is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stranger's text: {:?} {:?}",
            r.loose_messages(Some(OTHER_PHONE), 0, 10).unwrap(),
            r.loose_messages(Some(PATROL), 0, 10).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The conversation has every text, as heard and as sent.
    let conv = show(&d, "SAS-1").messages.unwrap();
    assert_eq!(conv[0].direction, "in");
    assert_eq!(conv[0].text, format!("AUXILIO somos 3 {MARKER}"));
    assert_eq!(conv[0].understood.as_deref(), Some("distress"));
    assert!(
        conv.iter()
            .any(|m| m.direction == "out" && m.text.starts_with("Faro SAS-1")),
        "{conv:?}"
    );
    let loose = r.loose_messages(Some(OTHER_PHONE), 0, 10).unwrap();
    let texts: Vec<&str> = loose.iter().map(|m| m.text.as_str()).collect();
    assert!(
        texts.contains(&format!("NOTA SAS-1 {MARKER}").as_str()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&format!("¿quién es? {MARKER}").as_str()),
        "{texts:?}"
    );
    assert!(
        loose
            .iter()
            .any(|m| m.understood.as_deref() == Some("orient_need_position")),
        "{loose:?}"
    );
    d.station.stop().await;

    // The logs said what happened, and not what anybody wrote.
    let logs = logs.text();
    assert!(logs.contains("distress: incident opened"), "{logs}");
    // Down to the link's debug lines about every packet.
    assert!(logs.contains("packet read"), "{logs}");
    assert!(
        logs.contains("command from an unregistered node refused"),
        "{logs}"
    );
    assert!(
        !logs.contains(MARKER),
        "a message text reached the logs:\n{}",
        logs.lines()
            .filter(|l| l.contains(MARKER))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!logs.contains("AUXILIO somos 3"), "{logs}");
}
