//! Whether a message in a patrol's or a municipality's name is theirs ([`crate::trust`]): the
//! keys the configuration pins and the keys enrolled at the desk, checked against how the
//! message arrived. What fails is refused, recorded as an unverified attempt the desk sees, and
//! the real node is told (at most once an hour) that a message in its name was refused.

use faro_proto::mesh::NodeId;

use super::{Desk, DeskResult, Effect, Facts, Refusal, Rx, CLASS_PATROL};
use crate::catalog::Msg;
use crate::lang::Lang;
use crate::trust::{check, PublicKey};

/// The real node hears of refused messages in its name at most this often, ms.
pub const WARN_EVERY_MS: i64 = 3600 * 1000;

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// The keys the station trusts for `node`: pinned in the configuration for its team or
    /// municipality, and enrolled at the desk.
    pub(super) fn trusted_keys(&self, node: u32) -> DeskResult<Vec<PublicKey>> {
        let mut keys: Vec<PublicKey> = Vec::new();
        for t in self.cfg.teams.iter().filter(|t| t.nodes.contains(&node)) {
            keys.extend(&t.keys);
        }
        for m in self
            .cfg
            .municipalities
            .iter()
            .filter(|m| m.nodes.contains(&node))
        {
            keys.extend(&m.keys);
        }
        keys.extend(self.facts.enrolled_keys(node)?);
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// A direct message in the name of a patrol's or municipality's `node` that the station's
    /// radio could not decrypt: audited as an unverified attempt, the real node warned.
    pub(super) fn undecodable(&mut self, rx: &Rx, node: u32) -> DeskResult<()> {
        let Some(holder) = self.holder(node) else {
            return Ok(());
        };
        let team = self.cfg.teams.iter().find(|t| t.nodes.contains(&node));
        let lang = self
            .cfg
            .municipalities
            .iter()
            .find(|m| m.nodes.contains(&node))
            .map(|m| m.language())
            .or(team.map(|t| t.language))
            .unwrap_or(Lang::Es);
        self.refused(
            rx,
            node,
            &holder,
            "the station's radio could not decrypt it (another key, or the channel key)",
            lang,
        )
    }

    /// Records a refused message in `node`'s name and warns the real node, hourly at most.
    fn refused(
        &mut self,
        rx: &Rx,
        node: u32,
        claimed: &str,
        why: &str,
        lang: Lang,
    ) -> DeskResult<()> {
        let who = format!("unverified:{}", NodeId(node));
        let what = format!(
            "unverified message in the name of {claimed} ({}) refused: {why}",
            NodeId(node)
        );
        self.event(None, &who, &rx.radio, what);
        if !self
            .facts
            .said_since(node, Msg::Impersonated, self.at - WARN_EVERY_MS)?
        {
            self.say(None, node, CLASS_PATROL, lang, Msg::Impersonated, &[]);
        }
        Ok(())
    }

    /// Whether the message `rx` from `node` (claimed to be `claimed`: `patrol P1`,
    /// `municipality Sáric`) may change anything. When not: an audit event says who was
    /// claimed and why it was refused, and the real node is warned in `lang`.
    pub(super) fn verified(
        &mut self,
        rx: &Rx,
        node: u32,
        claimed: &str,
        lang: Lang,
    ) -> DeskResult<bool> {
        let keys = self.trusted_keys(node)?;
        let shared = match rx.auth.key {
            Some(k) => self.facts.nodes_with_key(k)?.iter().any(|n| *n != node),
            None => false,
        };
        let why = match check(&rx.auth, &keys, shared, &self.cfg.compromised) {
            Ok(_) => return Ok(true),
            Err(why) => why,
        };
        self.refused(rx, node, claimed, &why.to_string(), lang)?;
        Ok(false)
    }

    /// Who `node` is to the station, if it is a patrol's or municipality's radio.
    fn holder(&self, node: u32) -> Option<String> {
        if let Some(t) = self.cfg.teams.iter().find(|t| t.nodes.contains(&node)) {
            return Some(format!("patrol {}", t.name));
        }
        self.cfg
            .municipalities
            .iter()
            .find(|m| m.nodes.contains(&node))
            .map(|m| format!("municipality {}", m.name))
    }

    /// A public key seen for `node` in `source`. `proven`: the station's radio holds it for
    /// the node (its node database, or a direct message it decrypted with it), which is
    /// recorded; otherwise it is a claim anyone can broadcast, and only compared. A key that is
    /// not the one pinned for a patrol's or municipality's node, a key on the compromised
    /// list, and one key held for two nodes raise an alert on the desk (they are never trusted:
    /// see [`Self::verified`]).
    pub(super) fn key_seen(
        &mut self,
        rx: &Rx,
        node: u32,
        key: PublicKey,
        source: &str,
        proven: bool,
    ) -> DeskResult<()> {
        let known = self.facts.node_key(node)?;
        if proven && known == Some(key) {
            return Ok(());
        }
        let holder = self.holder(node);
        let mut alerts = Vec::new();
        if let Some(holder) = &holder {
            let pinned = self.trusted_keys(node)?;
            if !pinned.is_empty() && !pinned.contains(&key) && (proven || known != Some(key)) {
                alerts.push(format!(
                    "alert: {source} gives {} ({holder}) the key {}, not the one pinned; its messages are not trusted",
                    NodeId(node),
                    key.fingerprint()
                ));
            }
            if key.is_compromised(&self.cfg.compromised) {
                alerts.push(format!(
                    "alert: {} ({holder}) uses a key on the known-compromised list; it needs a new key pair",
                    NodeId(node)
                ));
            }
        }
        if proven {
            let others: Vec<String> = self
                .facts
                .nodes_with_key(key)?
                .into_iter()
                .filter(|n| *n != node)
                .map(|n| NodeId(n).to_string())
                .collect();
            if !others.is_empty() {
                alerts.push(format!(
                    "alert: {} and {} hold the same key {}: a cloned or duplicated key proves nothing",
                    NodeId(node),
                    others.join(", "),
                    key.fingerprint()
                ));
            }
            self.out.effects.push(Effect::NodeKey { node, key });
        }
        for what in alerts {
            self.event(None, "system", &rx.radio, what);
        }
        Ok(())
    }

    /// Pins `key` (or the key the station's radio holds) for `node` of team or municipality
    /// `name`, as the operator `who` confirmed it against the radio itself.
    pub(super) fn enroll(
        &mut self,
        who: &str,
        kind: &str,
        name: &str,
        node: u32,
        key: Option<PublicKey>,
    ) -> DeskResult<()> {
        let (holder_kind, holder) = match kind {
            "team" => {
                let t = self
                    .cfg
                    .teams
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| Refusal::NotFound(format!("no team {name:?}")))?;
                if !t.nodes.contains(&node) {
                    return Err(Refusal::Invalid(format!(
                        "{} is not a node of team {} (its configuration lists its nodes)",
                        NodeId(node),
                        t.name
                    ))
                    .into());
                }
                ("team", t.name.clone())
            }
            "municipality" => {
                let m = self
                    .cfg
                    .municipalities
                    .iter()
                    .find(|m| faro_proto::text::fold(&m.name) == faro_proto::text::fold(name))
                    .ok_or_else(|| Refusal::NotFound(format!("no municipality {name:?}")))?;
                if !m.nodes.contains(&node) {
                    return Err(Refusal::Invalid(format!(
                        "{} is not a node of {} (its configuration lists its nodes)",
                        NodeId(node),
                        m.name
                    ))
                    .into());
                }
                ("municipality", m.name.clone())
            }
            other => {
                return Err(Refusal::Invalid(format!(
                    "enroll a team or a municipality, not {other:?}"
                ))
                .into())
            }
        };
        let held = self.facts.node_key(node)?;
        let key = match (key, held) {
            (_, None) => {
                return Err(Refusal::Conflict(format!(
                    "the station's radio holds no key for {} yet: let the radio send a direct message to the station (or reconnect the station's radio), then try again",
                    NodeId(node)
                ))
                .into())
            }
            (Some(k), Some(h)) if k != h => {
                return Err(Refusal::Conflict(format!(
                    "the key given is not the one the station's radio holds for {} ({}): compare again",
                    NodeId(node),
                    h.fingerprint()
                ))
                .into())
            }
            (_, Some(h)) => h,
        };
        if key.is_compromised(&self.cfg.compromised) {
            return Err(Refusal::Invalid(format!(
                "the key of {} is on the known-compromised list: the radio needs a new key pair",
                NodeId(node)
            ))
            .into());
        }
        let others: Vec<u32> = self
            .facts
            .nodes_with_key(key)?
            .into_iter()
            .filter(|n| *n != node)
            .collect();
        if let Some(other) = others.first() {
            return Err(Refusal::Conflict(format!(
                "{} shares its key with {}: a cloned key proves nothing; give the radio a new key pair",
                NodeId(node),
                NodeId(*other)
            ))
            .into());
        }
        if self.facts.enrolled_keys(node)?.contains(&key) {
            return Err(Refusal::Conflict(format!(
                "key {} is already enrolled for {}",
                key.fingerprint(),
                NodeId(node)
            ))
            .into());
        }
        self.out.effects.push(Effect::Enrolled {
            node,
            key,
            holder_kind,
            holder: holder.clone(),
            by: who.to_string(),
        });
        let what = format!(
            "key {} enrolled for {} ({holder_kind} {holder})",
            key.fingerprint(),
            NodeId(node)
        );
        self.event(None, who, "faroctl", what);
        Ok(())
    }

    /// An operator confirms (it counts now, as if it had come from a trusted key) or rejects a
    /// municipality's answer that awaited confirmation.
    pub(super) fn decide_answer(&mut self, who: &str, row: i64, confirm: bool) -> DeskResult<()> {
        let (node, text) = self
            .facts
            .pending_answer(row)?
            .ok_or_else(|| Refusal::NotFound(format!("no answer {row} awaits confirmation")))?;
        self.out.effects.push(Effect::AnswerDecided {
            row,
            confirmed: confirm,
            by: who.to_string(),
        });
        let verb = if confirm { "confirmed" } else { "rejected" };
        self.event(
            None,
            who,
            "faroctl",
            format!("answer {row} from {} {verb}", NodeId(node)),
        );
        if confirm {
            self.amb_answer("faroctl", node, &text)?;
        }
        Ok(())
    }
}
