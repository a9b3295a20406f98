//! Inputs the fuzz targets (`fuzz/`, see fuzz/README.md) failed on, kept as ordinary tests.
//! Each input is committed under `fuzz/regressions/<target>/` exactly as libFuzzer wrote it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use faro_proto::text::{parse_municipality_reply, IncidentId, MunicipalityReply};

/// The `municipality_reply` target's property: a parsed reply's canonical form (`Display`)
/// parses back to the same reply.
fn canonical_form_round_trips(text: &str) -> MunicipalityReply {
    let reply = parse_municipality_reply(text).unwrap().unwrap();
    let canonical = reply.to_string();
    assert_eq!(
        parse_municipality_reply(&canonical),
        Some(Ok(reply.clone())),
        "{text:?} printed as {canonical:?}"
    );
    reply
}

/// A strong decline verb, an id, and a reason starting with `contamos`: the canonical form was
/// `NO SN-0 contamos`, which reads back with the reason `NO contamos` (after a bare `NO`,
/// `hay`/`tenemos`/`contamos` keep the `NO`). It is now `NEGATIVO SN-0 contamos`.
#[test]
fn municipality_decline_reason_starting_with_contamos() {
    let input = include_bytes!(
        "../../fuzz/regressions/municipality_reply/crash-7075d1bae8cbfef4cc1fb67c7410933c6b944a61"
    );
    let reply = canonical_form_round_trips(std::str::from_utf8(input).unwrap());
    let id: IncidentId = "SN-0".parse().unwrap();
    assert_eq!(
        reply,
        MunicipalityReply::Decline {
            id: Some(id),
            reason: Some("contamos".into())
        }
    );
    assert_eq!(reply.to_string(), "NEGATIVO SN-0 contamos");
    for text in [
        "NEGATIVO SAS-17 hay unidades en camino",
        "Rechazado SAS-17: tenemos un problema",
        "SAS-17 declinado, Contamos con una sola",
    ] {
        canonical_form_round_trips(text);
    }
    // The ordinary forms are unchanged.
    assert_eq!(
        canonical_form_round_trips("NO SAS-17 sin unidades").to_string(),
        "NO SAS-17 sin unidades"
    );
    assert_eq!(
        canonical_form_round_trips("No hay unidades").to_string(),
        "NEGATIVO No hay unidades"
    );
}
