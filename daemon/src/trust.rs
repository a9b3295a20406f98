//! Who sent a packet. A Meshtastic channel key is shared by everyone on the channel, so a
//! packet's `from` is a claim anyone in range can make. What the firmware (2.5 and later) does
//! prove is the key of a direct message: a DM encrypted for the station's radio with X25519 key
//! agreement reaches the client with `pki_encrypted` set and the sender's `public_key`, and only
//! the holder of that key's private half could have made it.
//!
//! So anything that changes state in the name of a patrol or a municipality (a command, an
//! answer to an ambulance request) counts only when [`check`] accepts how it arrived
//! ([`Auth`]): a direct message to the station, decrypted with a public key the station pinned
//! for that sender (in the configuration or enrolled at the desk), not bridged from MQTT, not a
//! key shared by several nodes, not a key known to be compromised. Pure, no I/O.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A Meshtastic node's X25519 public key (32 bytes; base64 as the apps show it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The key of a packet or a NodeInfo, when it is a real one (32 bytes, not all zero).
    pub fn from_bytes(b: &[u8]) -> Option<PublicKey> {
        let k: [u8; 32] = b.try_into().ok()?;
        (k != [0; 32]).then_some(PublicKey(k))
    }

    /// A short fingerprint for people to compare: the first 8 bytes of its SHA-256, in hex
    /// groups of four (`3f2a 91c0 7b1d e455`).
    pub fn fingerprint(&self) -> String {
        let h = Sha256::digest(self.0);
        h[..8]
            .chunks(2)
            .map(|c| format!("{:02x}{:02x}", c[0], c[1]))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether the key is on a list of known-compromised keys (SHA-256 of each key).
    pub fn is_compromised(&self, compromised: &[[u8; 32]]) -> bool {
        let h: [u8; 32] = Sha256::digest(self.0).into();
        compromised.contains(&h)
    }

    /// The SHA-256 of the key, as lists of compromised keys give them.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// Why a text is not a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKey(pub String);

impl fmt::Display for BadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PublicKey {
    type Err = BadKey;

    /// Base64 of 32 bytes (44 characters with its `=`), as the Meshtastic apps show a node's
    /// public key.
    fn from_str(s: &str) -> Result<PublicKey, BadKey> {
        let s = s.trim();
        let bytes = STANDARD
            .decode(s)
            .map_err(|_| BadKey("not base64 (expected 44 characters like the app shows)".into()))?;
        if bytes.len() != 32 {
            return Err(BadKey(format!(
                "{} bytes; a public key has 32",
                bytes.len()
            )));
        }
        PublicKey::from_bytes(&bytes).ok_or_else(|| BadKey("all zeros is no key".into()))
    }
}

/// How a packet reached the station: what, if anything, proves who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Auth {
    /// Addressed to one of the station's radios (a direct message), not broadcast.
    pub direct: bool,
    /// The radio decrypted it with the sender's public key (firmware PKI).
    pub pki: bool,
    /// The public key it was decrypted with (only with `pki`).
    pub key: Option<PublicKey>,
    /// Bridged from an MQTT broker: no radio of ours saw its sender.
    pub via_mqtt: bool,
}

impl Auth {
    /// A PKI direct message from `key`.
    pub fn pki(key: PublicKey) -> Auth {
        Auth {
            direct: true,
            pki: true,
            key: Some(key),
            via_mqtt: false,
        }
    }
}

/// Why a message in a patrol's or municipality's name is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    /// Bridged from MQTT.
    Mqtt,
    /// Sent to everyone, not to the station.
    Broadcast,
    /// A direct message encrypted with the channel key, which everyone on the channel has.
    ChannelKey,
    /// The sender has no pinned key yet (enrol it: `faroctl enroll`).
    NoKey,
    /// Encrypted with a key that is not the one pinned for the sender.
    WrongKey,
    /// Its key is shared by several nodes (a cloned or factory-duplicated key).
    SharedKey,
    /// Its key is on the known-compromised list.
    Compromised,
}

impl Untrusted {
    /// A stable word for the database and the API (`broadcast`, `wrong_key`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Untrusted::Mqtt => "mqtt",
            Untrusted::Broadcast => "broadcast",
            Untrusted::ChannelKey => "channel_key",
            Untrusted::NoKey => "no_key",
            Untrusted::WrongKey => "wrong_key",
            Untrusted::SharedKey => "shared_key",
            Untrusted::Compromised => "compromised_key",
        }
    }
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Untrusted::Mqtt => "it came over MQTT",
            Untrusted::Broadcast => "it was a broadcast, not a direct message to the station",
            Untrusted::ChannelKey => {
                "it was encrypted with the channel key, not the sender's own key"
            }
            Untrusted::NoKey => "no key is pinned for that node (faroctl enroll)",
            Untrusted::WrongKey => "it was encrypted with a key that is not the one pinned",
            Untrusted::SharedKey => "its key is shared by several nodes",
            Untrusted::Compromised => "its key is on the known-compromised list",
        })
    }
}

/// Whether a message that arrived as `auth` is from the holder of one of `pinned` (the keys
/// the station trusts for the node it claims). `shared`: the key was seen on another node too.
pub fn check(
    auth: &Auth,
    pinned: &[PublicKey],
    shared: bool,
    compromised: &[[u8; 32]],
) -> Result<PublicKey, Untrusted> {
    if auth.via_mqtt {
        return Err(Untrusted::Mqtt);
    }
    if !auth.direct {
        return Err(Untrusted::Broadcast);
    }
    let key = match (auth.pki, auth.key) {
        (true, Some(k)) => k,
        _ => return Err(Untrusted::ChannelKey),
    };
    if key.is_compromised(compromised) {
        return Err(Untrusted::Compromised);
    }
    if pinned.is_empty() {
        return Err(Untrusted::NoKey);
    }
    if !pinned.contains(&key) {
        return Err(Untrusted::WrongKey);
    }
    if shared {
        return Err(Untrusted::SharedKey);
    }
    Ok(key)
}

/// Parses a SHA-256 written as 64 hexadecimal digits (a line of a compromised-key list).
pub fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> PublicKey {
        PublicKey([b; 32])
    }

    #[test]
    fn keys_read_and_print_as_the_apps_show_them() {
        let k = key(7);
        let s = k.to_string();
        assert_eq!(s.len(), 44);
        assert_eq!(s.parse::<PublicKey>().unwrap(), k);
        assert_eq!(format!(" {s}\n").parse::<PublicKey>().unwrap(), k);
        assert!("not a key"
            .parse::<PublicKey>()
            .unwrap_err()
            .0
            .contains("base64"));
        let short = STANDARD.encode([1u8; 16]);
        assert!(short
            .parse::<PublicKey>()
            .unwrap_err()
            .0
            .contains("16 bytes"));
        let zero = STANDARD.encode([0u8; 32]);
        assert!(zero.parse::<PublicKey>().is_err());
        assert_eq!(k.fingerprint().len(), 19);
        let hex: String = k.sha256().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_sha256(&hex), Some(k.sha256()));
        assert_eq!(parse_sha256("abc"), None);
    }

    #[test]
    fn only_a_pki_direct_message_with_a_pinned_unshared_key_is_trusted() {
        let pinned = [key(1), key(2)];
        assert_eq!(check(&Auth::pki(key(2)), &pinned, false, &[]), Ok(key(2)));
        assert_eq!(
            check(&Auth::pki(key(2)), &pinned, false, &[key(2).sha256()]),
            Err(Untrusted::Compromised)
        );
        let mut mqtt = Auth::pki(key(2));
        mqtt.via_mqtt = true;
        assert_eq!(check(&mqtt, &pinned, false, &[]), Err(Untrusted::Mqtt));
        let mut broadcast = Auth::pki(key(2));
        broadcast.direct = false;
        assert_eq!(
            check(&broadcast, &pinned, false, &[]),
            Err(Untrusted::Broadcast)
        );
        let channel_dm = Auth {
            direct: true,
            ..Auth::default()
        };
        assert_eq!(
            check(&channel_dm, &pinned, false, &[]),
            Err(Untrusted::ChannelKey)
        );
        assert_eq!(
            check(&Auth::pki(key(3)), &pinned, false, &[]),
            Err(Untrusted::WrongKey)
        );
        assert_eq!(
            check(&Auth::pki(key(3)), &[], false, &[]),
            Err(Untrusted::NoKey)
        );
        assert_eq!(
            check(&Auth::pki(key(1)), &pinned, true, &[]),
            Err(Untrusted::SharedKey)
        );
        assert_eq!(
            check(&Auth::default(), &pinned, false, &[]),
            Err(Untrusted::Broadcast)
        );
    }
}
