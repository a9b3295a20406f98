//! Surge mode: when the replies waiting in the outbox would take longer than
//! [`SurgeConfig::after`] to send one by one, acknowledgements to priority 3/4 incidents are
//! grouped: every [`SurgeConfig::group_every`], one broadcast per language names as many
//! waiting senders as fit in a packet (by the short name their app shows them) and tells them
//! what to do meanwhile. Replies to P1/P2 stay direct. The mode ends when the estimate falls
//! below half of `after` and no grouped acknowledgement waits.

use std::time::Duration;

use faro_proto::mesh::{self, NodeId};

use super::{Desk, DeskResult, Effect, Facts, CLASS_P1, CLASS_P3};
use crate::catalog::{Catalog, Msg};
use crate::lang::Lang;

/// Longest short name put on air, bytes.
pub const SHORT_NAME_MAX: usize = 8;

/// `[surge]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SurgeConfig {
    /// An estimated wait above this starts the mode.
    pub after: Duration,
    /// What one direct text costs a radio within its airtime budget.
    pub send_each: Duration,
    /// How often grouped broadcasts go (the surge tick).
    pub group_every: Duration,
    /// Radios that share the outbox (at least 1).
    pub radios: u32,
    /// Acknowledgements to incidents of this priority and less urgent are grouped (3: P3/P4;
    /// 2 also groups P2's first acknowledgements). P1 always stays direct.
    pub group_from: u8,
}

impl Default for SurgeConfig {
    fn default() -> Self {
        SurgeConfig {
            after: Duration::from_secs(180),
            send_each: Duration::from_secs(4),
            group_every: Duration::from_secs(30),
            radios: 1,
            group_from: 3,
        }
    }
}

impl SurgeConfig {
    /// The most urgent outbox class whose acknowledgements are grouped.
    pub fn group_class(&self) -> u8 {
        super::reply_class(self.group_from.max(2))
    }

    /// The time `pending` direct replies take to send one by one, ms.
    pub fn estimate_ms(&self, pending: u32) -> i64 {
        pending as i64 * self.send_each.as_millis() as i64 / self.radios.max(1) as i64
    }

    /// Whether a surge starts (when off) or goes on (when on), given the estimate and whether
    /// grouped acknowledgements still wait. Hysteresis: it starts above `after` and ends only
    /// below half of it.
    pub fn surging(&self, on: bool, estimate_ms: i64, waiting: bool) -> bool {
        let after = self.after.as_millis() as i64;
        if on {
            waiting || estimate_ms * 2 >= after
        } else {
            estimate_ms > after
        }
    }
}

/// The surge in progress, as the desk reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct SurgeFacts {
    /// Unix ms it started.
    pub since: i64,
    /// Why, in words.
    pub cause: String,
    /// Senders grouped so far.
    pub grouped: u32,
}

/// A sender waiting for a grouped acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedAck {
    /// Row.
    pub id: i64,
    /// Sender.
    pub node: u32,
    /// Its incident.
    pub incident: Option<String>,
    /// Language it is answered in.
    pub language: Lang,
    /// The name it is called by on air (already cleaned).
    pub short_name: String,
}

/// A direct acknowledgement to a P3/P4 sender still waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAck {
    /// Outbox row.
    pub row: i64,
    /// Sender.
    pub node: u32,
    /// Incident.
    pub incident: Option<String>,
    /// Its language.
    pub language: Lang,
}

/// A short name heard on the air, fit to be put back on it: control and invisible formatting
/// characters and commas (the list separator) removed, spaces trimmed, at most
/// [`SHORT_NAME_MAX`] bytes on a character boundary. Nothing left: the last 4 hex digits of the
/// node number, as the Meshtastic app shows a node without a name.
pub fn clean_short_name(raw: Option<&str>, node: u32) -> String {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF)
            || c == ','
            || c == '{'
            || c == '}'
    };
    let cleaned: String = raw
        .unwrap_or_default()
        .chars()
        .filter(|c| !invisible(*c))
        .collect();
    let mut out = String::new();
    for c in cleaned.trim().chars() {
        if out.len() + c.len_utf8() > SHORT_NAME_MAX {
            break;
        }
        out.push(c);
    }
    let out = out.trim().to_string();
    if out.is_empty() {
        let hex = NodeId(node).to_string();
        hex[hex.len().saturating_sub(4)..].to_string()
    } else {
        out
    }
}

/// The first senders of `waiting` (in order) whose names fit one [`Msg::GroupAck`] in `lang`:
/// their indexes and the rendered text. At least one fits whenever `waiting` is not empty.
pub fn pack(catalog: &Catalog, lang: Lang, names: &[&str]) -> (usize, String) {
    let mut taken = 0;
    let mut list = String::new();
    for name in names {
        let next = if list.is_empty() {
            name.to_string()
        } else {
            format!("{list}, {name}")
        };
        if !catalog.fits(lang, Msg::GroupAck, &[("names", &next)]) {
            break;
        }
        list = next;
        taken += 1;
    }
    (
        taken,
        catalog.render(lang, Msg::GroupAck, &[("names", &list)]),
    )
}

/// Minutes, rounded up, for the desk's words.
fn minutes(ms: i64) -> i64 {
    (ms.max(0) + 59_999) / 60_000
}

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// Whether a P3/P4 acknowledgement to `node` is grouped now instead of sent directly; if
    /// so, the sender joins the group.
    pub(super) fn group_ack(
        &mut self,
        incident: &str,
        node: u32,
        language: Lang,
        class: u8,
    ) -> DeskResult<bool> {
        if !(self.cfg.surge.group_class()..=CLASS_P3).contains(&class)
            || self.facts.surge()?.is_none()
        {
            return Ok(false);
        }
        self.join_group(node, Some(incident.to_string()), language)?;
        Ok(true)
    }

    fn join_group(
        &mut self,
        node: u32,
        incident: Option<String>,
        language: Lang,
    ) -> DeskResult<()> {
        let short_name = clean_short_name(self.facts.short_name(node)?.as_deref(), node);
        self.out.effects.push(Effect::Group {
            node,
            incident,
            language,
            short_name,
        });
        Ok(())
    }

    /// The surge tick: grouped acknowledgements go out as broadcasts (one per language, as
    /// many names as fit; the rest wait for the next tick), then the mode starts or ends, and
    /// while it is on, direct P3/P4 acknowledgements still waiting in the outbox join the group.
    pub fn surge_tick(&mut self) -> DeskResult<()> {
        let cfg = self.cfg.surge.clone();
        let surge = self.facts.surge()?;
        let waiting = self.facts.grouped_waiting()?;
        let mut left = 0;
        let mut sent = 0;
        for lang in Lang::ALL {
            let group: Vec<&GroupedAck> = waiting.iter().filter(|g| g.language == lang).collect();
            if group.is_empty() {
                continue;
            }
            let names: Vec<&str> = group.iter().map(|g| g.short_name.as_str()).collect();
            let (n, text) = pack(&self.cfg.catalog, lang, &names);
            if n == 0 {
                // Cannot happen (a name is at most 8 bytes, every text leaves room for 80):
                // never a broadcast naming nobody.
                left += group.len();
                continue;
            }
            self.say_text(None, mesh::BROADCAST, CLASS_P3, Msg::GroupAck, text);
            for g in &group[..n] {
                if let Some(id) = &g.incident {
                    self.out.effects.push(Effect::Replied { id: id.clone() });
                }
            }
            self.out.effects.push(Effect::GroupSent {
                ids: group[..n].iter().map(|g| g.id).collect(),
            });
            sent += n;
            left += group.len() - n;
        }
        let pending = self.facts.pending_replies()?;
        let estimate = cfg.estimate_ms(pending);
        let on = cfg.surging(surge.is_some(), estimate, left > 0);
        match (&surge, on) {
            (None, true) => {
                let cause = format!(
                    "{pending} replies waiting, about {} min to send one by one",
                    minutes(estimate)
                );
                self.event(
                    None,
                    "system",
                    "timer",
                    format!("surge: {cause}; P3/P4 acknowledgements grouped"),
                );
                self.out.effects.push(Effect::SurgeStart { cause });
            }
            (Some(s), false) => {
                let grouped = s.grouped as usize + sent;
                self.event(
                    None,
                    "system",
                    "timer",
                    format!(
                        "surge over after {} min: {grouped} senders acknowledged in group broadcasts; replies direct again",
                        minutes(self.at - s.since)
                    ),
                );
                self.out.effects.push(Effect::SurgeEnd);
            }
            _ => {}
        }
        if !on {
            // Scheduled broadcasts share the budget (last class) and pause during a surge.
            for b in &self.cfg.broadcasts {
                let since = self.at - b.every.as_millis() as i64;
                for (lang, text) in &b.texts {
                    if self.facts.said_text_since(mesh::BROADCAST, text, since)? {
                        continue;
                    }
                    self.say_text(
                        None,
                        mesh::BROADCAST,
                        super::CLASS_BROADCAST,
                        Msg::Scheduled,
                        text.clone(),
                    );
                    self.event(
                        None,
                        "system",
                        "timer",
                        format!("scheduled broadcast {:?} ({lang})", b.name),
                    );
                }
            }
        }
        if on {
            let mut seen: Vec<u32> = waiting.iter().map(|g| g.node).collect();
            for p in self.facts.pending_acks(cfg.group_class())? {
                self.out.effects.push(Effect::OutboxState {
                    row: p.row,
                    state: "dropped",
                    next_attempt_at: None,
                    error: Some("grouped in a broadcast".into()),
                });
                if !seen.contains(&p.node) {
                    seen.push(p.node);
                    self.join_group(p.node, p.incident, p.language)?;
                }
            }
        }
        Ok(())
    }
}

/// The outbox classes whose waiting rows the estimate counts: replies to people.
pub const ESTIMATED_CLASSES: std::ops::RangeInclusive<u8> = CLASS_P1..=CLASS_P3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_shares_the_queue_among_radios() {
        let mut c = SurgeConfig::default();
        assert_eq!(c.estimate_ms(45), 180_000);
        c.radios = 3;
        assert_eq!(c.estimate_ms(45), 60_000);
        c.radios = 0;
        assert_eq!(c.estimate_ms(10), 40_000);
    }

    #[test]
    fn a_surge_starts_above_after_and_ends_below_half_with_nobody_waiting() {
        let c = SurgeConfig::default();
        assert!(!c.surging(false, 180_000, false));
        assert!(c.surging(false, 180_001, false));
        // On: stays on down to half.
        assert!(c.surging(true, 100_000, false));
        assert!(c.surging(true, 90_000, false));
        assert!(!c.surging(true, 89_999, false));
        // Senders still waiting for their group keep it on.
        assert!(c.surging(true, 0, true));
        // Off stays off below the threshold even with the band's estimate.
        assert!(!c.surging(false, 120_000, true));
    }

    #[test]
    fn hostile_short_names_are_cleaned_and_bounded() {
        assert_eq!(clean_short_name(Some("Ana4"), 1), "Ana4");
        assert_eq!(clean_short_name(Some(" a\u{7}b\nc\u{202E}d "), 1), "abcd");
        assert_eq!(clean_short_name(Some("x,y{z}"), 1), "xyz");
        assert_eq!(clean_short_name(Some("ñññññññññ"), 1), "ññññ");
        assert_eq!(clean_short_name(Some("🆘🆘🆘"), 1), "🆘🆘");
        assert_eq!(clean_short_name(Some("\u{0}\u{1b}"), 0xa1b2_c3d4), "c3d4");
        assert_eq!(clean_short_name(None, 0x0000_00ff), "00ff");
        assert_eq!(clean_short_name(Some("   "), 0xa1b2_c3d4), "c3d4");
    }

    #[test]
    fn names_are_packed_within_the_budget_in_every_language() {
        let catalog = Catalog::builtin();
        let raw: Vec<String> = (0..80u32)
            .map(|i| clean_short_name(Some(&format!("ñ\u{202E}{i}ñññññññ,\u{0}")), i))
            .collect();
        let names: Vec<&str> = raw.iter().map(String::as_str).collect();
        for lang in Lang::ALL {
            let (n, text) = pack(&catalog, lang, &names);
            assert!(text.len() <= mesh::PAYLOAD_BUDGET, "{lang}: {}", text.len());
            assert!(n >= 8, "{lang}: only {n} names");
            assert!(n < names.len());
            assert!(text.contains(&names[..n].join(", ")), "{lang}: {text}");
            // One more name would not have fit.
            let more = names[..=n].join(", ");
            assert!(!catalog.fits(lang, Msg::GroupAck, &[("names", &more)]));
            assert!(!text.chars().any(|c| c.is_control()));
        }
        let (n, text) = pack(&catalog, Lang::Es, &["Ana4", "b2c1"]);
        assert_eq!(n, 2);
        assert!(text.contains("Ana4, b2c1."), "{text}");
    }
}
