//! People, not keywords, end to end: phones of the built-in scenario write the way people
//! write, through the simulated mesh, into a whole station on a real SQLite file, under paused
//! time. What the station opened, asked and answered is read back from the database and from
//! what the phones received.

use std::time::Duration;

use faro_proto::mesh::BROADCAST;
use faro_tests::desk::*;
use faro_tests::*;

const MINUTE: Duration = Duration::from_secs(60);
/// "Celular Migrante", 5 km from tower T7.
const CEL1: u32 = 0x5a5a_0301;
/// "Telefòn Vwayajè".
const CEL2: u32 = 0x5a5a_0302;

#[tokio::test(start_paused = true)]
async fn a_misspelt_call_opens_an_incident_and_a_negation_does_not() {
    init_logging();
    let sim = quiet_sim();
    let mut heard = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(text(CEL2, BROADCAST, "no necesito ayuda, gracias"))
        .await;
    sim.act(text(CEL1, BROADCAST, "alluda porfa mi hijo no respira"))
        .await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    let inc = show(&d, "SAS-1");
    assert_eq!(inc.reporter.as_deref(), Some("!5a5a0301"));
    assert_eq!((inc.kind.as_str(), inc.priority), ("medical", 1));
    assert!(inc.flags.contains(&"not_breathing".to_string()), "{inc:?}");
    // The words that decided are among the priority reasons the desk sees.
    assert!(
        inc.priority_why
            .iter()
            .any(|w| w == "said \"no respira\": not breathing"),
        "{:?}",
        inc.priority_why
    );
    // The first answer is honest: heard, stay, send your position; no "help on the way".
    let reply = received(&mut heard, CEL1, "Faro SAS-1").await;
    assert!(
        reply.contains("escuchó") && reply.contains("ubicación"),
        "{reply}"
    );
    // Give the negation every chance to have been taken for a call: still one incident.
    tokio::time::sleep(5 * MINUTE).await;
    assert_eq!(incidents(&d).len(), 1);
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_unclear_message_is_asked_once_and_the_answer_opens_the_incident() {
    init_logging();
    let sim = quiet_sim();
    let mut heard = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(text(CEL1, BROADCAST, "estamos muy cansados")).await;
    let asked = received(&mut heard, CEL1, "Faro: ¿Necesita ayuda?").await;
    assert!(asked.contains("SOS"), "{asked}");
    assert!(incidents(&d).is_empty(), "no incident on a guess");
    // Asked once: a second unclear message is only recorded.
    sim.act(text(CEL1, BROADCAST, "hay alguien?")).await;
    until(&d, 2 * MINUTE, "the second unclear message recorded", |d| {
        reader(d)
            .events(None, 0, 100)
            .unwrap()
            .iter()
            .any(|e| e.what.contains("already asked"))
    })
    .await;
    sim.act(text(CEL1, BROADCAST, "SOS")).await;
    until(&d, 2 * MINUTE, "the answer opens it", |d| {
        !incidents(d).is_empty()
    })
    .await;
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_follow_up_raises_the_priority_with_its_reason() {
    init_logging();
    let sim = quiet_sim();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(text(CEL1, BROADCAST, "AUXILIO")).await;
    until(&d, 2 * MINUTE, "an incident", |d| !incidents(d).is_empty()).await;
    assert_eq!(show(&d, "SAS-1").priority, 2);
    sim.act(text(
        CEL1,
        BROADCAST,
        "somos 3, una señora embarazada esta sangrando",
    ))
    .await;
    until(&d, 2 * MINUTE, "the follow-up read", |d| {
        show(d, "SAS-1").priority == 1
    })
    .await;
    let inc = show(&d, "SAS-1");
    assert_eq!(inc.people, Some(3));
    assert!(inc.flags.contains(&"bleeding".to_string()), "{inc:?}");
    assert!(inc.flags.contains(&"pregnant".to_string()), "{inc:?}");
    let follow = inc
        .events
        .unwrap()
        .into_iter()
        .find(|e| e.what.starts_with("follow-up:"))
        .expect("a follow-up event");
    assert!(
        follow.what.contains("P2 -> P1") && follow.what.contains("sangrando"),
        "{}",
        follow.what
    );
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_portuguese_speaker_is_answered_in_portuguese_even_for_a_bare_sos() {
    init_logging();
    let sim = quiet_sim();
    let mut heard = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    sim.act(text(CEL2, BROADCAST, "socorro a gente ta perdido"))
        .await;
    let first = received(&mut heard, CEL2, "Faro SAS-1").await;
    assert!(first.contains("estação"), "{first}");
    assert_eq!(show(&d, "SAS-1").language, "pt");
    // The incident is closed; later the same phone sends only "SOS".
    d.station
        .store
        .operator(
            "ana",
            farod::store::OperatorRequest::Close(
                "SAS-1".into(),
                faro_proto::text::Outcome::Rescued,
                None,
            ),
            0,
        )
        .await
        .unwrap();
    sim.act(text(CEL2, BROADCAST, "SOS")).await;
    let second = received(&mut heard, CEL2, "Faro SAS-2").await;
    assert!(second.contains("estação"), "{second}");
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_bare_sos_is_answered_in_the_language_the_phone_wrote_before() {
    init_logging();
    let sim = quiet_sim();
    let mut heard = sim.events();
    let d = station(&sim, 1, tempfile::tempdir().unwrap()).await;
    // Not an emergency, but Portuguese: the station remembers how this phone writes.
    sim.act(text(CEL2, BROADCAST, "oi, tudo bem? chegamos no abrigo"))
        .await;
    tokio::time::sleep(MINUTE).await;
    assert!(incidents(&d).is_empty());
    sim.act(text(CEL2, BROADCAST, "SOS")).await;
    let reply = received(&mut heard, CEL2, "Faro SAS-1").await;
    assert!(reply.contains("estação"), "{reply}");
    d.station.stop().await;
}

#[tokio::test(start_paused = true)]
async fn water_is_answered_with_the_nearest_water_point_from_the_senders_position() {
    init_logging();
    let sim = quiet_sim();
    let mut heard = sim.events();
    let d = station_with(&sim, 1, tempfile::tempdir().unwrap(), |cfg| {
        cfg.store.water = vec![
            // Tower T7's position (the phone is about 4 km west of it), and a tank far off.
            farod::desk::WaterPoint {
                name: "Torre 7".into(),
                lat: 31.43870,
                lon: -111.79760,
            },
            farod::desk::WaterPoint {
                name: "Tanque Sasabe".into(),
                lat: 31.4746,
                lon: -111.5449,
            },
        ];
    })
    .await;
    // The phone shares its position, then asks, as a poster at the tower tells it to.
    sim.act(faro_sim::Action::Position {
        node: CEL1,
        lat: 31.42073,
        lon: -111.75547,
        alt: None,
    })
    .await;
    until(&d, 2 * MINUTE, "the position recorded", |d| {
        reader(d)
            .nodes(100)
            .unwrap()
            .iter()
            .any(|n| n.node == "!5a5a0301" && n.lat.is_some())
    })
    .await;
    sim.act(text(CEL1, BROADCAST, "agua")).await;
    let answer = received(&mut heard, CEL1, "Faro: agua:").await;
    assert!(
        answer.starts_with("Faro: agua: Torre 7, 4.5 km NO; Tanque Sasabe, 21 km E."),
        "{answer}"
    );
    // No incident on a question, and the answer is counted.
    assert!(incidents(&d).is_empty());
    let counted = reader(&d).orientations("2000-01-01").unwrap();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(
        (
            counted[0].topic.as_str(),
            counted[0].language.as_str(),
            counted[0].count
        ),
        ("water", "es", 1)
    );
    d.station.stop().await;
}
