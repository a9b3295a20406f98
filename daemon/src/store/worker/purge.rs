//! Retention: the purge of personal data that is due (`[retention]`, docs/ARCHITECTURE.md
//! "Retention"). It runs in the writer's transaction like any command; once that transaction
//! has committed, [`Worker::scrub`] checkpoints the WAL so that the old pages holding what was
//! purged do not linger in `faro.db-wal` (the write connection has `secure_delete` on, so the
//! main file's freed space is zeroed as it is freed).
//!
//! What goes, `personal_days` after the thing it was about ended:
//! - `personal_records` of closed incidents, of aid given (`AID-n`, when its incident, if any,
//!   is closed too), of closed complaints (`CMP-n`) and closed location requests (`LOC-n`);
//! - the conversation of closed incidents (`messages`, and the payload of their outbox rows
//!   once those are done with);
//! - the exact position of closed incidents: rounded to 2 decimals (about 1 km), once.
//!
//! What goes `messages_days` after it was heard or sent: texts of no incident (questions,
//! strangers' chat, operator texts), decided municipal answers, grouped acknowledgements (they
//! name phones by their short names), and the names and positions of nodes outside the
//! station's fleet that reported no incident still open or within `personal_days`.
//!
//! What stays: incidents (their counts, kind, outcome, times), the orientation counts, the aid
//! counts, consents and disclosures (the accountability record, which holds no personal data)
//! and the audit trail (`events` is append-only). Nothing here logs a text or a name: counts.

use std::collections::HashSet;
use std::time::Duration;

use rusqlite::params;
use serde::Serialize;

use super::{Res, Worker};

/// What one purge removed, per kind (counts only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PurgeReport {
    /// Personal data of what ended before this is purged (RFC 3339).
    pub personal_before: String,
    /// Texts and phones heard before this are purged (RFC 3339).
    pub messages_before: String,
    /// Sealed personal records deleted.
    pub personal_records: u64,
    /// Messages (texts heard and sent) deleted.
    pub messages: u64,
    /// Outbox rows whose text was blanked (the copy of a message that went on air).
    pub outbox_texts: u64,
    /// Decided municipal answers deleted.
    pub answers: u64,
    /// Grouped acknowledgements (short names) deleted.
    pub grouped_acks: u64,
    /// Nodes outside the fleet whose names and position were cleared.
    pub nodes: u64,
    /// Closed incidents whose position was rounded to about 1 km.
    pub incident_positions: u64,
    /// Aid records, closed complaints and closed location requests whose position was rounded
    /// the same way.
    #[serde(default)]
    pub casework_positions: u64,
}

impl PurgeReport {
    /// Everything purged, all kinds together.
    pub fn total(&self) -> u64 {
        self.personal_records
            + self.messages
            + self.outbox_texts
            + self.answers
            + self.grouped_acks
            + self.nodes
            + self.incident_positions
            + self.casework_positions
    }

    /// One line of counts for the audit trail and `faroctl purge`.
    pub fn summary(&self) -> String {
        format!(
            "purged {} personal records, {} messages, {} outbox texts, {} municipal answers, \
             {} grouped acknowledgements, {} node names and positions, {} incident and {} \
             casework positions rounded (personal data of items ended before {}, texts and \
             phones heard before {})",
            self.personal_records,
            self.messages,
            self.outbox_texts,
            self.answers,
            self.grouped_acks,
            self.nodes,
            self.incident_positions,
            self.casework_positions,
            self.personal_before,
            self.messages_before,
        )
    }
}

/// Precision recorded for a closed incident's rounded position. Two decimals of a degree are a
/// cell of 0.01° (about 1.1 km north-south); Meshtastic's 16 bits are a cell of 2^16 x 1e-7° =
/// 0.0066° (about 730 m), the nearest of its precisions to it (15 bits would be 0.013°).
/// Kept below any precision already coarser.
const ROUNDED_PRECISION_BITS: u32 = 16;
/// Outbox states of a row that is done with (its payload will never be sent again).
const OUTBOX_FINISHED: &str = "state NOT IN ('pending', 'sending', 'sent')";
/// Checkpoint attempts after a purge (readers may keep old pages needed for a while).
const SCRUB_TRIES: u32 = 3;
/// Pause between checkpoint attempts.
const SCRUB_PAUSE: Duration = Duration::from_millis(50);
/// How long one attempt waits for readers (the writer stalls meanwhile: radio packets wait,
/// so a few seconds in all at most, far within the watchdog's period).
const SCRUB_WAIT: Duration = Duration::from_secs(1);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Worker {
    /// Purges what is due at `at` (never what is not yet due) and records it, in counts, in the
    /// audit trail (`via`: `timer` or `faroctl`; a timer's purge that found nothing is not
    /// recorded). The caller scrubs the WAL after the commit (`scrub_after_commit`).
    pub(super) fn purge(&mut self, at: i64, via: &str, who: &str) -> Res<PurgeReport> {
        let r = self.cfg.retention;
        let personal = at.saturating_sub(ms(r.personal));
        let texts = at.saturating_sub(ms(r.messages));
        let mut report = PurgeReport {
            personal_before: crate::store::rfc3339(personal),
            messages_before: crate::store::rfc3339(texts),
            ..PurgeReport::default()
        };
        // The subjects that ended before the cutoff: closed incidents, aid given (its incident,
        // if any, closed too), closed complaints and location requests.
        report.personal_records = self.exec(
            "DELETE FROM personal_records WHERE subject IN (
                 SELECT id FROM incidents WHERE state = 'closed' AND closed_at < ?1
                 UNION ALL
                 SELECT 'AID-' || a.id FROM assistance a LEFT JOIN incidents i ON i.id = a.incident
                  WHERE a.at < ?1 AND (i.id IS NULL OR (i.state = 'closed' AND i.closed_at < ?1))
                 UNION ALL
                 SELECT 'CMP-' || id FROM complaints WHERE status = 'closed' AND updated_at < ?1
                 UNION ALL
                 SELECT 'LOC-' || id FROM location_requests WHERE state = 'closed' AND closed_at < ?1)",
            [personal],
        )? as u64;
        // The conversation: of incidents closed before the cutoff, and of no incident heard or
        // sent before the texts' cutoff. A message that went on air has its text in its outbox
        // row too: that payload is blanked once the row is done with (a row still to be sent
        // keeps it, and its message, until a later purge).
        let due =
            "(m.incident IN (SELECT id FROM incidents WHERE state = 'closed' AND closed_at < ?1)
                    OR (m.incident IS NULL AND m.at < ?2))";
        report.outbox_texts = self.exec(
            &format!(
                "UPDATE outbox SET payload = x'' WHERE length(payload) > 0 AND {OUTBOX_FINISHED}
                   AND (id IN (SELECT m.outbox_id FROM messages m WHERE m.outbox_id IS NOT NULL AND {due})
                        OR incident IN (SELECT id FROM incidents WHERE state = 'closed' AND closed_at < ?1)
                        OR (incident IS NULL AND created_at < ?2))"
            ),
            params![personal, texts],
        )? as u64;
        report.messages = self.exec(
            &format!(
                "DELETE FROM messages WHERE id IN (
                     SELECT m.id FROM messages m LEFT JOIN outbox o ON o.id = m.outbox_id
                      WHERE {due} AND (m.outbox_id IS NULL OR o.id IS NULL OR o.{OUTBOX_FINISHED}))"
            ),
            params![personal, texts],
        )? as u64;
        report.answers = self.exec(
            "DELETE FROM pending_answers WHERE state != 'pending' AND coalesce(decided_at, at) < ?1",
            [texts],
        )? as u64;
        report.grouped_acks =
            self.exec("DELETE FROM grouped_acks WHERE queued_at < ?1", [texts])? as u64;
        report.nodes = self.forget_nodes(personal, texts)?;
        // The exact position of a closed incident goes; a position rounded to 2 decimals (about
        // 1 km) stays for the map and the figures, recorded as ROUNDED_PRECISION_BITS (never
        // finer than it was). Done once: a rounded row no longer matches.
        report.incident_positions = self.exec(
            "UPDATE incidents SET lat = round(lat, 2), lon = round(lon, 2),
                    precision_bits = min(coalesce(precision_bits, 32), ?2)
              WHERE state = 'closed' AND closed_at < ?1 AND lat IS NOT NULL AND lon IS NOT NULL
                AND (coalesce(precision_bits, 32) > ?2 OR lat != round(lat, 2) OR lon != round(lon, 2))",
            params![personal, ROUNDED_PRECISION_BITS],
        )? as u64;
        // Where aid was given, a complaint happened or people were last seen: the same
        // rounding once the record is over (aid: given; complaints and requests: closed).
        let round = "lat = round(lat, 2), lon = round(lon, 2)";
        let exact = "lat IS NOT NULL AND lon IS NOT NULL AND (lat != round(lat, 2) OR lon != round(lon, 2))";
        for (table, over) in [
            ("assistance", "at < ?1"),
            ("complaints", "status = 'closed' AND updated_at < ?1"),
            ("location_requests", "state = 'closed' AND closed_at < ?1"),
        ] {
            report.casework_positions += self.exec(
                &format!("UPDATE {table} SET {round} WHERE {over} AND {exact}"),
                [personal],
            )? as u64;
        }
        if report.total() > 0 || via != "timer" {
            self.event(
                None,
                at,
                who,
                via,
                &format!("retention: {}", report.summary()),
            )?;
        }
        if report.total() > 0 || self.scrub_owed.get() {
            self.scrub_after_commit = true;
        }
        Ok(report)
    }

    /// Clears the names and position of nodes outside the station's fleet last heard before
    /// `texts`, unless one reported an incident still open or closed after `personal`.
    /// The fleet: the configured teams', municipalities' and towers' nodes, nodes with a role
    /// (patrol, tower, station), and nodes with a key enrolled at the desk.
    fn forget_nodes(&mut self, personal: i64, texts: i64) -> Res<u64> {
        let fleet: HashSet<u32> = self
            .cfg
            .teams
            .iter()
            .flat_map(|t| t.nodes.iter().copied())
            .chain(
                self.cfg
                    .municipalities
                    .iter()
                    .flat_map(|m| m.nodes.iter().copied()),
            )
            .chain(self.cfg.towers.keys().copied())
            .collect();
        let candidates: Vec<u32> = {
            let mut st = self.conn.prepare_cached(
                "SELECT n.num FROM nodes n
                  WHERE n.role IS NULL AND coalesce(n.last_heard_at, 0) < ?1
                    AND (n.long_name IS NOT NULL OR n.short_name IS NOT NULL OR n.lat IS NOT NULL
                         OR n.lon IS NOT NULL OR n.alt IS NOT NULL OR n.position_at IS NOT NULL
                         OR n.precision_bits IS NOT NULL)
                    AND NOT EXISTS (SELECT 1 FROM keys k WHERE k.node = n.num)
                    AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.reporter = n.num
                                     AND (i.state != 'closed' OR coalesce(i.closed_at, ?2) >= ?2))",
            )?;
            let rows = st.query_map(params![texts, personal], |r| r.get::<_, u32>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut n = 0;
        for num in candidates.into_iter().filter(|num| !fleet.contains(num)) {
            n += self.exec(
                "UPDATE nodes SET long_name = NULL, short_name = NULL, lat = NULL, lon = NULL,
                        alt = NULL, position_at = NULL, precision_bits = NULL
                  WHERE num = ?1",
                [num],
            )? as u64;
        }
        Ok(n)
    }

    /// Moves every page of the WAL into the database file and empties the WAL
    /// (`wal_checkpoint(TRUNCATE)`), so that old versions of pages (with what was just purged
    /// or destroyed) are left nowhere. Call it after the transaction that removed them has
    /// committed, never inside one. Retries a few times while readers still need old pages;
    /// returns whether the WAL was emptied (if not, the next purge scrubs again).
    pub(super) fn scrub(&self) -> bool {
        let _ = self.conn.busy_timeout(SCRUB_WAIT);
        let done = self.checkpoint();
        let _ = self.conn.busy_timeout(super::BUSY_TIMEOUT);
        self.scrub_owed.set(!done);
        done
    }

    fn checkpoint(&self) -> bool {
        for attempt in 1..=SCRUB_TRIES {
            let r = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                });
            match r {
                Ok((0, frames, copied)) => {
                    tracing::debug!(attempt, frames, copied, "WAL checkpointed and emptied");
                    return true;
                }
                Ok((_, frames, copied)) => {
                    tracing::debug!(
                        attempt,
                        frames,
                        copied,
                        "WAL checkpoint blocked by a reader"
                    );
                }
                Err(e) => tracing::debug!(attempt, error = %e, "WAL checkpoint failed"),
            }
            if attempt < SCRUB_TRIES {
                std::thread::sleep(SCRUB_PAUSE);
            }
        }
        tracing::warn!("the WAL could not be emptied after a purge (a reader held old pages); the next purge tries again");
        false
    }
}
