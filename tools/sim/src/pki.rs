//! PKI direct messages as firmware >= 2.5 sends and receives them: X25519 key pairs, the
//! sender's choice between PKI and the channel key, and the receiver's key agreement.
//!
//! Firmware (meshtastic/firmware, `v2.7.15.567b8ea`, the version the simulated devices report):
//! - Send (`src/mesh/Router.cpp`, `perhapsEncode`): a packet we originate to a single node,
//!   not on a port that relays must read (TRACEROUTE, NODEINFO, ROUTING, POSITION), is
//!   encrypted with AES-CCM under `SHA256(X25519(our private, destination public))`
//!   (`CryptoEngine::encryptCurve25519`), 12 bytes longer, with channel hash 0. With no key for
//!   the destination 2.7.15 falls back to the channel key (later firmware, after 2.7.17, fails
//!   `PKI_SEND_FAIL_PUBLIC_KEY` instead); a client that set `pki_encrypted` gets `PKI_FAILED`.
//! - Receive (`perhapsDecode`): a packet to us with channel hash 0 is tried with
//!   `X25519(our private, NodeDB public key of p->from)`; on success it reaches the client with
//!   `pki_encrypted = true`, `public_key = that NodeDB key` and channel index 0.
//!
//! The simulated air carries no ciphertext: a PKI packet keeps its plain `Data` and is marked
//! `pki_encrypted = true` with, in `public_key`, the 32-byte X25519 shared secret its sender
//! computed. That secret stands for the AES-CCM key: a receiver "decrypts" exactly when its own
//! key agreement with the key it holds for `from` gives the same secret, which needs the
//! sender's private key (real X25519, so no forger can produce it for someone else's key).
//! Receivers never pass the air marking on: they set both fields from their own decision.
//!
//! Not modelled: AES-CCM itself, key verification (`KEY_VERIFICATION_APP`), admin keys, the
//! XEdDSA signatures of newer firmware, the known-compromised key list (`LOW_ENTROPY_HASHES`
//! in the firmware's `src/mesh/NodeDB.h`, checked only against a node's own key).

use base64::Engine as _;
use faro_proto::mesh::{MeshPacket, PortNum, BROADCAST};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use x25519_dalek::{PublicKey, StaticSecret};

/// Bytes PKI adds to a packet on air (`MESHTASTIC_PKC_OVERHEAD`: 8-byte tag, 4-byte nonce).
pub const PKC_OVERHEAD: usize = 12;

/// A node's X25519 private key (32 bytes, clamped by X25519 when used).
pub type PrivateKey = [u8; 32];

/// The deterministic private key of node `id` when its scenario gives none.
pub(crate) fn derived_private_key(id: u32) -> PrivateKey {
    let mut rng = StdRng::seed_from_u64(u64::from(id) ^ 0x9e3a_11c5_d00d_f00d);
    let mut k = [0u8; 32];
    rng.fill(&mut k);
    k
}

/// The public key of a private key.
pub fn public_of(private: &PrivateKey) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*private)).to_bytes()
}

/// `X25519(private, public)`.
pub(crate) fn shared_secret(private: &PrivateKey, public: &[u8; 32]) -> [u8; 32] {
    StaticSecret::from(*private)
        .diffie_hellman(&PublicKey::from(*public))
        .to_bytes()
}

/// The public key of node `id` when its scenario gives no private key.
pub fn derived_public_key(id: u32) -> [u8; 32] {
    public_of(&derived_private_key(id))
}

/// Parses a scenario's `private_key` (base64 of 32 bytes, as `meshtastic --get security`).
pub fn parse_private_key(b64: &str) -> Option<PrivateKey> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    bytes.try_into().ok()
}

/// Whether a 32-byte `public_key` field holds a key (firmware checks `size == 32`).
pub fn as_key(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

/// Whether firmware would PKI-encrypt a packet it originates to `to` on `port` from channel
/// index `channel` (`wouldEncryptWithPKC`; the simulated devices have no `serial`/`gpio`
/// channel, and the scenario's channel indexes other than 0 stand for such secondary
/// channels that keep the channel key).
pub fn wants_pki(to: u32, port: Option<PortNum>, channel: u32) -> bool {
    to != BROADCAST
        && to != 0
        && channel == 0
        && !matches!(
            port,
            Some(
                PortNum::TracerouteApp
                    | PortNum::NodeinfoApp
                    | PortNum::RoutingApp
                    | PortNum::PositionApp
            )
        )
}

/// Marks `p` as PKI on the simulated air: encrypted by `sender_private` for `dest_public`.
pub(crate) fn seal(p: &mut MeshPacket, sender_private: &PrivateKey, dest_public: &[u8; 32]) {
    p.channel = 0;
    p.pki_encrypted = true;
    p.public_key = shared_secret(sender_private, dest_public).to_vec();
}

/// Clears the air marking: a channel-key packet.
pub(crate) fn unseal(p: &mut MeshPacket) {
    p.pki_encrypted = false;
    p.public_key.clear();
}

/// Whether `p` (as heard on the simulated air) decrypts for a receiver with `own_private`
/// that holds `from_key` for `p.from` (`decryptCurve25519`: AES-CCM fails unless both sides
/// computed the same shared secret).
pub(crate) fn opens(p: &MeshPacket, own_private: &PrivateKey, from_key: Option<[u8; 32]>) -> bool {
    let Some(from_key) = from_key else {
        return false;
    };
    p.pki_encrypted && p.public_key.as_slice() == shared_secret(own_private, &from_key).as_slice()
}

/// `major.minor.patch` of a firmware version string such as `2.7.15.567b8ea`.
fn version(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|s| s.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Whether this firmware drops a channel-key (non-PKI) TEXT_MESSAGE_APP addressed to us:
/// "Rejecting legacy DM" in `Router.cpp` `perhapsDecode`, since 2.7.14 (PR #8562, commit
/// 69db3bd11), unless the owner is licensed (never in the simulation).
pub fn rejects_legacy_dm(firmware_version: &str) -> bool {
    version(firmware_version) >= (2, 7, 14)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_agreement_is_symmetric_and_keys_differ() {
        let (a, b) = (derived_private_key(1), derived_private_key(2));
        assert_ne!(public_of(&a), public_of(&b));
        assert_eq!(
            shared_secret(&a, &public_of(&b)),
            shared_secret(&b, &public_of(&a))
        );
        assert_eq!(derived_public_key(7), derived_public_key(7));
    }

    #[test]
    fn versions() {
        assert!(rejects_legacy_dm("2.7.15.567b8ea"));
        assert!(rejects_legacy_dm("2.7.14.e959000"));
        assert!(!rejects_legacy_dm("2.7.13.597fa0b"));
        assert!(!rejects_legacy_dm("2.6.11.60ec05e"));
    }

    #[test]
    fn private_key_parsing() {
        let k = [7u8; 32];
        let b64 = base64::engine::general_purpose::STANDARD.encode(k);
        assert_eq!(parse_private_key(&b64), Some(k));
        assert_eq!(parse_private_key("AAAA"), None);
    }
}
