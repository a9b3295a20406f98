//! Benchmark 3, airtime: every message Faro sends, in every catalogue language, with typical and with
//! worst-case arguments: payload bytes and LONG_FAST time on air of the whole LoRa packet; then
//! the plain free text a person would type for the same purposes, against Faro's message.
//!
//! Pure computation (the built-in catalogue and gazetteer, the Semtech formula): no radio, no
//! daemon, the same figures every run; smoke mode prints the same report.
//!
//! What goes on air for one text message, as the firmware sends it: the 16-byte Meshtastic
//! header, then the `Data` protobuf encrypted with the channel key (AES-CTR: as long as the
//! plain `Data`). `Data` holds the port number (`TEXT_MESSAGE_APP`), the text, and the
//! `bitfield` the firmware adds to every packet it originates (`perhapsEncode`: `has_bitfield =
//! true`, so 2 more bytes even when the flags are 0). A direct message to a node whose public
//! key the station's radio knows is PKI-encrypted instead, which adds [`PKI_OVERHEAD`] bytes.

use anyhow::{ensure, Result};
use faro_proto::airtime::{Preset, MESH_HEADER_LEN, PREAMBLE_SYMBOLS};
use faro_proto::mesh::{Data, Message, PortNum, MAX_DATA_LEN, PAYLOAD_BUDGET};
use faro_proto::text::{CommandError, Outcome, ReplyError};
use farod::catalog::{Catalog, Msg};
use farod::geo::Gazetteer;
use farod::incident::State;
use farod::lang::Lang;

use crate::common::Opts;

/// The preset the figures are for (the Meshtastic default).
const PRESET: Preset = Preset::LongFast;

/// Bytes PKI encryption adds to a direct message (`MESHTASTIC_PKC_OVERHEAD`: an 8-byte
/// authentication tag and a 4-byte extra nonce).
pub const PKI_OVERHEAD: usize = 12;

/// Most bytes of text the stock apps let a person send in one message; longer text has to be
/// sent as several messages (the apps do not split it, the Python client refuses more than
/// `DATA_PAYLOAD_LEN` = 233 bytes, the firmware refuses encoded `Data` over 239).
pub const APP_TEXT_LIMIT: usize = 200;

/// The longest team name the configuration accepts (16 letters, digits, `-` or `_`).
const LONGEST_TEAM: &str = "Patrulla-Norte-1";

/// The incident id with the longest realistic form: a 5-letter station code (the
/// configuration's maximum) and the 99,999th incident.
const LONGEST_ID: &str = "SASAB-99999";

/// The gazetteer's two longest municipality names and its longest place name, for smoke mode.
const PINNED_NAMES: [&str; 3] = [
    "Heroica Villa Tezoatlán de Segura y Luna, Cuna de la Independencia de Oaxaca",
    "Dolores Hidalgo Cuna de la Independencia Nacional",
    "Ricardo Mazón Guerrero (Colonia Baja California el Polvorín)",
];

/// Incidents in a patrol's `ESTADO` answer at most (the daemon's `LIMIT 8`).
const STATUS_LIST_MAX: usize = 8;

/// Runs the benchmark and prints its figures.
pub fn run(opts: &Opts) -> Result<()> {
    let catalog = Catalog::builtin();
    // Indexing the gazetteer takes seconds in a debug build: smoke mode uses its longest names
    // as pinned below (the unit tests check they still are the longest).
    let worst = if opts.smoke {
        WorstCase::from_names(PINNED_NAMES)
    } else {
        WorstCase::from_gazetteer(Gazetteer::builtin())?
    };
    let rows = rows(&catalog, &worst);
    print_parameters(&worst);
    print_table(&rows);
    print_summary(&catalog, &rows);
    print_comparison(&catalog);
    print_spanish_texts(&rows);
    Ok(())
}

// ---- the packet ------------------------------------------------------------------------------

/// Encoded length of the `Data` the firmware encrypts for a text message of `payload` bytes:
/// port number, payload and the bitfield it sets on packets it originates.
pub fn data_len(payload: usize) -> usize {
    Data {
        portnum: PortNum::TextMessageApp as i32,
        payload: vec![b'x'; payload],
        bitfield: Some(0),
        ..Default::default()
    }
    .encoded_len()
}

/// Bytes on air for a text message of `payload` bytes (header + encrypted `Data`).
pub fn on_air_len(payload: usize) -> usize {
    MESH_HEADER_LEN + data_len(payload)
}

/// LONG_FAST time on air, in milliseconds, of one packet carrying `payload` bytes of text.
pub fn toa_ms(payload: usize) -> f64 {
    ms(PRESET.packet_time_on_air(data_len(payload)))
}

/// [`toa_ms`] for a PKI-encrypted direct message.
pub fn toa_pki_ms(payload: usize) -> f64 {
    ms(PRESET.packet_time_on_air(data_len(payload) + PKI_OVERHEAD))
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---- the arguments Faro fills in -------------------------------------------------------------

/// The longest realistic values of the placeholders whose longest form depends on data: the
/// gazetteer's names, the daemon's refusal reasons and usage hints.
#[derive(Debug, Clone)]
struct WorstCase {
    /// The longest municipality name (the gazetteer's; a municipality's name is its seat's).
    municipality: String,
    /// The second longest, for `{next}` next to `{municipality}`.
    next: String,
    /// `999 km NO <the longest place name>`, as the daemon describes a position.
    place: String,
    /// The longest usage hint a patrol or a municipality can get.
    usage: &'static str,
    /// The longest reason a patrol's command is refused with.
    reason: String,
    /// An `ESTADO` answer with the most incidents, each with the longest id and state.
    list: String,
    /// The longest state name a patrol's command can move an incident to.
    state: &'static str,
}

impl WorstCase {
    /// The worst case with the longest names of `gaz`.
    fn from_gazetteer(gaz: &Gazetteer) -> Result<WorstCase> {
        let mut munis: Vec<&str> = gaz.municipalities().map(|(_, m)| m).collect();
        munis.sort_by_key(|m| std::cmp::Reverse(m.len()));
        munis.dedup();
        ensure!(
            munis.len() >= 2,
            "the gazetteer has fewer than two municipalities"
        );
        let longest_place = gaz
            .places()
            .iter()
            .map(|p| p.name.as_str())
            .max_by_key(|n| n.len())
            .unwrap_or_default();
        Ok(WorstCase::from_names([munis[0], munis[1], longest_place]))
    }

    /// The worst case with these names: the longest municipality, the second longest, the
    /// longest place.
    fn from_names([municipality, next, longest_place]: [&str; 3]) -> WorstCase {
        let reply_errors = [
            ReplyError::MissingVerb,
            ReplyError::BadEta("0".into()),
            ReplyError::TooLong,
        ];
        let command_errors = [
            CommandError::MissingId { verb: "" },
            CommandError::MissingOutcome,
            CommandError::MissingNote,
        ];
        let usage = command_errors
            .iter()
            .map(CommandError::usage)
            .chain(reply_errors.iter().flat_map(|e| [e.usage(), e.usage_en()]))
            .max_by_key(|u| u.len())
            .unwrap_or_default();
        // Every reason `incident::transition` and the ambulance request give a patrol.
        let reason = Outcome::ALL
            .iter()
            .map(|o| format!("already closed ({})", o.as_str()))
            .chain([
                format!("assigned to {LONGEST_TEAM}"),
                format!("{LONGEST_ID} has no position"),
                format!("{LONGEST_ID} is closed"),
                "only the desk reopens".to_string(),
            ])
            .max_by_key(String::len)
            .unwrap_or_default();
        // A team's incidents are assigned, en_route or on_scene.
        // In the team's language (`state_word`), or the database's word.
        let words = |s: State| {
            Lang::ALL
                .iter()
                .map(move |l| farod::desk::state_word(s, *l))
                .chain([s.as_str()])
        };
        let team_state = [State::Assigned, State::EnRoute, State::OnScene]
            .into_iter()
            .flat_map(words)
            .max_by_key(|s| s.len())
            .unwrap_or_default();
        let list = vec![format!("{LONGEST_ID} {team_state}"); STATUS_LIST_MAX].join(", ");
        let state = State::ALL
            .into_iter()
            .flat_map(words)
            .max_by_key(|s| s.len())
            .unwrap_or_default();
        WorstCase {
            municipality: municipality.to_string(),
            next: next.to_string(),
            place: format!("999 km NO {longest_place}"),
            usage,
            reason,
            list,
            state,
        }
    }

    /// The arguments of every placeholder in this worst case.
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", LONGEST_ID.to_string()),
            ("state", self.state.to_string()),
            ("usage", self.usage.to_string()),
            ("reason", self.reason.clone()),
            ("list", self.list.clone()),
            ("priority", "P4".into()),
            ("people", "999".into()),
            ("lat", "-89.99999".into()),
            ("lon", "-179.99999".into()),
            ("place", self.place.clone()),
            ("eta", "600".into()),
            ("municipality", self.municipality.clone()),
            ("next", self.next.clone()),
            ("points", "x".repeat(farod::desk::WATER_POINTS_BUDGET)),
            // Surge broadcasts are packed by farod to fit; scheduled texts are validated.
            ("names", "ñ".repeat(farod::catalog::GROUP_NAMES_MIN / 2)),
            ("text", "x".repeat(farod::catalog::GROUP_NAMES_MIN)),
            ("km", "999".into()),
            ("dir", "NO".into()),
            (
                "kind",
                farod::incident::Kind::ALL
                    .iter()
                    .flat_map(|k| Lang::ALL.iter().map(|l| farod::desk::kind_word(*k, *l)))
                    .max_by_key(|w| w.len())
                    .unwrap_or_default()
                    .to_string(),
            ),
            (
                "flags",
                Lang::ALL
                    .iter()
                    .map(|l| farod::desk::flags_text(&farod::incident::Flag::ALL, *l))
                    .max_by_key(String::len)
                    .unwrap_or_default(),
            ),
            // A tower's name, cut to the budget like the daemon does.
            ("reporter", "ñ".repeat(farod::desk::REPORTER_BUDGET / 2)),
            // A location request's last-seen day, day/month.
            ("date", "31/12".into()),
        ]
    }
}

/// The arguments of `msg` the way the daemon fills them in for an ordinary incident: SAS-17,
/// two people 14 km north-west of Sásabe, Altar's ambulance 25 minutes away, Sáric next.
fn typical_args(msg: Msg) -> Vec<(&'static str, String)> {
    let usage = match msg {
        Msg::ReplyUsage => ReplyError::MissingVerb.usage(),
        _ => CommandError::MissingId { verb: "RUTA" }.usage(),
    };
    vec![
        ("id", "SAS-17".to_string()),
        (
            "state",
            farod::desk::state_word(State::EnRoute, Lang::Es).to_string(),
        ),
        ("usage", usage.to_string()),
        ("reason", "assigned to P2".into()),
        ("list", "SAS-17 en camino, SAS-18 asignado".into()),
        ("priority", "P1".into()),
        ("people", "2".into()),
        ("lat", "31.47460".into()),
        ("lon", "-111.54490".into()),
        ("place", "14 km NO Sásabe".into()),
        ("eta", "25".into()),
        ("municipality", "Altar".into()),
        ("next", "Sáric".into()),
        ("points", "Tambo Norte, 2.9 km N; Torre 7, 4.5 km NO".into()),
        ("names", "Ana4, b2c1, 0503".into()),
        ("text", "Faro: calor extremo hoy. Beba agua.".into()),
        ("km", "4.5".into()),
        ("dir", "NO".into()),
        ("kind", "calor".into()),
        ("flags", "niños".into()),
        ("reporter", "tel !5a5a0301".into()),
        ("date", "28/11".into()),
    ]
}

/// Borrowed pairs for [`Catalog::render`].
fn pairs<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// One message rendered as Faro sends it.
#[derive(Debug, Clone)]
struct Rendered {
    /// The text as sent (cut at the budget, as `Catalog::render` does).
    text: String,
    /// Bytes the text would have had uncut: over [`PAYLOAD_BUDGET`] means Faro cuts it.
    full_len: usize,
    /// What the daemon did to keep it within budget, if anything.
    note: Option<&'static str>,
}

impl Rendered {
    fn bytes(&self) -> usize {
        self.text.len()
    }

    fn cut(&self) -> bool {
        self.full_len > PAYLOAD_BUDGET
    }
}

/// `msg` in `lang` with `args`, as the daemon builds it (for an ambulance request: without the
/// place when the text would reach the budget, as `amb_request_text` does).
fn render(catalog: &Catalog, lang: Lang, msg: Msg, args: &[(&'static str, String)]) -> Rendered {
    let args = pairs(args);
    let text = catalog.render(lang, msg, &args);
    // A dispatch leaves out who reported, then the flags, then the place (`dispatch_text`).
    if msg == Msg::Dispatch && !catalog.fits(lang, msg, &args) {
        let mut args = args.clone();
        for (drop, note) in [
            ("reporter", "reporter left out"),
            ("flags", "reporter and flags left out"),
            ("place", "reporter, flags and place left out"),
        ] {
            for a in args.iter_mut().filter(|a| a.0 == drop) {
                a.1 = "";
            }
            if catalog.fits(lang, msg, &args) {
                let text = catalog.render(lang, msg, &args);
                return Rendered {
                    full_len: full_len(catalog, lang, msg, &args),
                    text,
                    note: Some(note),
                };
            }
        }
    }
    if msg == Msg::AmbulanceRequest && text.len() >= PAYLOAD_BUDGET {
        let no_place: Vec<(&str, &str)> = args
            .iter()
            .map(|&(k, v)| (k, if k == "place" { "" } else { v }))
            .collect();
        return Rendered {
            text: catalog.render(lang, msg, &no_place),
            full_len: full_len(catalog, lang, msg, &no_place),
            note: Some("place left out"),
        };
    }
    Rendered {
        full_len: full_len(catalog, lang, msg, &args),
        text,
        note: None,
    }
}

/// Bytes `msg` would have before `Catalog::render` cuts it at the budget. Rendered with one-byte
/// stand-ins (empty values stay empty, so the same optional parts are kept), then each value's
/// real length counted once per place it appears in.
fn full_len(catalog: &Catalog, lang: Lang, msg: Msg, args: &[(&str, &str)]) -> usize {
    let value = |name: &str| {
        args.iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| *v)
    };
    let probe = |grown: Option<&str>| -> usize {
        let stand_ins: Vec<(&str, &str)> = msg
            .placeholders()
            .iter()
            .map(|&name| {
                let s = match (value(name).is_empty(), grown == Some(name)) {
                    (true, _) => "",
                    (false, true) => "xx",
                    (false, false) => "x",
                };
                (name, s)
            })
            .collect();
        catalog.render(lang, msg, &stand_ins).len()
    };
    let base = probe(None);
    msg.placeholders()
        .iter()
        .filter(|name| !value(name).is_empty())
        .map(|&name| (probe(Some(name)) - base) * (value(name).len() - 1))
        .sum::<usize>()
        + base
}

// ---- the catalogue ---------------------------------------------------------------------------

/// One row of the table: a message in a language, typical and worst case.
#[derive(Debug, Clone)]
struct Row {
    msg: Msg,
    lang: Lang,
    typical: Rendered,
    worst: Rendered,
}

fn rows(catalog: &Catalog, worst: &WorstCase) -> Vec<Row> {
    let mut rows = Vec::new();
    for msg in Msg::ALL {
        for lang in Lang::ALL {
            rows.push(Row {
                msg,
                lang,
                typical: render(catalog, lang, msg, &typical_args(msg)),
                worst: render(catalog, lang, msg, &worst.args()),
            });
        }
    }
    rows
}

fn print_parameters(worst: &WorstCase) {
    let m = PRESET.modem();
    let t_sym = f64::from(1u32 << m.sf) / f64::from(m.bw_hz) * 1000.0;
    println!(
        "LoRa {}: SF{}, BW {} kHz, CR 4/{}, {PREAMBLE_SYMBOLS}-symbol preamble, explicit header, \
         CRC on,",
        PRESET.name(),
        m.sf,
        m.bw_hz / 1000,
        m.cr
    );
    println!(
        "  low-data-rate optimisation {} (symbol {t_sym:.3} ms; on above 16 ms); Semtech formula \
         (SX1276 datasheet 4.1.1.6).",
        if t_sym > 16.0 { "on" } else { "off" }
    );
    println!(
        "On air per message: {MESH_HEADER_LEN}-byte header + encrypted Data (portnum \
         TEXT_MESSAGE_APP, the text, the firmware's bitfield):"
    );
    println!(
        "  the text + {} bytes ({} from 128 bytes of text on); a PKI-encrypted direct message adds \
         {PKI_OVERHEAD} more.",
        on_air_len(1) - 1,
        on_air_len(128) - 128
    );
    println!(
        "Typical arguments: id SAS-17, 2 people, 31.47460,-111.54490 (14 km NO Sásabe), Altar \
         (ETA 25 min), next Sáric."
    );
    println!(
        "Worst-case arguments: id {LONGEST_ID}, P4, 999 people, -89.99999,-179.99999, place {:?} \
         ({} B),",
        worst.place,
        worst.place.len()
    );
    println!(
        "  municipality {:?} ({} B), next {:?} ({} B) (the gazetteer's longest), ETA 600,",
        worst.municipality,
        worst.municipality.len(),
        worst.next,
        worst.next.len()
    );
    println!(
        "  reason {:?}, state {:?}, usage {:?}, ESTADO list of {STATUS_LIST_MAX} ({} B).",
        worst.reason,
        worst.state,
        worst.usage,
        worst.list.len()
    );
    println!();
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<26} {:<4} {:>7} {:>8} {:>7} {:>8}  note",
        "message", "lang", "typ B", "typ ms", "worst B", "worst ms"
    );
    for r in rows {
        let mut note = Vec::new();
        if r.worst.cut() {
            note.push(format!(
                "MISS: {} B uncut, cut to {}",
                r.worst.full_len,
                r.worst.bytes()
            ));
        }
        if let Some(n) = r.worst.note {
            note.push(format!("worst: {n}"));
        }
        println!(
            "{:<26} {:<4} {:>7} {:>8.0} {:>7} {:>8.0}  {}",
            r.msg.as_str(),
            r.lang.as_str(),
            r.typical.bytes(),
            toa_ms(r.typical.bytes()),
            r.worst.bytes(),
            toa_ms(r.worst.bytes()),
            note.join("; ")
        );
    }
    println!();
}

/// The messages Faro sends for one ordinary incident with an ambulance, in order: who gets
/// each, and the message.
const EXCHANGE: [(&str, Msg, &str); 11] = [
    ("person", Msg::DistressAck, ""),
    ("patrol", Msg::Dispatch, ""),
    ("patrol", Msg::CmdOk, "en camino"),
    ("patrol", Msg::PatrolAmbRequested, ""),
    ("municipality", Msg::AmbulanceRequest, ""),
    ("municipality", Msg::AmbulanceThanks, ""),
    ("patrol", Msg::PatrolAmbAccepted, ""),
    ("patrol", Msg::CmdOk, "en sitio"),
    ("municipality", Msg::AmbulanceArrivedThanks, ""),
    ("patrol", Msg::PatrolAmbArrived, ""),
    ("patrol", Msg::CmdOk, "cerrado"),
];

fn print_summary(catalog: &Catalog, rows: &[Row]) {
    let Some(worst) = rows.iter().max_by_key(|r| r.worst.bytes()) else {
        return;
    };
    let w = worst.worst.bytes();
    println!(
        "Worst case of the catalogue: {} ({}), {w} B of text, {} B on air, {:.0} ms ({:.0} ms \
         PKI-encrypted).",
        worst.msg.as_str(),
        worst.lang.as_str(),
        on_air_len(w),
        toa_ms(w),
        toa_pki_ms(w)
    );
    let misses: Vec<&Row> = rows.iter().filter(|r| r.worst.cut()).collect();
    println!(
        "Messages over {PAYLOAD_BUDGET} bytes (worst-case arguments): {}",
        misses.len()
    );
    for r in &misses {
        println!(
            "  MISS {} ({}): {} B uncut; Faro cuts it to {} B and sends {:?}",
            r.msg.as_str(),
            r.lang.as_str(),
            r.worst.full_len,
            r.worst.bytes(),
            r.worst.text
        );
    }
    let typical_over = rows
        .iter()
        .filter(|r| r.typical.full_len > PAYLOAD_BUDGET)
        .count();
    println!("Messages over {PAYLOAD_BUDGET} bytes (typical arguments): {typical_over}");
    println!();
    println!(
        "One typical incident (a medical distress in Spanish; the desk assigns patrol P1, which \
         goes, asks for an ambulance, arrives, closes; Altar accepts): what Faro sends"
    );
    let (mut bytes, mut total, mut total_pki) = (0, 0.0, 0.0);
    for (to, msg, state) in EXCHANGE {
        let mut args = typical_args(msg);
        if !state.is_empty() {
            args.retain(|(k, _)| *k != "state");
            args.push(("state", state.to_string()));
        }
        let r = render(catalog, Lang::Es, msg, &args);
        let t = toa_ms(r.bytes());
        bytes += r.bytes();
        total += t;
        total_pki += toa_pki_ms(r.bytes());
        println!(
            "  {:<13} {:<26} {:>4} B {:>5.0} ms  {}",
            to,
            msg.as_str(),
            r.bytes(),
            t,
            r.text
        );
    }
    println!(
        "  total: {} messages, {bytes} B of text, {total:.0} ms on air ({:.0} ms PKI-encrypted); \
         each hop that relays them adds as much again, ACKs not counted.",
        EXCHANGE.len(),
        total_pki
    );
    println!(
        "  The issue's four (distress reply + patrol confirmation + ambulance request + \
         municipality notice) alone: {:.0} ms.",
        [
            Msg::DistressAck,
            Msg::CmdOk,
            Msg::AmbulanceRequest,
            Msg::AmbulanceThanks,
        ]
        .iter()
        .map(|&m| toa_ms(render(catalog, Lang::Es, m, &typical_args(m)).bytes()))
        .sum::<f64>()
    );
    println!();
}

// ---- free text -------------------------------------------------------------------------------

/// What a person would type for one of Faro's purposes, and Faro's message for it.
#[derive(Debug, Clone, Copy)]
pub struct FreeText {
    /// The purpose, as the issue names it.
    pub purpose: &'static str,
    /// Who types it.
    pub who: &'static str,
    /// The language.
    pub lang: Lang,
    /// The text.
    pub text: &'static str,
    /// Faro's message for the same purpose (typical arguments).
    pub faro: Msg,
}

/// The free texts: a Grupo Beta radio operator writing as on WhatsApp (greeting, full
/// sentences, details repeated, thanks), for the incident of the typical arguments.
pub const FREE_TEXTS: [FreeText; 7] = [
    FreeText {
        purpose: "distress reply",
        who: "station operator",
        lang: Lang::Es,
        text: "Buenas noches, le habla el Grupo Beta de Sásabe. Ya recibimos su mensaje de \
               auxilio y ya va una patrulla para donde está usted. Por favor quédese donde está \
               si es seguro, no se mueva, busque sombra y cuide la batería de su teléfono. Ya \
               vamos en camino, no está solo.",
        faro: Msg::DistressAck,
    },
    FreeText {
        purpose: "distress reply",
        who: "station operator",
        lang: Lang::En,
        text: "Good evening, this is Grupo Beta Sasabe. We got your message asking for help and \
               a patrol is already on its way to you. Please stay where you are if it is safe, \
               do not walk away, find some shade and save your phone battery. We are coming.",
        faro: Msg::DistressAck,
    },
    FreeText {
        purpose: "patrol confirmation",
        who: "station operator",
        lang: Lang::Es,
        text: "Patrulla 1, buenas tardes. Le confirmo que quedó registrado que ya van en camino \
               al reporte SAS-17, las dos personas con golpe de calor a 14 km al noroeste de \
               Sásabe. Avísenos cuando lleguen al lugar, por favor. Cambio.",
        faro: Msg::CmdOk,
    },
    FreeText {
        purpose: "ambulance request",
        who: "station operator",
        lang: Lang::Es,
        text: "Buenas tardes, le escribe el Grupo Beta Sásabe. Solicitamos de su apoyo con una \
               ambulancia para 2 personas migrantes con golpe de calor, es urgente. Están en las \
               coordenadas 31.47460, -111.54490, aproximadamente a 14 km al noroeste de Sásabe. \
               ¿Nos podría confirmar si pueden enviar la unidad y en cuánto tiempo llegaría? Para \
               confirmar favor de contestar a este mismo número. Muchas gracias, quedamos \
               atentos.",
        faro: Msg::AmbulanceRequest,
    },
    FreeText {
        purpose: "ambulance request",
        who: "station operator",
        lang: Lang::En,
        text: "Good afternoon, this is Grupo Beta Sasabe. We need an ambulance for 2 people with \
               heat stroke, it is urgent. They are at 31.47460, -111.54490, about 14 km northwest \
               of Sasabe. Can you send a unit, and how long will it take? Please answer here. \
               Thank you.",
        faro: Msg::AmbulanceRequest,
    },
    FreeText {
        purpose: "municipality notice",
        who: "station operator",
        lang: Lang::Es,
        text: "Muchas gracias por su apoyo. Queda confirmada la ambulancia para el reporte \
               SAS-17, nos dicen que llega en unos 25 minutos. Cuando la unidad llegue al lugar \
               por favor avísenos por este medio para registrarlo. Saludos.",
        faro: Msg::AmbulanceThanks,
    },
    FreeText {
        purpose: "municipality notice",
        who: "station operator",
        lang: Lang::Es,
        text: "Buenas tardes, nuevamente el Grupo Beta Sásabe. Les informamos que ya no es \
               necesaria la ambulancia para el reporte SAS-17 de las 2 personas cerca de Sásabe, \
               ya fueron trasladadas por otro medio. Muchas gracias por su apoyo y disculpen la \
               molestia.",
        faro: Msg::AmbulanceCancel,
    },
];

/// `text` as the messages a person would send with an app that takes at most `max` bytes each:
/// cut at the last space that fits (at a character boundary when a word is longer than `max`).
pub fn split_messages(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while rest.len() > max {
        let limit = (0..=max)
            .rev()
            .find(|&i| rest.is_char_boundary(i))
            .unwrap_or(0);
        let cut = rest[..limit].rfind(' ').filter(|&i| i > 0).unwrap_or(limit);
        parts.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        parts.push(rest);
    }
    parts
}

/// Time on air of a free text sent as [`split_messages`]: one packet per message.
pub fn free_text_toa_ms(text: &str) -> (usize, f64) {
    let parts = split_messages(text, APP_TEXT_LIMIT);
    (
        parts.len(),
        parts.iter().map(|p| toa_ms(p.len())).sum::<f64>(),
    )
}

fn print_comparison(catalog: &Catalog) {
    println!(
        "Free text against Faro (typical arguments; the stock apps take at most \
         {APP_TEXT_LIMIT} B per message and do not split: longer text goes as several messages,"
    );
    println!(
        "  one packet each; the firmware itself refuses encoded Data over {MAX_DATA_LEN} B, the \
         Python client text over 233 B):"
    );
    println!(
        "{:<21} {:<4} {:>7} {:>4} {:>8}   {:<24} {:>7} {:>8} {:>7} {:>7}",
        "purpose",
        "lang",
        "free B",
        "pkts",
        "free ms",
        "Faro message",
        "Faro B",
        "Faro ms",
        "x bytes",
        "x air"
    );
    for f in FREE_TEXTS {
        let faro = render(catalog, f.lang, f.faro, &typical_args(f.faro));
        let (packets, free_ms) = free_text_toa_ms(f.text);
        let faro_ms = toa_ms(faro.bytes());
        println!(
            "{:<21} {:<4} {:>7} {:>4} {:>8.0}   {:<24} {:>7} {:>8.0} {:>7.1} {:>7.1}",
            f.purpose,
            f.lang.as_str(),
            f.text.len(),
            packets,
            free_ms,
            f.faro.as_str(),
            faro.bytes(),
            faro_ms,
            f.text.len() as f64 / faro.bytes() as f64,
            free_ms / faro_ms
        );
    }
    println!();
    for f in FREE_TEXTS {
        let faro = render(catalog, f.lang, f.faro, &typical_args(f.faro));
        println!(
            "{} ({}), typed by the {}:",
            f.purpose,
            f.lang.as_str(),
            f.who
        );
        for (i, part) in split_messages(f.text, APP_TEXT_LIMIT).iter().enumerate() {
            println!("  free #{} ({:>3} B): {part}", i + 1, part.len());
        }
        println!("  Faro    ({:>3} B): {}", faro.bytes(), faro.text);
    }
    println!();
}

fn print_spanish_texts(rows: &[Row]) {
    println!("What goes on air, Spanish catalogue, typical arguments:");
    for r in rows.iter().filter(|r| r.lang == Lang::Es) {
        println!(
            "  {:<26} {:>3} B  {}",
            r.msg.as_str(),
            r.typical.bytes(),
            r.typical.text
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn worst() -> WorstCase {
        WorstCase::from_gazetteer(Gazetteer::builtin()).unwrap()
    }

    #[test]
    fn the_packet_is_header_port_text_and_bitfield() {
        // portnum (08 01), payload (12 len text), bitfield (48 00).
        assert_eq!(data_len(73), 2 + 2 + 73 + 2);
        assert_eq!(on_air_len(73), 16 + 79);
        // From 128 bytes the payload length takes two bytes.
        assert_eq!(data_len(128), 2 + 3 + 128 + 2);
    }

    #[test]
    fn time_on_air_matches_a_hand_computed_semtech_value() {
        // 100 bytes on air (84 of Data): SF11, BW 250 kHz, CR 4/5, DE 0, explicit header,
        // CRC on: ceil((800 - 44 + 28 + 16) / 44) = 19 -> 8 + 19 * 5 = 103 payload symbols,
        // preamble 16 + 4.25; a symbol is 2048 / 250 kHz = 8.192 ms:
        // (20.25 + 103) * 8.192 = 1009.664 ms.
        let t = ms(PRESET.packet_time_on_air(100 - MESH_HEADER_LEN));
        assert!((t - 1009.664).abs() < 1e-6, "{t}");
        // 73 bytes of text: 95 on air -> ceil((760 - 44 + 44) / 44) = 18 -> 98 symbols.
        assert!((toa_ms(73) - (20.25 + 98.0) * 8.192).abs() < 1e-6);
        // PKI adds 12 bytes: 107 on air -> ceil(856 / 44) = 20 -> 108 symbols.
        assert!((toa_pki_ms(73) - (20.25 + 108.0) * 8.192).abs() < 1e-6);
    }

    #[test]
    fn every_faro_message_fits_the_budget_with_the_worst_arguments() {
        let catalog = Catalog::builtin();
        for r in rows(&catalog, &worst()) {
            let name = format!("{} {}", r.lang, r.msg.as_str());
            assert!(r.typical.bytes() <= PAYLOAD_BUDGET, "{name}");
            assert!(!r.typical.cut(), "{name}: {}", r.typical.full_len);
            assert!(r.worst.bytes() <= PAYLOAD_BUDGET, "{name}");
            assert!(!r.worst.text.contains('{'), "{name}: {}", r.worst.text);
            assert!(data_len(r.worst.bytes()) <= MAX_DATA_LEN, "{name}");
        }
    }

    #[test]
    fn the_uncut_length_is_exact() {
        let catalog = Catalog::builtin();
        for r in rows(&catalog, &worst()) {
            // Below the budget nothing is cut: the counted length is the rendered one.
            assert_eq!(r.typical.full_len, r.typical.bytes(), "{}", r.msg.as_str());
            if !r.worst.cut() {
                assert_eq!(r.worst.full_len, r.worst.bytes(), "{}", r.msg.as_str());
            }
        }
        // A value used twice counts twice; an over-long one shows past the cut.
        let long = "x".repeat(150);
        let args = [("id", long.as_str())];
        let full = full_len(&catalog, Lang::Es, Msg::AmbulanceReminder, &args);
        let short = catalog
            .render(Lang::Es, Msg::AmbulanceReminder, &[("id", "x")])
            .len();
        assert_eq!(full, short + 3 * 149);
        assert_eq!(
            catalog
                .render(Lang::Es, Msg::AmbulanceReminder, &args)
                .len(),
            PAYLOAD_BUDGET
        );
    }

    #[test]
    fn the_worst_case_uses_the_gazetteers_longest_names() {
        let w = worst();
        let gaz = Gazetteer::builtin();
        assert!(gaz
            .municipalities()
            .all(|(_, m)| m.len() <= w.municipality.len()));
        assert!(w.next.len() <= w.municipality.len() && w.next != w.municipality);
        let longest_place = gaz.places().iter().map(|p| p.name.len()).max().unwrap();
        assert_eq!(w.place.len(), "999 km NO ".len() + longest_place);
        assert!(w.list.len() > 150, "{}", w.list);
        assert_eq!(WorstCase::from_names(PINNED_NAMES).place, w.place);
        assert_eq!(
            PINNED_NAMES[..2],
            [w.municipality.as_str(), w.next.as_str()]
        );
    }

    #[test]
    fn the_ambulance_request_keeps_its_reply_words_in_the_worst_case() {
        let catalog = Catalog::builtin();
        for lang in Lang::ALL {
            let r = render(&catalog, lang, Msg::AmbulanceRequest, &worst().args());
            assert!(
                r.text.ends_with(&format!("NO {LONGEST_ID}")),
                "{lang}: {}",
                r.text
            );
        }
    }

    #[test]
    fn free_text_is_longer_than_faros_message() {
        let catalog = Catalog::builtin();
        for f in FREE_TEXTS {
            let faro = render(&catalog, f.lang, f.faro, &typical_args(f.faro));
            let (_, free_ms) = free_text_toa_ms(f.text);
            assert!(f.text.len() > faro.bytes(), "{}: {}", f.purpose, faro.text);
            assert!(free_ms > toa_ms(faro.bytes()), "{}", f.purpose);
        }
    }

    #[test]
    fn long_free_text_goes_as_several_messages_of_whole_words() {
        let text = FREE_TEXTS[3].text;
        assert!(text.len() > APP_TEXT_LIMIT);
        let parts = split_messages(text, APP_TEXT_LIMIT);
        assert!(parts.len() >= 2);
        assert!(parts
            .iter()
            .all(|p| p.len() <= APP_TEXT_LIMIT && !p.is_empty()));
        assert_eq!(parts.join(" "), text);
        // A word longer than the limit is cut on a character boundary.
        let word = "ñ".repeat(150);
        let parts = split_messages(&word, APP_TEXT_LIMIT);
        assert_eq!(parts.concat(), word);
        assert!(parts.iter().all(|p| p.len() <= APP_TEXT_LIMIT));
        assert_eq!(free_text_toa_ms("hola").0, 1);
    }
}
