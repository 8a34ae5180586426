//! `rediss://`: which CAs are trusted, and the client certificate for mutual TLS.
//!
//! The redis crate trusts either the platform's roots or, when given a PEM, that PEM alone (and
//! with both of its TLS backends compiled in, its rustls side starts from no roots at all). So
//! the store always hands it one PEM: the platform's roots (read with `rustls-native-certs`, as
//! the redis crate itself would) followed by the caller's extra CA. Both backends then trust the
//! same set.

use std::fmt;
use std::path::PathBuf;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::auth::jwt::base64_standard;
use crate::cache::store::{StoreError, StoreErrorKind};

/// Where an extra CA comes from.
#[derive(Clone)]
pub(super) enum ExtraCa {
    File(PathBuf),
    Pem(Vec<u8>),
}

impl fmt::Debug for ExtraCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtraCa::File(path) => f.debug_tuple("File").field(path).finish(),
            ExtraCa::Pem(pem) => write!(f, "Pem({} bytes)", pem.len()),
        }
    }
}

/// A client certificate chain and its key, PEM (the key is a secret: never printed).
#[derive(Clone)]
pub(super) struct ClientCertificate {
    pub chain: Vec<u8>,
    pub key: Vec<u8>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate").field("chain", &"[set]").field("key", &"[redacted]").finish()
    }
}

fn invalid(field: &str, what: impl fmt::Display) -> StoreError {
    StoreError::with_kind(StoreErrorKind::InvalidConfig, format!("redis {field}: {what}"))
}

/// The extra CA's PEM, read and checked: at least one certificate, every block parses.
pub(super) fn read_extra_ca(extra: &ExtraCa) -> Result<Vec<u8>, StoreError> {
    let (field, pem) = match extra {
        ExtraCa::File(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| invalid("ca_file", format_args!("{} could not be read: {e}", path.display())))?;
            ("ca_file", pem)
        }
        ExtraCa::Pem(pem) => ("ca_pem", pem.clone()),
    };
    let mut count = 0;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        certificate.map_err(|e| invalid(field, format_args!("a certificate in the PEM does not parse ({e})")))?;
        count += 1;
    }
    if count == 0 {
        return Err(invalid(field, "no certificate found (expected PEM: -----BEGIN CERTIFICATE-----)"));
    }
    Ok(pem)
}

/// Checks a client certificate chain and key before any connection.
pub(super) fn check_client_certificate(certificate: &ClientCertificate) -> Result<(), StoreError> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&certificate.chain) {
        cert.map_err(|e| invalid("client_certificate", format_args!("the chain does not parse ({e})")))?;
        count += 1;
    }
    if count == 0 {
        return Err(invalid("client_certificate", "no certificate in the chain PEM"));
    }
    // The key's parse error is generic on purpose: it must not quote the key.
    PrivateKeyDer::from_pem_slice(&certificate.key)
        .map_err(|_| invalid("client_certificate", "the key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)"))?;
    Ok(())
}

/// The platform's roots as PEM. A platform without readable roots gives none (logged): a
/// private CA alone still works, and a public server then fails the handshake saying its
/// issuer is unknown.
fn platform_roots_pem() -> String {
    let found = rustls_native_certs::load_native_certs();
    if !found.errors.is_empty() {
        tracing::debug!(
            errors = found.errors.len(),
            roots = found.certs.len(),
            "some platform CA roots could not be read"
        );
    }
    let mut pem = String::new();
    for certificate in &found.certs {
        pem_block(&mut pem, certificate.as_ref());
    }
    pem
}

fn pem_block(out: &mut String, der: &[u8]) {
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    let body = base64_standard(der);
    for line in body.as_bytes().chunks(64) {
        // base64 is ASCII.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
}

/// What the redis crate is given for `rediss://`: the platform's roots plus `extra`, and the
/// client certificate if any.
pub(super) fn certificates(extra: Option<&[u8]>, client: Option<&ClientCertificate>) -> ::redis::TlsCertificates {
    let mut roots = platform_roots_pem().into_bytes();
    if let Some(extra) = extra {
        roots.push(b'\n');
        roots.extend_from_slice(extra);
    }
    ::redis::TlsCertificates {
        client_tls: client
            .map(|c| ::redis::ClientTlsConfig { client_cert: c.chain.clone(), client_key: c.key.clone() }),
        root_cert: Some(roots),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_wrap_at_64_columns_and_parse_back() {
        let der: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let mut pem = String::new();
        pem_block(&mut pem, &der);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")), "{pem}");
        let mut reader = pem.as_bytes();
        let (kind, body) = rustls_pki_types::pem::from_buf(&mut reader).unwrap().unwrap();
        assert_eq!(kind, rustls_pki_types::pem::SectionKind::Certificate);
        assert_eq!(body, der);
    }

    #[test]
    fn bad_ca_and_client_pems_name_the_setting_and_never_quote_a_key() {
        let error = read_extra_ca(&ExtraCa::Pem(b"not a pem".to_vec())).unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::InvalidConfig);
        assert!(error.to_string().starts_with("redis ca_pem: no certificate"), "{error}");
        let error = read_extra_ca(&ExtraCa::File("/nonexistent/ca.pem".into())).unwrap_err();
        assert!(error.to_string().starts_with("redis ca_file: /nonexistent/ca.pem could not be read"), "{error}");
        let garbled = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec();
        let error = read_extra_ca(&ExtraCa::Pem(garbled)).unwrap_err();
        assert!(error.to_string().contains("does not parse"), "{error}");

        let certificate = ClientCertificate {
            chain: include_bytes!("../../../tests/fixtures/leaf.bundle.pem").to_vec(),
            key: b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n".to_vec(),
        };
        // A "key" that base64-decodes but is no key: refused without quoting it.
        let _ = check_client_certificate(&certificate).map_err(|e| {
            assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        });
        let no_key = ClientCertificate { key: b"secret-key".to_vec(), ..certificate };
        let error = check_client_certificate(&no_key).unwrap_err();
        assert!(!error.to_string().contains("secret-key"), "{error}");
        assert!(format!("{no_key:?}").contains("[redacted]") && !format!("{no_key:?}").contains("secret"));
    }
}
