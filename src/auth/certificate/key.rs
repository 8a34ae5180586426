//! The RSA key pair: checked to be RSA and usable, matched to its certificate, kept where
//! `Debug` cannot print it.

use std::fmt;
use std::sync::Arc;

use ring::signature::RsaKeyPair;
use rustls_pki_types::PrivateKeyDer;

use super::load::contains;
use super::PRIVATE_KEY;
use crate::error::{Error, Result};

/// The RSA key pair. Its `Debug` prints nothing of the key.
#[derive(Clone)]
pub(super) struct SigningKey(Arc<RsaKeyPair>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl SigningKey {
    pub(super) fn new(key_pair: RsaKeyPair) -> Self {
        Self(Arc::new(key_pair))
    }

    pub(super) fn key_pair(&self) -> &RsaKeyPair {
        &self.0
    }
}

/// The DER of the `rsaEncryption` algorithm identifier (1.2.840.113549.1.1.1), which a PKCS#8
/// RSA key names near its start.
const RSA_ENCRYPTION_OID: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

pub(super) fn rsa_key_pair(key: &PrivateKeyDer<'_>) -> Result<RsaKeyPair> {
    const NOT_RSA: &str = "is not an RSA key; Entra client assertions are signed here with RSA (RS256 or PS256)";
    let parsed = match key {
        PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
        // Checked first so an EC or Ed25519 key gets a clear message, not ring's
        // "WrongAlgorithm".
        PrivateKeyDer::Pkcs8(der) if !is_rsa_pkcs8(der.secret_pkcs8_der()) => {
            return Err(Error::invalid(PRIVATE_KEY, NOT_RSA))
        }
        PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
        _ => return Err(Error::invalid(PRIVATE_KEY, NOT_RSA)),
    };
    // ring's reasons ("TooSmall", "InvalidEncoding", ...) describe the key, never quote it.
    parsed.map_err(|rejected| Error::invalid(PRIVATE_KEY, format!("is not a usable RSA key ({rejected})")))
}

/// Whether a PKCS#8 key's algorithm is `rsaEncryption`. The identifier sits in the first few
/// dozen bytes (after the outer SEQUENCE and the version), before any key material.
fn is_rsa_pkcs8(der: &[u8]) -> bool {
    contains(&der[..der.len().min(32)], RSA_ENCRYPTION_OID)
}

/// The chain with the key's certificate first, the others after it in their order. The leaf is
/// the certificate whose DER contains the key's public key (a PKCS#1 `RSAPublicKey`, which an
/// X.509 certificate embeds verbatim in its subject public key info).
pub(super) fn leaf_first(mut certificates: Vec<Vec<u8>>, public_key: &[u8]) -> Result<Vec<Vec<u8>>> {
    let position = certificates.iter().position(|der| contains(der, public_key)).ok_or_else(|| {
        Error::invalid(
            PRIVATE_KEY,
            format!("does not belong to the certificate (checked {} certificate(s))", certificates.len()),
        )
    })?;
    let leaf = certificates.remove(position);
    certificates.insert(0, leaf);
    Ok(certificates)
}
