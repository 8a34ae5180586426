//! Reading a certificate and its private key: PEM files and texts, in any order, with the
//! refusals that name what is wrong without ever quoting key material.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};

use super::{CERTIFICATE, CERTIFICATE_PATH, PRIVATE_KEY};
use crate::error::{Error, Result};

pub(super) fn read_certificate_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::invalid(CERTIFICATE_PATH, format!("cannot read {}: {e}", path.display())))
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// Encrypted PEM keys (PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy `Proc-Type`
/// headers) are refused with a way out, rather than reported as a missing or malformed key.
pub(super) fn reject_encrypted_pem_key(pem: &[u8]) -> Result<()> {
    if contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED") {
        return Err(Error::invalid(
            PRIVATE_KEY,
            "is encrypted, which PEM loading does not support: decrypt it (`openssl pkey -in key.pem -out plain.pem`) or use a PKCS#12 file",
        ));
    }
    Ok(())
}

pub(super) type PemSection = (SectionKind, Vec<u8>);

/// All PEM sections, naming `field` if the text is not well-formed PEM. The message never
/// quotes the input, which may be key material.
pub(super) fn pem_sections(field: &'static str, pem: &[u8]) -> Result<Vec<PemSection>> {
    let sections = PemSection::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| {
        let why = match e {
            pem::Error::MissingSectionEnd { .. } => "a section has no -----END line",
            pem::Error::IllegalSectionStart { .. } => "a -----BEGIN line is malformed",
            pem::Error::Base64Decode(_) => "a section's body is not valid base64",
            _ => "it cannot be read",
        };
        Error::invalid(field, format!("is not valid PEM: {why}"))
    })?;
    if sections.is_empty() {
        return Err(Error::invalid(
            field,
            "is not PEM: no -----BEGIN ...----- section found (for a .pfx/.p12 file use from_pkcs12)",
        ));
    }
    Ok(sections)
}

/// The DER of every `CERTIFICATE` section, in file order.
pub(super) fn pem_certificates(sections: &[PemSection]) -> Result<Vec<Vec<u8>>> {
    let certificates: Vec<Vec<u8>> =
        sections.iter().filter(|(kind, _)| *kind == SectionKind::Certificate).map(|(_, der)| der.clone()).collect();
    if certificates.is_empty() {
        return Err(Error::invalid(CERTIFICATE, "the PEM holds no -----BEGIN CERTIFICATE----- section"));
    }
    Ok(certificates)
}

/// The one private key among the PEM sections.
pub(super) fn pem_private_key(sections: &[PemSection]) -> Result<PrivateKeyDer<'static>> {
    let mut keys = sections.iter().filter_map(|(kind, der)| match kind {
        SectionKind::PrivateKey => Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.clone()))),
        SectionKind::RsaPrivateKey => Some(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.clone()))),
        SectionKind::EcPrivateKey => Some(PrivateKeyDer::Sec1(der.clone().into())),
        _ => None,
    });
    let key = keys.next().ok_or_else(|| {
        Error::invalid(
            PRIVATE_KEY,
            "the PEM holds no -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY----- section",
        )
    })?;
    if keys.next().is_some() {
        return Err(Error::invalid(PRIVATE_KEY, "the PEM holds more than one private key"));
    }
    Ok(key)
}
