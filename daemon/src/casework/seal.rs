//! Personal records at rest: sealed with a data key (XChaCha20-Poly1305), and the data key
//! sealed with the station's key, which farod receives from systemd's credentials
//! (`LoadCredential=`/`LoadCredentialEncrypted=`), never from its configuration file.
//!
//! The database holds only the sealed data key (`keyring.wrapped`). A stolen database file is
//! useless without the station key; and destroying the data key's row (`faroctl wipe-key`)
//! makes every record sealed with it unreadable for good, even to someone who holds the
//! station key, while the rest of the database (the incident queue) works as before. A new
//! data key is made for records written after that.
//!
//! Each record is bound to what it is about (subject and field, as associated data): a sealed
//! value moved to another record does not open.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The credential's name: `LoadCredential=faro-personal-key:/etc/faro/personal.key`.
pub const CREDENTIAL: &str = "faro-personal-key";
/// Bytes of a key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 256-bit key. Never printed, wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; KEY_LEN]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A fresh random key (the operating system's generator, through `rand`).
    pub fn random() -> Key {
        Key(rand::random())
    }

    /// A key from its bytes.
    pub fn from_bytes(b: [u8; KEY_LEN]) -> Key {
        Key(b)
    }

    /// Reads the station key from a credential file: 32 raw bytes, or 64 hex digits, or
    /// base64 of 32 bytes (trailing white space ignored). Anything else is refused: a key
    /// that cannot be what the operator meant must not silently become another.
    pub fn from_file(path: &Path) -> Result<Key, String> {
        let raw = std::fs::read(path)
            .map_err(|e| format!("cannot read the personal-data key {}: {e}", path.display()))?;
        let bad = || {
            format!(
                "the personal-data key {} is not 32 bytes (raw), 64 hex digits or base64 of 32 bytes",
                path.display()
            )
        };
        if raw.len() == KEY_LEN {
            let mut b = [0u8; KEY_LEN];
            b.copy_from_slice(&raw);
            return Ok(Key(b));
        }
        let text = std::str::from_utf8(&raw).map_err(|_| bad())?.trim();
        if text.len() == 2 * KEY_LEN && text.bytes().all(|c| c.is_ascii_hexdigit()) {
            let mut b = [0u8; KEY_LEN];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
            }
            return Ok(Key(b));
        }
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| bad())?;
        let b: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| bad())?;
        Ok(Key(b))
    }

    /// The station key from systemd's credentials directory (`$CREDENTIALS_DIRECTORY`), if
    /// the service was given one. `Ok(None)`: no credential (personal records are off).
    pub fn from_credentials(dir: Option<&Path>) -> Result<Option<Key>, String> {
        let Some(dir) = dir else { return Ok(None) };
        let path = dir.join(CREDENTIAL);
        if !path.exists() {
            return Ok(None);
        }
        Key::from_file(&path).map(Some)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Seals `plain` bound to `aad`: nonce || ciphertext || tag.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail (only a message over 256 GiB).
        let ct = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .unwrap_or_default();
        out.extend_from_slice(&ct);
        out
    }

    /// Opens what [`Key::seal`] sealed with the same key and `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err("sealed value too short".into());
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| "does not open with this key (wrong key, or altered)".into())
    }

    /// Seals a data key (row `id` of the keyring) with this station key.
    pub fn wrap(&self, id: i64, data_key: &Key) -> Vec<u8> {
        self.seal(&keyring_aad(id), &data_key.0)
    }

    /// Opens a data key sealed by [`Key::wrap`].
    pub fn unwrap_key(&self, id: i64, wrapped: &[u8]) -> Result<Key, String> {
        let mut plain = self.open(&keyring_aad(id), wrapped).map_err(|e| {
            format!("data key {id} {e}: is this the station's personal-data key?")
        })?;
        let r = <[u8; KEY_LEN]>::try_from(plain.as_slice())
            .map(Key)
            .map_err(|_| format!("data key {id} has the wrong length"));
        plain.zeroize();
        r
    }
}

fn keyring_aad(id: i64) -> Vec<u8> {
    format!("faro keyring {id}").into_bytes()
}

/// The associated data of a personal record: what it is about and which field.
pub fn record_aad(subject: &str, field: &str) -> Vec<u8> {
    format!("faro personal {subject} {field}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_binding() {
        let k = Key::random();
        let s = k.seal(b"SAS-1 name", b"Maria");
        assert!(!s.windows(5).any(|w| w == b"Maria"));
        assert_eq!(k.open(b"SAS-1 name", &s).unwrap(), b"Maria");
        assert!(k.open(b"SAS-2 name", &s).is_err());
        assert!(Key::random().open(b"SAS-1 name", &s).is_err());
        let mut tampered = s.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(k.open(b"SAS-1 name", &tampered).is_err());
        assert!(k.open(b"x", &s[..10]).is_err());
    }

    #[test]
    fn data_keys_unwrap_only_with_the_station_key_and_their_row() {
        let station = Key::random();
        let data = Key::random();
        let w = station.wrap(3, &data);
        assert_eq!(station.unwrap_key(3, &w).unwrap().0, data.0);
        assert!(station.unwrap_key(4, &w).is_err());
        assert!(Key::random().unwrap_key(3, &w).is_err());
    }

    #[test]
    fn key_files_in_three_spellings_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CREDENTIAL);
        std::fs::write(&p, [7u8; 32]).unwrap();
        assert_eq!(Key::from_file(&p).unwrap().0, [7u8; 32]);
        std::fs::write(&p, format!("{}\n", "07".repeat(32))).unwrap();
        assert_eq!(Key::from_file(&p).unwrap().0, [7u8; 32]);
        use base64::Engine as _;
        std::fs::write(&p, base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(Key::from_file(&p).unwrap().0, [7u8; 32]);
        std::fs::write(&p, "short").unwrap();
        assert!(Key::from_file(&p).unwrap_err().contains("not 32 bytes"));
        assert!(Key::from_credentials(Some(dir.path())).is_err());
        std::fs::remove_file(&p).unwrap();
        assert!(Key::from_credentials(Some(dir.path())).unwrap().is_none());
        assert!(Key::from_credentials(None).unwrap().is_none());
        assert_eq!(format!("{:?}", Key::random()), "Key(..)");
    }
}
