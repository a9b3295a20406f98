//! Upkeep: what a radio's delivery result means for an outbox row (retry with backoff, or
//! give up, and tell the incident), and team status from the age of their last position.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use faro_proto::mesh::{self, NodeId};

use super::{Desk, DeskResult, Effect, Facts, SentRow};
use crate::radio::DeliveryOutcome;

/// A team's health, from the age of its last position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TeamHealth {
    /// No position yet.
    Unknown,
    /// Heard within twice its interval.
    Ok,
    /// Silent for twice its interval.
    Stale,
    /// Silent for six times its interval.
    Lost,
}

impl TeamHealth {
    /// Name in the database and API.
    pub fn as_str(self) -> &'static str {
        match self {
            TeamHealth::Unknown => "unknown",
            TeamHealth::Ok => "ok",
            TeamHealth::Stale => "stale",
            TeamHealth::Lost => "lost",
        }
    }
}

impl fmt::Display for TeamHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TeamHealth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            TeamHealth::Unknown,
            TeamHealth::Ok,
            TeamHealth::Stale,
            TeamHealth::Lost,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
        .ok_or_else(|| format!("unknown team status {s:?}"))
    }
}

/// `ok`, `stale` (no position for 2x the interval) or `lost` (6x); `unknown` before any.
pub fn team_status(last: Option<i64>, at: i64, interval: Duration) -> TeamHealth {
    let Some(last) = last else {
        return TeamHealth::Unknown;
    };
    let age = at - last;
    let i = interval.as_millis() as i64;
    if age >= 6 * i {
        TeamHealth::Lost
    } else if age >= 2 * i {
        TeamHealth::Stale
    } else {
        TeamHealth::Ok
    }
}

/// Retry delay after `attempts` failed sends: 10 s, 20 s, 40 s ... capped at 5 min.
pub fn backoff_ms(attempts: u32) -> i64 {
    (10_000i64 << attempts.min(5)).min(300_000)
}

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// The routing result of a packet `radio` sent as `packet_id`.
    pub fn delivery(
        &mut self,
        radio: &str,
        packet_id: u32,
        outcome: DeliveryOutcome,
    ) -> DeskResult<()> {
        let Some(sent) = self.facts.sent_row(radio, packet_id)? else {
            return Ok(());
        };
        let max_attempts = sent.max_attempts.unwrap_or(self.cfg.max_attempts);
        let attempts = sent.attempts;
        let (state, retry_in) = match outcome {
            DeliveryOutcome::Acked => ("acked", None),
            DeliveryOutcome::ImplicitAck => ("implicit", None),
            // The firmware's own pacing: not the destination's fault, no attempt counted.
            DeliveryOutcome::Nak(mesh::routing::Error::RateLimitExceeded) => {
                ("pending", Some(3_000))
            }
            DeliveryOutcome::Nak(_) | DeliveryOutcome::TimedOut if attempts < max_attempts => {
                ("pending", Some(backoff_ms(attempts)))
            }
            DeliveryOutcome::Nak(_) | DeliveryOutcome::TimedOut => ("failed", None),
        };
        // An ambulance request whose attempt no longer awaits an answer (cancelled, the
        // incident closed, answered or timed out) is never put on air again.
        let (state, retry_in) = if state == "pending" && self.amb_settled_ask(&sent)? {
            ("done", None)
        } else {
            (state, retry_in)
        };
        self.out.effects.push(Effect::OutboxState {
            row: sent.row,
            state,
            next_attempt_at: Some(self.at + retry_in.unwrap_or(0)),
            error: Some(outcome.to_string()),
        });
        if let Some(inc) = &sent.incident {
            let what = match state {
                "acked" => Some(format!("reply to {} delivered (ack)", NodeId(sent.dest))),
                "failed" => Some(format!(
                    "reply to {} failed after {attempts} attempts: {outcome}",
                    NodeId(sent.dest)
                )),
                _ => None,
            };
            if let Some(what) = what {
                self.event(Some(inc), "system", radio, what);
            }
        }
        self.amb_on_delivery(sent.row, state, radio)
    }

    /// Whether an outbox row asks a municipality (the request, or its reminder: an ambulance-class
    /// row with the ambulance attempt limit) about an attempt that no longer awaits an answer.
    fn amb_settled_ask(&self, sent: &SentRow) -> DeskResult<bool> {
        if let Some(a) = self.facts.amb_by_outbox(sent.row)? {
            return Ok(!a.status.awaiting_answer());
        }
        let Some(inc) = sent.incident.as_deref() else {
            return Ok(false);
        };
        if sent.max_attempts.is_none() {
            return Ok(false);
        }
        let mut rows = self
            .facts
            .amb_answerable(sent.dest)?
            .into_iter()
            .filter(|r| r.incident == inc)
            .peekable();
        Ok(rows.peek().is_some() && !rows.any(|r| r.status.awaiting_answer()))
    }

    /// The link refused an outbox row for good: the incident hears why.
    pub fn outbox_failed(&mut self, row: i64, error: &str) -> DeskResult<()> {
        let incident = self.facts.outbox_incident(row)?;
        self.event(
            incident.as_deref(),
            "system",
            "outbox",
            format!("message {row} cannot be sent: {error}"),
        );
        Ok(())
    }

    /// Team status from the age of each team's last position; a team that goes stale or lost
    /// is written into each of its open incidents.
    pub fn team_tick(&mut self) -> DeskResult<()> {
        let teams = self.cfg.teams.clone();
        for t in &teams {
            let (last, old) = self.facts.team(&t.name)?;
            let status = team_status(last, self.at, t.interval);
            if old == status {
                continue;
            }
            self.out.effects.push(Effect::TeamStatus {
                team: t.name.clone(),
                status,
            });
            match status {
                TeamHealth::Stale | TeamHealth::Lost => {
                    let age = last.map_or("never".to_string(), |l| {
                        format!("{} s ago", (self.at - l) / 1000)
                    });
                    let what = format!("patrol {} is {status}: last position {age}", t.name);
                    let ids = self.facts.team_incidents(&t.name)?;
                    if ids.is_empty() {
                        self.event(None, "system", "timer", what.clone());
                    }
                    for id in ids {
                        self.event(Some(&id), "system", "timer", what.clone());
                    }
                }
                _ if old != TeamHealth::Unknown => {
                    self.event(
                        None,
                        "system",
                        "timer",
                        format!("patrol {} is {status} again", t.name),
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A patrol's position was just heard: the team is ok now, not at the next tick (an
    /// operator choosing the nearest available team should not wait for the timer).
    pub(super) fn team_heard(&mut self, team: &str) -> DeskResult<()> {
        let (_, old) = self.facts.team(team)?;
        if old == TeamHealth::Ok {
            return Ok(());
        }
        self.out.effects.push(Effect::TeamStatus {
            team: team.to_string(),
            status: TeamHealth::Ok,
        });
        if old != TeamHealth::Unknown {
            self.event(
                None,
                "system",
                "intake",
                format!("patrol {team} is {} again", TeamHealth::Ok),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_status_thresholds() {
        let i = Duration::from_secs(60);
        assert_eq!(team_status(None, 0, i), TeamHealth::Unknown);
        assert_eq!(team_status(Some(0), 119_999, i), TeamHealth::Ok);
        assert_eq!(team_status(Some(0), 120_000, i), TeamHealth::Stale);
        assert_eq!(team_status(Some(0), 360_000, i), TeamHealth::Lost);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(0), 10_000);
        assert_eq!(backoff_ms(1), 20_000);
        assert_eq!(backoff_ms(9), 300_000);
    }
}
