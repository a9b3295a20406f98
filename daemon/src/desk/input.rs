//! What the desk is given: the station's configuration as the rules need it, a received
//! packet's envelope, and the requests an operator can make.

use std::time::Duration;

use crate::catalog::Catalog;
use crate::incident::Outcome;
use crate::ingest::Tower;
use crate::lang::Lang;

/// A configured patrol team.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamConfig {
    /// Name patrols and operators use (`P1`).
    pub name: String,
    /// Its mesh nodes.
    pub nodes: Vec<u32>,
    /// How often it is expected to send a position.
    pub interval: Duration,
    /// Public keys of its radios: a command counts only as a PKI direct message from one of
    /// them (or one enrolled at the desk).
    pub keys: Vec<crate::trust::PublicKey>,
    /// The language its patrols read: every message to its nodes is in it.
    pub language: Lang,
}

/// What the store needs to know about the station.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Station code for incident ids (`SAS`).
    pub station: String,
    /// Repeated distress from one node within this window updates its open incident.
    pub repeat_window: Duration,
    /// Patrol teams.
    pub teams: Vec<TeamConfig>,
    /// Registered towers by node number.
    pub towers: std::collections::HashMap<u32, Tower>,
    /// Channel replies go out on.
    pub channel: u32,
    /// Reply texts.
    pub catalog: Catalog,
    /// A distress sender is answered again at most this often.
    pub reply_interval: Duration,
    /// A malformed-command hint goes to the same patrol at most this often.
    pub hint_interval: Duration,
    /// Send attempts of an outbox row before it is marked failed.
    pub max_attempts: u32,
    /// Municipalities that can send an ambulance.
    pub municipalities: Vec<crate::dispatch::Municipality>,
    /// A municipality has this long to answer before the next one is asked.
    pub amb_deadline: Duration,
    /// One reminder this long after a request (None: no reminder).
    pub amb_reminder: Option<Duration>,
    /// Municipalities asked for one incident at most.
    pub amb_max_municipalities: usize,
    /// Radio attempts of an ambulance request before it counts as undeliverable. One: the
    /// firmware already retransmits three times before it NAKs, and the next municipality
    /// should not wait for more.
    pub amb_send_attempts: u32,
    /// Ask for an ambulance on its own for new P1 incidents of these kinds.
    pub auto_ambulance_kinds: Vec<crate::incident::Kind>,
    /// Drinking water points, named to people who ask for water.
    pub water: Vec<WaterPoint>,
    /// SHA-256 of public keys known to be compromised: never trusted.
    pub compromised: Vec<[u8; 32]>,
    /// The same orientation answer goes to the same node at most this often.
    pub orientation_interval: Duration,
    /// Surge mode (`[surge]`).
    pub surge: super::SurgeConfig,
    /// Scheduled broadcasts (`[[broadcast]]`): heat warnings, orientation.
    pub broadcasts: Vec<Broadcast>,
    /// Where complaints are referred (`[[referral]]`).
    pub referrals: Vec<crate::casework::request::Referral>,
    /// The station key that seals personal records' data key (a systemd credential; None:
    /// personal records are off).
    pub personal_key: Option<crate::casework::seal::Key>,
    /// How long personal data is kept (`[retention]`).
    pub retention: RetentionConfig,
}

/// `[retention]`: how long personal data outlives what it was about, and how often the purge
/// runs (docs/ARCHITECTURE.md, "Retention").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Personal data of a closed incident or a finished casework record (personal records,
    /// its conversation, the exact position) is purged this long after it ended.
    pub personal: Duration,
    /// Texts tied to no incident (questions, strangers' chat) and the names and positions of
    /// phones outside the fleet are purged this long after they were heard or sent.
    pub messages: Duration,
    /// How often the purge runs.
    pub every: Duration,
}

/// Days personal data is kept by default.
pub const DEFAULT_RETENTION_DAYS: u64 = 90;

impl Default for RetentionConfig {
    fn default() -> Self {
        let days = Duration::from_secs(DEFAULT_RETENTION_DAYS * 86_400);
        RetentionConfig {
            personal: days,
            messages: days,
            every: Duration::from_secs(3600),
        }
    }
}

/// A broadcast the station sends on a schedule, one text per language, within the airtime
/// budget in the outbox's last class, and never during a surge.
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    /// Its name (for the audit trail).
    pub name: String,
    /// How often.
    pub every: Duration,
    /// Its text in each language (each at most 200 bytes, one line).
    pub texts: Vec<(Lang, String)>,
}

/// A drinking water point people can be sent to.
#[derive(Debug, Clone, PartialEq)]
pub struct WaterPoint {
    /// Its name on the ground, sent on air (at most [`WATER_NAME_MAX`] bytes).
    pub name: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// Longest water point name, bytes.
pub const WATER_NAME_MAX: usize = 40;

impl StoreConfig {
    /// Defaults for station `code`.
    pub fn new(code: &str) -> Self {
        Self {
            station: code.to_string(),
            repeat_window: crate::incident::DEFAULT_REPEAT_WINDOW,
            teams: Vec::new(),
            towers: Default::default(),
            channel: 0,
            catalog: Catalog::builtin(),
            reply_interval: Duration::from_secs(10 * 60),
            hint_interval: Duration::from_secs(60),
            max_attempts: 5,
            municipalities: Vec::new(),
            amb_deadline: crate::dispatch::DEFAULT_DEADLINE,
            amb_reminder: Some(Duration::from_secs(150)),
            amb_max_municipalities: crate::dispatch::DEFAULT_MAX_MUNICIPALITIES,
            amb_send_attempts: 1,
            auto_ambulance_kinds: Vec::new(),
            water: Vec::new(),
            compromised: Vec::new(),
            orientation_interval: Duration::from_secs(10 * 60),
            surge: super::SurgeConfig::default(),
            broadcasts: Vec::new(),
            referrals: Vec::new(),
            personal_key: None,
            retention: RetentionConfig::default(),
        }
    }
}

/// Takes an operator's note out of a request: notes are sealed as personal records by the
/// store, never written to the audit trail by the desk. Returns the request without it.
pub fn take_note(req: OperatorRequest) -> (OperatorRequest, Option<String>) {
    match req {
        OperatorRequest::Note(id, text) => (OperatorRequest::NoteOnly(id), Some(text)),
        OperatorRequest::Close(id, o, note) => (OperatorRequest::Close(id, o, None), note),
        OperatorRequest::Report(mut r) => {
            let note = r.note.take();
            (OperatorRequest::Report(r), note)
        }
        other => (other, None),
    }
}

/// What a received packet was (for dedup, the audit trail and the conversation).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rx {
    /// Radio that heard it.
    pub radio: String,
    /// Sender.
    pub from: u32,
    /// Sender's packet id (0: unknown, not deduplicated).
    pub packet_id: u32,
    /// Hops travelled, when known.
    pub hops: Option<u32>,
    /// The channel index it came on.
    pub channel: u32,
    /// Signal-to-noise ratio at the radio, dB, when known.
    pub snr: Option<f32>,
    /// The text of a text message (lossy UTF-8), kept in the conversation; `None` for any
    /// other packet. Personal data: never log it.
    pub text: Option<String>,
    /// How it arrived: what proves its sender.
    pub auth: crate::trust::Auth,
}

/// A manual report typed by an operator (a phone call, a walk-in).
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualReport {
    /// Latitude, degrees.
    pub lat: Option<f64>,
    /// Longitude, degrees.
    pub lon: Option<f64>,
    /// Place description kept with the position (e.g. the gazetteer match).
    #[serde(default)]
    pub place: Option<String>,
    /// Kind (`heat`, `lost`...).
    pub kind: Option<String>,
    /// How many people.
    pub people: Option<u32>,
    /// Vulnerability flags.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Note for the audit trail.
    #[serde(default)]
    pub note: Option<String>,
    /// Language to answer in, if there is a mesh contact.
    #[serde(default)]
    pub language: Option<String>,
}

/// What an operator asks.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorRequest {
    /// Open an incident from a phone call.
    Report(ManualReport),
    /// Acknowledge.
    Ack(String),
    /// Assign a team.
    Assign(String, String),
    /// Close with an outcome.
    Close(String, Outcome, Option<String>),
    /// Add a note (the store seals it in a personal record).
    Note(String, String),
    /// What remains of a note for the desk once the store took its text: the incident must
    /// exist and the note is allowed on it.
    NoteOnly(String),
    /// Reopen.
    Reopen(String),
    /// Send a text to a node (through the outbox).
    Send(u32, String),
    /// Ask for an ambulance (from a given municipality, else the nearest with a contact).
    Ambulance(String, Option<String>),
    /// Cancel the ambulance request and tell the municipality.
    AmbulanceCancel(String),
    /// Record the answer to a phone call (accepted with an ETA, or declined).
    AmbulanceRecord(String, bool, Option<u32>),
    /// Set or correct the incident's position (an operator's knowledge).
    Position(String, f64, f64),
    /// Pin a key for a patrol's or municipality's node (`team` or `municipality`, its name,
    /// the node, and the key the operator confirmed; None: the key the radio holds).
    Enroll {
        /// `team` or `municipality`.
        kind: String,
        /// Team or municipality name.
        name: String,
        /// Node.
        node: u32,
        /// The key confirmed, if given.
        key: Option<crate::trust::PublicKey>,
    },
    /// Confirm (true) or reject a municipality's answer awaiting confirmation.
    Answer(i64, bool),
    /// Open a location request for missing people.
    LocateOpen(LocateRequest),
    /// Give a location request's search to a team (request number, team).
    LocateTask(i64, String),
    /// Close a location request with its outcome and, if given, the people found.
    LocateClose(i64, crate::casework::LocateOutcome, Option<u32>),
    /// The outcome was reported back to the requester, and how (`phone`, `email`...).
    LocateReported(i64, String),
}

/// A location request as the desk is asked to open it: who asks, how many people, where and
/// when they were last seen. Never their names or descriptions (personal data, kept sealed in
/// `personal_records` by `faroctl personal add LOC-5 ...`).
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocateRequest {
    /// Who asks (`relative`, `consulate`, `station`, `headquarters`, `authority`).
    pub requester: String,
    /// How many people are sought (1..=10000).
    pub people: u32,
    /// Where they were last seen: a place or area name (at most 60 bytes; said on air).
    #[serde(default)]
    pub place: Option<String>,
    /// Latitude, degrees.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude, degrees.
    #[serde(default)]
    pub lon: Option<f64>,
    /// Search radius, km (default 10, at most 200).
    #[serde(default)]
    pub radius_km: Option<f64>,
    /// When they were last seen, `YYYY-MM-DD` (not in the future).
    #[serde(default)]
    pub last_seen: Option<String>,
}
