//! Opening a PKCS#12 archive into DER certificates and a PKCS#8 key, so that no type of the
//! PKCS#12 crate reaches the public API.

use p12_keystore::error::Error as P12Error;
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{CERTIFICATE, CERTIFICATE_PASSWORD, PRIVATE_KEY};
use crate::error::{Error, Result};
use crate::secret::Secret;

pub(super) fn open(der: &[u8], password: &Secret) -> Result<(Vec<Vec<u8>>, PrivateKeyDer<'static>)> {
    // Strict: a key is kept only with its certificate, and the chain is ordered leaf first.
    let store = KeyStore::from_pkcs12(der, password.expose_secret(), Pkcs12ImportPolicy::Strict).map_err(describe)?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| {
        Error::invalid(PRIVATE_KEY, "the PKCS#12 file holds no private key together with its certificate")
    })?;
    let certificates = chain.certs().iter().map(|cert| cert.as_der().to_vec()).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certificates, key))
}

fn describe(error: P12Error) -> Error {
    match error {
        // The integrity MAC is keyed with the password; without a MAC, a wrong password
        // shows up as bad padding after decryption.
        P12Error::MacError(_) | P12Error::UnpadError => {
            Error::invalid(CERTIFICATE_PASSWORD, "is wrong: the PKCS#12 file could not be opened with it")
        }
        other => Error::invalid(CERTIFICATE, format!("is not a readable PKCS#12 file ({other})")),
    }
}
