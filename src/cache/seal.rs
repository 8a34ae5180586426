//! Encryption at rest for the shared tier: AES-256-GCM from `ring` (already in the tree through
//! rustls), a fresh random nonce per value, and the entry's name as associated data, so a value
//! copied under another name does not open.

use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The first byte of a stored value says how it was written.
const SEALED_V1: u8 = 1;
const PLAINTEXT_V1: u8 = 0;

/// How values are protected in the shared store.
#[derive(Clone)]
pub(crate) enum Sealing {
    Aes256Gcm(std::sync::Arc<LessSafeKey>),
    Plaintext,
}

impl fmt::Debug for Sealing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sealing::Aes256Gcm(_) => f.write_str("Aes256Gcm([redacted key])"),
            Sealing::Plaintext => f.write_str("Plaintext"),
        }
    }
}

impl Sealing {
    pub fn aes_256_gcm(key: &[u8; 32]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key is a valid AES-256 key");
        Sealing::Aes256Gcm(std::sync::Arc::new(LessSafeKey::new(key)))
    }

    /// `version || nonce || ciphertext+tag`, or `version || plaintext`.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Option<Vec<u8>> {
        match self {
            Sealing::Plaintext => {
                let mut out = Vec::with_capacity(plaintext.len() + 1);
                out.push(PLAINTEXT_V1);
                out.extend_from_slice(plaintext);
                Some(out)
            }
            Sealing::Aes256Gcm(key) => {
                let mut nonce = [0u8; NONCE_LEN];
                SystemRandom::new().fill(&mut nonce).ok()?;
                let mut in_out = plaintext.to_vec();
                key.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(name.as_bytes()),
                    &mut in_out,
                )
                .ok()?;
                let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
                out.push(SEALED_V1);
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&in_out);
                Some(out)
            }
        }
    }

    /// The plaintext, or `None` for anything that does not open under this configuration:
    /// tampered, truncated, another key, another name, or plaintext when sealing is on.
    pub fn open(&self, name: &str, stored: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = stored.split_first()?;
        match (self, version) {
            (Sealing::Plaintext, PLAINTEXT_V1) => Some(rest.to_vec()),
            (Sealing::Aes256Gcm(key), SEALED_V1) if rest.len() > NONCE_LEN => {
                let (nonce, sealed) = rest.split_at(NONCE_LEN);
                let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
                let mut in_out = sealed.to_vec();
                let plaintext = key.open_in_place(nonce, Aad::from(name.as_bytes()), &mut in_out).ok()?;
                Some(plaintext.to_vec())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_the_same_key_and_name() {
        let sealing = Sealing::aes_256_gcm(&[7; 32]);
        let sealed = sealing.seal("pbe:{a}", b"token").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"token"));
        assert_eq!(sealing.open("pbe:{a}", &sealed).as_deref(), Some(&b"token"[..]));
        assert_eq!(sealing.open("pbe:{b}", &sealed), None, "another name");
        assert_eq!(Sealing::aes_256_gcm(&[8; 32]).open("pbe:{a}", &sealed), None, "another key");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(sealing.open("pbe:{a}", &tampered), None);
        assert_eq!(sealing.open("pbe:{a}", &sealed[..10]), None);
        assert_eq!(sealing.open("pbe:{a}", &[]), None);
        let plain = Sealing::Plaintext.seal("n", b"x").unwrap();
        assert_eq!(sealing.open("n", &plain), None, "plaintext is refused when sealing is on");
        assert_eq!(Sealing::Plaintext.open("n", &plain).as_deref(), Some(&b"x"[..]));
        assert_ne!(sealing.seal("n", b"x"), sealing.seal("n", b"x"), "fresh nonce per value");
    }
}
