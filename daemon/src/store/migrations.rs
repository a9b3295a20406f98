//! Schema migrations, keyed by SQLite's `user_version`. Each entry moves the schema from
//! version N to N+1 and runs in the same transaction as the version bump; a database newer
//! than this binary is refused rather than guessed at.

use rusqlite::Connection;

/// The migrations, in order. Never edit a shipped one: append.
const MIGRATIONS: &[&str] = &[
    // 1: incidents, their append-only audit trail, nodes, team positions, outbox, dedup,
    //    personal data kept apart.
    r#"
CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,            -- SAS-17
    seq             INTEGER NOT NULL UNIQUE,
    state           TEXT NOT NULL,
    outcome         TEXT,
    kind            TEXT NOT NULL,
    priority        INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 4),
    priority_why    TEXT NOT NULL,               -- JSON array of reasons
    people          INTEGER,
    flags           TEXT NOT NULL DEFAULT '',    -- comma-separated
    source          TEXT NOT NULL,               -- text, bell, alert, detection, waypoint, patrol_sos, manual
    reporter        INTEGER,                     -- node number; NULL for a manual report
    language        TEXT NOT NULL,
    lat             REAL,
    lon             REAL,
    precision_bits  INTEGER,
    position_source TEXT,
    position_at     INTEGER,                     -- unix ms of the fix
    team            TEXT,
    heard_count     INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_heard_at   INTEGER NOT NULL,
    last_reply_at   INTEGER,
    closed_at       INTEGER
);
CREATE INDEX incidents_by_state ON incidents(state, priority, created_at);
CREATE INDEX incidents_by_reporter ON incidents(reporter, state);

CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    incident TEXT REFERENCES incidents(id),      -- NULL: a station-level event
    at       INTEGER NOT NULL,
    who      TEXT NOT NULL,                      -- operator:ana, patrol:P1, node:!a1b2c3d4, system
    via      TEXT NOT NULL,                      -- radio name, socket, timer
    what     TEXT NOT NULL
);
CREATE INDEX events_by_incident ON events(incident, id);
CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_d BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE nodes (
    num           INTEGER PRIMARY KEY,
    long_name     TEXT,
    short_name    TEXT,
    role          TEXT,                          -- patrol, tower, station, or NULL
    last_heard_at INTEGER,
    last_radio    TEXT,
    lat           REAL,
    lon           REAL,
    alt           INTEGER,
    position_at   INTEGER
);

CREATE TABLE team_positions (
    id   INTEGER PRIMARY KEY,
    team TEXT NOT NULL,
    node INTEGER NOT NULL,
    at   INTEGER NOT NULL,
    lat  REAL NOT NULL,
    lon  REAL NOT NULL,
    alt  INTEGER
);
CREATE INDEX team_positions_by_team ON team_positions(team, at);

CREATE TABLE teams (
    name       TEXT PRIMARY KEY,
    status     TEXT NOT NULL,                    -- ok, stale, lost, unknown
    changed_at INTEGER NOT NULL
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    class           INTEGER NOT NULL,            -- 0 distress reply, 1 patrol, 2 operator/other
    incident        TEXT REFERENCES incidents(id),
    dest            INTEGER NOT NULL,
    channel         INTEGER NOT NULL,
    portnum         INTEGER NOT NULL,
    payload         BLOB NOT NULL CHECK (length(payload) <= 200),
    want_ack        INTEGER NOT NULL,
    state           TEXT NOT NULL,               -- pending, sending, sent, acked, implicit, done, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    radio           TEXT,
    packet_id       INTEGER,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox(state, class, next_attempt_at);
CREATE INDEX outbox_by_packet ON outbox(radio, packet_id);

CREATE TABLE seen_packets (
    sender    INTEGER NOT NULL,
    packet_id INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (sender, packet_id)
) WITHOUT ROWID;
CREATE INDEX seen_packets_by_age ON seen_packets(at);

-- Personal data: optional, local only, never in a mesh message or a log line.
CREATE TABLE personal (
    incident       TEXT PRIMARY KEY REFERENCES incidents(id),
    name           TEXT,
    nationality    TEXT,
    origin         TEXT,
    relative_phone TEXT,
    updated_at     INTEGER NOT NULL
);
"#,
    // 2: ambulance requests, one row per municipality asked, in escalation order; outbox rows
    //    may carry their own attempt limit (ambulance requests escalate sooner).
    r#"
CREATE TABLE ambulance (
    id           INTEGER PRIMARY KEY,
    incident     TEXT NOT NULL REFERENCES incidents(id),
    attempt      INTEGER NOT NULL,               -- 1, 2, ... in escalation order
    municipality TEXT NOT NULL,
    muni_state   TEXT NOT NULL,
    node         INTEGER,                        -- NULL: phone only
    phone        TEXT,
    distance_km  REAL NOT NULL,
    status       TEXT NOT NULL,
    eta_minutes  INTEGER,
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    answered_at  INTEGER,
    deadline_at  INTEGER NOT NULL,
    reminder_at  INTEGER,
    reminded     INTEGER NOT NULL DEFAULT 0,
    outbox_id    INTEGER REFERENCES outbox(id),
    reason       TEXT,
    UNIQUE (incident, attempt)
);
CREATE INDEX ambulance_active ON ambulance(status, deadline_at);
CREATE INDEX ambulance_by_node ON ambulance(node, status);
ALTER TABLE outbox ADD COLUMN max_attempts INTEGER;
"#,
    // 3: the open incidents on their own. A station keeps years of closed incidents; the queue
    //    listing, the status counts and a team's assignments ask only for the open ones
    //    (`state != 'closed'`, which no index on `state` serves), and scanned every incident.
    r#"
CREATE INDEX incidents_open ON incidents(priority, created_at) WHERE state != 'closed';
CREATE INDEX incidents_open_by_team ON incidents(team) WHERE state != 'closed';
"#,
    // 4: which of the station's radios heard each node, and when last: a reply goes out on
    //    the radio free soonest among those that heard its destination recently (a phone heard
    //    by two radios no longer waits for the one that heard it last).
    r#"
CREATE TABLE node_radios (
    node          INTEGER NOT NULL,
    radio         TEXT NOT NULL,
    last_heard_at INTEGER NOT NULL,
    PRIMARY KEY (node, radio)
) WITHOUT ROWID;
"#,
    // 5: positions keep the precision their sender chose. A phone that shares a rounded
    //    position (Meshtastic's precision bits) was recorded as exact, and an incident opened
    //    from its last known position claimed a precision nobody sent. NULL: recorded before
    //    this version, when only exact positions were kept as such (treated as exact).
    r#"
ALTER TABLE nodes ADD COLUMN precision_bits INTEGER;
ALTER TABLE team_positions ADD COLUMN precision_bits INTEGER;
"#,
    // 6: the conversation: every text heard and every text Faro queued, in a table of its own
    //    (message texts are personal data a retention policy will purge; `events` is
    //    append-only). An outgoing message's delivery is its outbox row's state, joined at read
    //    time. The incident link is checked at commit: a packet's message is written before
    //    the effects that open its incident, so a reply queued by them comes after it.
    r#"
CREATE TABLE messages (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    node      INTEGER NOT NULL,                  -- the sender (in) or the destination (out)
    radio     TEXT,                              -- the radio that heard it (in)
    channel   INTEGER,
    hops      INTEGER,
    snr       REAL,
    text      TEXT NOT NULL,                     -- personal data: never in a log line
    language  TEXT,
    understood TEXT,                             -- what Faro made of it (distress, command...)
    incident  TEXT REFERENCES incidents(id) DEFERRABLE INITIALLY DEFERRED,
    outbox_id INTEGER REFERENCES outbox(id)
);
CREATE INDEX messages_by_incident ON messages(incident, at);
CREATE INDEX messages_by_node ON messages(node, at);
"#,
    // 7: orientations given (water, where am I, rights, risks, while waiting, the menu),
    //    counted per UTC day, topic and language, for the station's statistics. Counts only:
    //    who asked is in the conversation, which retention purges; these stay.
    r#"
CREATE TABLE orientations (
    day      TEXT NOT NULL,                      -- YYYY-MM-DD, UTC
    topic    TEXT NOT NULL,
    language TEXT NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (day, topic, language)
) WITHOUT ROWID;
"#,
    // 8: trust. The public key the station's radio holds for each node, the keys enrolled at
    //    the desk for patrols' and municipalities' nodes, packets that may change state
    //    remembered for long (a replay is recognised across restarts while the row is kept),
    //    and the answers of municipalities without PKI awaiting an operator's confirmation.
    r#"
ALTER TABLE nodes ADD COLUMN public_key BLOB;
CREATE INDEX nodes_by_key ON nodes(public_key) WHERE public_key IS NOT NULL;
CREATE TABLE keys (
    node        INTEGER NOT NULL,
    key         BLOB NOT NULL CHECK (length(key) = 32),
    holder_kind TEXT NOT NULL CHECK (holder_kind IN ('team', 'municipality')),
    holder      TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    enrolled_by TEXT NOT NULL,
    PRIMARY KEY (node, key)
) WITHOUT ROWID;
ALTER TABLE seen_packets ADD COLUMN keep INTEGER NOT NULL DEFAULT 0;
CREATE TABLE pending_answers (                  -- from municipalities configured pki = false
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    node         INTEGER NOT NULL,
    municipality TEXT NOT NULL,
    text         TEXT NOT NULL,                 -- personal data: never in a log line
    state        TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'rejected')),
    decided_at   INTEGER,
    decided_by   TEXT
);
"#,
    // 9: ambulance requests, reminders and cancels get a class of their own ahead of replies to
    //    people in distress (0); the other classes move down one, rows already queued with them.
    r#"
UPDATE outbox SET class = class + 1;
UPDATE outbox SET class = 0
 WHERE id IN (SELECT outbox_id FROM messages
              WHERE outbox_id IS NOT NULL
                AND understood IN ('ambulance_request', 'ambulance_reminder', 'ambulance_cancel'));
"#,
    // 10: the air. Seven outbox classes (ambulance; patrol dispatch and safety; replies to P1;
    //     P2; operator texts; P3/P4 and questions to unclear senders; orientation and
    //     broadcasts), rows already queued moved to theirs. A message is dropped unsent when a
    //     newer one supersedes it or its reason ended (state `dropped`, the reason in
    //     `last_error`; no schema change). Each radio remembers
    //     how many hops a node's last packet took and on which channel, so that a reply goes
    //     out with just enough hops on the channel it answers.
    r#"
UPDATE outbox SET class = CASE class WHEN 1 THEN 2 WHEN 2 THEN 1 WHEN 3 THEN 4 ELSE class END;
UPDATE outbox SET class = CASE (SELECT priority FROM incidents i WHERE i.id = outbox.incident)
                          WHEN 2 THEN 3 WHEN 3 THEN 5 WHEN 4 THEN 5 ELSE 2 END
 WHERE class = 2 AND incident IS NOT NULL;
UPDATE outbox SET class = 5
 WHERE id IN (SELECT outbox_id FROM messages WHERE outbox_id IS NOT NULL AND understood = 'ask_help');
UPDATE outbox SET class = 6
 WHERE id IN (SELECT outbox_id FROM messages WHERE outbox_id IS NOT NULL AND understood LIKE 'orient%');
ALTER TABLE node_radios ADD COLUMN hops INTEGER;
ALTER TABLE node_radios ADD COLUMN channel INTEGER;
"#,
    // 11: surge mode. Senders whose P3/P4 acknowledgement is grouped into a broadcast (one per
    //     language, by the short name their app shows; `sent_at`: when the broadcast naming
    //     them was queued), and the surges themselves (why, when, how many were grouped).
    r#"
CREATE TABLE grouped_acks (
    id         INTEGER PRIMARY KEY,
    node       INTEGER NOT NULL,
    incident   TEXT REFERENCES incidents(id),
    language   TEXT NOT NULL,
    short_name TEXT NOT NULL,                    -- cleaned, at most 8 bytes
    queued_at  INTEGER NOT NULL,
    sent_at    INTEGER
);
CREATE INDEX grouped_acks_waiting ON grouped_acks(sent_at, id);
CREATE TABLE surges (
    id       INTEGER PRIMARY KEY,
    since    INTEGER NOT NULL,
    cause    TEXT NOT NULL,
    ended_at INTEGER,
    grouped  INTEGER NOT NULL DEFAULT 0          -- senders named in broadcasts, set at the end
);
"#,
    // 12: casework (docs/PRIVACY.md). Aid given (with the kinds of aid in a table of their
    //     own, for the figures), complaints channelled with consent, location requests for
    //     missing people, consents, disclosures, and personal records sealed with a data key
    //     that is itself sealed with the station's systemd credential (`keyring`; destroying
    //     its row makes every record sealed with it unreadable). The unused `personal` table
    //     of version 1 goes: nothing ever wrote it. Identity-free fields only outside
    //     `personal_records`: counts, categories, places, dates.
    r#"
DROP TABLE IF EXISTS personal;
CREATE TABLE assistance (
    id                   INTEGER PRIMARY KEY,        -- shown as AID-<id>
    at                   INTEGER NOT NULL,           -- when the aid was given, unix ms
    incident             TEXT REFERENCES incidents(id),
    people               INTEGER NOT NULL CHECK (people BETWEEN 1 AND 10000),
    adults               INTEGER CHECK (adults >= 0),
    minors               INTEGER CHECK (minors >= 0),
    unaccompanied_minors INTEGER CHECK (unaccompanied_minors >= 0),
    women                INTEGER CHECK (women >= 0),
    pregnant             INTEGER CHECK (pregnant >= 0),
    place                TEXT,                       -- a place name, never a person's
    lat                  REAL,
    lon                  REAL,
    team                 TEXT,
    recorded_by          TEXT NOT NULL,
    recorded_at          INTEGER NOT NULL
);
CREATE INDEX assistance_by_at ON assistance(at);
CREATE INDEX assistance_by_incident ON assistance(incident);
CREATE TABLE assistance_kinds (
    assistance INTEGER NOT NULL REFERENCES assistance(id),
    kind       TEXT NOT NULL CHECK (kind IN ('first_aid', 'hospital_transfer', 'shelter_transfer',
                                             'water', 'food', 'phone_call', 'orientation',
                                             'legal_advice')),
    PRIMARY KEY (assistance, kind)
) WITHOUT ROWID;

CREATE TABLE consents (
    id           INTEGER PRIMARY KEY,
    subject      TEXT NOT NULL,                      -- SAS-17, AID-3, CMP-2, LOC-5
    given_by     TEXT NOT NULL CHECK (given_by IN ('person', 'guardian', 'requester')),
    purposes     TEXT NOT NULL,                      -- comma-separated (casework::Purpose)
    at           INTEGER NOT NULL,
    recorded_by  TEXT NOT NULL,
    withdrawn_at INTEGER,
    withdrawn_by TEXT
);
CREATE INDEX consents_by_subject ON consents(subject);

CREATE TABLE complaints (
    id            INTEGER PRIMARY KEY,               -- shown as CMP-<id>
    at            INTEGER NOT NULL,                  -- recorded
    incident      TEXT REFERENCES incidents(id),
    assistance    INTEGER REFERENCES assistance(id),
    category      TEXT NOT NULL CHECK (category IN ('robbery', 'assault', 'extortion', 'kidnapping',
                                                    'abuse_by_official', 'other')),
    people        INTEGER NOT NULL DEFAULT 1 CHECK (people BETWEEN 1 AND 10000),
    occurred_on   TEXT,                              -- YYYY-MM-DD
    place         TEXT,
    lat           REAL,
    lon           REAL,
    referred_kind TEXT CHECK (referred_kind IN ('prosecutor', 'consulate', 'human_rights')),
    referred_to   TEXT,                              -- a configured referral's name
    status        TEXT NOT NULL CHECK (status IN ('recorded', 'referred', 'acknowledged', 'closed')),
    consent       INTEGER NOT NULL REFERENCES consents(id),
    recorded_by   TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX complaints_by_at ON complaints(at);

CREATE TABLE location_requests (
    id              INTEGER PRIMARY KEY,             -- shown as LOC-<id>
    at              INTEGER NOT NULL,
    requester_kind  TEXT NOT NULL CHECK (requester_kind IN ('relative', 'consulate', 'station',
                                                           'headquarters', 'authority')),
    people_sought   INTEGER NOT NULL CHECK (people_sought BETWEEN 1 AND 10000),
    place           TEXT,                            -- last seen: a place or area name
    lat             REAL,
    lon             REAL,
    radius_km       REAL,
    last_seen_on    TEXT,                            -- YYYY-MM-DD
    state           TEXT NOT NULL CHECK (state IN ('open', 'searching', 'closed')),
    team            TEXT,                            -- the patrol given the search task
    outcome         TEXT CHECK (outcome IN ('found_alive', 'found_dead', 'not_found', 'withdrawn')),
    found           INTEGER NOT NULL DEFAULT 0 CHECK (found >= 0),
    closed_at       INTEGER,
    reported_at     INTEGER,                         -- outcome reported back to the requester
    recorded_by     TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX location_requests_by_at ON location_requests(at);

CREATE TABLE keyring (
    id           INTEGER PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    wrapped      BLOB,                               -- the data key, sealed; NULL once destroyed
    destroyed_at INTEGER,
    destroyed_by TEXT
);

CREATE TABLE personal_records (
    id          INTEGER PRIMARY KEY,
    subject     TEXT NOT NULL,                       -- SAS-17, AID-3, CMP-2, LOC-5
    field       TEXT NOT NULL CHECK (field IN ('name', 'nationality', 'origin', 'relative_phone',
                                               'description', 'note', 'contact')),
    key         INTEGER NOT NULL REFERENCES keyring(id),
    sealed      BLOB NOT NULL,                       -- nonce || ciphertext || tag
    consent     INTEGER REFERENCES consents(id),     -- NULL only for an operator's note
    at          INTEGER NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX personal_by_subject ON personal_records(subject);

CREATE TABLE disclosures (
    id             INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    subject        TEXT NOT NULL,
    recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('authority', 'relative', 'consulate',
                                                          'headquarters', 'municipality')),
    recipient      TEXT NOT NULL,                    -- an institution, or a relationship
    reason         TEXT NOT NULL,
    profile        TEXT NOT NULL,
    fields         TEXT NOT NULL,                    -- what the export held, comma-separated
    consent        INTEGER REFERENCES consents(id),
    digest         TEXT NOT NULL,                    -- SHA-256 of the export, hex
    by             TEXT NOT NULL
);
CREATE INDEX disclosures_by_subject ON disclosures(subject);
"#,
    // 13: the desk's users and their sessions (issue 15; docs/SECURITY.md). A password is kept
    //     only as its Argon2id PHC string, a session only as the SHA-256 of its token (hex):
    //     a copy of the database gives neither a password nor a live session. A user is never
    //     deleted (the audit trail names them), only disabled.
    r#"
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('desk', 'coordinator', 'auditor')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    disabled_at   INTEGER
);
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,                   -- SHA-256 of the token, hex
    user         TEXT NOT NULL REFERENCES users(name),
    csrf         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user);
"#,
    // 14: each node's last battery reading, from its DeviceMetrics telemetry (issue 15: the
    //     teams page). battery_level is 0-100, or 101: on external power; NULL when the node
    //     does not know. telemetry_at is when it was measured (ms); only a newer one replaces it.
    r#"
ALTER TABLE nodes ADD COLUMN battery_level INTEGER;
ALTER TABLE nodes ADD COLUMN voltage REAL;
ALTER TABLE nodes ADD COLUMN telemetry_at INTEGER;
"#,
    // 15: the uplink to headquarters (issue 16). Every change headquarters may see (an
    //     incident opened or changed, a team's status) is written in `uplink`, in the same
    //     transaction as the change itself, by triggers: nothing is published that was not
    //     committed, and nothing committed is forgotten. `seq` is the station's sequence
    //     (AUTOINCREMENT: never reused, even after rows are deleted); `body` is the thing as it
    //     was after that change, in headquarters' profile only (no reporter, node, name, text,
    //     reasons or notes; positions to three decimals), so a message sent twice says the
    //     same both times. `uplink_state.acked` is the highest seq the broker acknowledged;
    //     rows up to it are deleted. The triggers write only while `enabled` (an `[uplink]` is
    //     configured), so a station without one keeps nothing.
    r#"
CREATE TABLE uplink (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL CHECK (topic IN ('incident', 'team')),
    at    INTEGER NOT NULL,                   -- when it changed (ms)
    body  TEXT NOT NULL                       -- JSON: the thing after the change
);
CREATE TABLE uplink_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    enabled INTEGER NOT NULL DEFAULT 0,
    acked   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO uplink_state(id, enabled, acked) VALUES (1, 0, 0);
CREATE TRIGGER uplink_incident_opened AFTER INSERT ON incidents
WHEN (SELECT enabled FROM uplink_state WHERE id = 1) = 1
BEGIN
    INSERT INTO uplink(topic, at, body) VALUES ('incident', NEW.updated_at, json_object(
        'id', NEW.id, 'state', NEW.state, 'outcome', NEW.outcome, 'kind', NEW.kind,
        'priority', NEW.priority, 'people', NEW.people, 'flags', NEW.flags,
        'lat', round(NEW.lat, 3), 'lon', round(NEW.lon, 3), 'team', NEW.team,
        'created_at', NEW.created_at, 'updated_at', NEW.updated_at, 'closed_at', NEW.closed_at));
END;
CREATE TRIGGER uplink_incident_changed
AFTER UPDATE OF state, outcome, kind, priority, people, flags, lat, lon, team, closed_at ON incidents
WHEN (SELECT enabled FROM uplink_state WHERE id = 1) = 1
BEGIN
    INSERT INTO uplink(topic, at, body) VALUES ('incident', NEW.updated_at, json_object(
        'id', NEW.id, 'state', NEW.state, 'outcome', NEW.outcome, 'kind', NEW.kind,
        'priority', NEW.priority, 'people', NEW.people, 'flags', NEW.flags,
        'lat', round(NEW.lat, 3), 'lon', round(NEW.lon, 3), 'team', NEW.team,
        'created_at', NEW.created_at, 'updated_at', NEW.updated_at, 'closed_at', NEW.closed_at));
END;
CREATE TRIGGER uplink_team_status AFTER UPDATE OF status ON teams
WHEN (SELECT enabled FROM uplink_state WHERE id = 1) = 1 AND NEW.status != OLD.status
BEGIN
    INSERT INTO uplink(topic, at, body) VALUES ('team', NEW.changed_at, json_object(
        'name', NEW.name, 'status', NEW.status, 'changed_at', NEW.changed_at));
END;
"#,
];

/// The schema version this binary writes.
pub const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`CURRENT`]; returns the version it found.
pub fn migrate(conn: &mut Connection) -> Result<i64, String> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if found > CURRENT {
        return Err(format!(
            "database schema {found} is newer than this farod ({CURRENT}); refusing to touch it"
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        tx.execute_batch(sql)
            .map_err(|e| format!("migration {}: {e}", i + 1))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_the_future() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c).unwrap(), 0);
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        c.pragma_update(None, "user_version", CURRENT + 1).unwrap();
        assert!(migrate(&mut c)
            .unwrap_err()
            .contains("newer than this farod"));
    }

    #[test]
    fn events_are_append_only() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        c.execute("INSERT INTO events(incident, at, who, via, what) VALUES (NULL, 1, 'system', 'test', 'x')", []).unwrap();
        assert!(c.execute("UPDATE events SET what = 'y'", []).is_err());
        assert!(c.execute("DELETE FROM events", []).is_err());
    }
}
