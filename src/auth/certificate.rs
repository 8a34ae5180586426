//! Service principal with a certificate: the client signs a short-lived JWT (the client
//! assertion) with the certificate's private key, and Entra checks it against the certificate
//! uploaded to the app registration. No shared secret ever crosses the wire.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{RsaEncoding, RsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
use serde::Serialize;
use time::OffsetDateTime;

use crate::auth::assertion::request_with_assertion;
use crate::auth::credential::{TokenCredential, TokenRequestContext};
use crate::auth::entra::token_url;
use crate::auth::jwt;
use crate::auth::token::AccessToken;
use crate::error::{Error, Result};
use crate::ids::{validate_client_id, validate_tenant, Guid};
use crate::secret::Secret;

const CERTIFICATE: &str = "certificate";
const CERTIFICATE_PATH: &str = "certificate_path";
const PRIVATE_KEY: &str = "private_key";
/// The field of a wrong PKCS#12 password (the environment credential renames it).
pub(crate) const CERTIFICATE_PASSWORD: &str = "certificate_password";

/// How long an assertion is valid: Entra accepts at most 10 minutes.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// How the client assertion is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, identified by the certificate's SHA-1 thumbprint (`x5t`).
    /// What MSAL sends by default, accepted everywhere.
    #[default]
    Rs256,
    /// RSASSA-PSS with SHA-256, identified by the certificate's SHA-256 thumbprint
    /// (`x5t#S256`): the stronger choice where SHA-1 thumbprints are unwelcome.
    Ps256,
}

impl AssertionAlgorithm {
    fn jws_name(self) -> &'static str {
        match self {
            AssertionAlgorithm::Rs256 => "RS256",
            AssertionAlgorithm::Ps256 => "PS256",
        }
    }

    fn encoding(self) -> &'static dyn RsaEncoding {
        match self {
            AssertionAlgorithm::Rs256 => &RSA_PKCS1_SHA256,
            AssertionAlgorithm::Ps256 => &RSA_PSS_SHA256,
        }
    }
}

/// Signs in as a service principal with a certificate, through the `client_credentials` grant
/// with a signed client assertion (`client_assertion_type=...:jwt-bearer`).
///
/// The certificate and its RSA private key come from PEM (PKCS#8 `PRIVATE KEY` or PKCS#1
/// `RSA PRIVATE KEY`, unencrypted) or, with the `pkcs12` feature, from a `.pfx`/`.p12` file.
/// Everything is checked when the credential is built: a missing file, a key that is not RSA or
/// does not belong to the certificate are [`Error::InvalidInput`] before any network call.
///
/// Each token request signs a new assertion: `aud` is the token endpoint, `iss` and `sub` the
/// client id, a random `jti`, valid for 10 minutes from the [`AadClient`](crate::AadClient)'s
/// clock.
///
/// ```no_run
/// use powerbi_embed::{AadClient, AssertionAlgorithm, ClientCertificateCredential};
/// # async fn run() -> powerbi_embed::Result<()> {
/// let credential = ClientCertificateCredential::from_pem_file(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     "/etc/powerbi/app.pem", // certificate and private key
/// )?
/// .with_algorithm(AssertionAlgorithm::Ps256);
/// println!("signing with certificate {}", credential.thumbprint());
/// let token = AadClient::new(credential)?.token().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientCertificateCredential {
    tenant_id: String,
    client_id: String,
    key: SigningKey,
    /// The chain as `x5c` wants it: standard base64 of each DER certificate, leaf first.
    x5c: Arc<[String]>,
    /// base64url SHA-1 of the leaf (`x5t`).
    x5t: String,
    /// base64url SHA-256 of the leaf (`x5t#S256`).
    x5t_s256: String,
    /// Hexadecimal SHA-1 of the leaf, as the Azure portal lists certificates.
    thumbprint: String,
    algorithm: AssertionAlgorithm,
    send_chain: bool,
}

/// The RSA key pair. Its `Debug` prints nothing of the key.
#[derive(Clone)]
struct SigningKey(Arc<RsaKeyPair>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl ClientCertificateCredential {
    /// A credential from PEM text holding the certificate (optionally followed by its chain)
    /// and the private key, in any order, as `openssl` or Key Vault's PEM export writes it.
    ///
    /// ```
    /// # let pem = std::fs::read("tests/fixtures/leaf.bundle.pem").unwrap();
    /// use powerbi_embed::ClientCertificateCredential;
    /// let credential = ClientCertificateCredential::from_pem(
    ///     "contoso.onmicrosoft.com",
    ///     "00000000-0000-0000-0000-000000000001",
    ///     &pem,
    /// ).unwrap();
    /// assert!(!format!("{credential:?}").contains("PRIVATE KEY"));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant_id`, `client_id`, `certificate` (not PEM, no
    /// certificate) or `private_key` (none, encrypted, not RSA, or not the certificate's).
    pub fn from_pem(tenant_id: impl AsRef<str>, client_id: impl AsRef<str>, pem: impl AsRef<[u8]>) -> Result<Self> {
        let ids = Ids::new(tenant_id.as_ref(), client_id.as_ref())?;
        Self::pem_with(ids, pem.as_ref(), None)
    }

    /// A credential from the certificate(s) and the private key in separate PEM texts.
    ///
    /// ```no_run
    /// use powerbi_embed::ClientCertificateCredential;
    /// let credential = ClientCertificateCredential::from_pem_parts(
    ///     "contoso.onmicrosoft.com",
    ///     "00000000-0000-0000-0000-000000000001",
    ///     std::fs::read("/etc/powerbi/cert.pem").unwrap(),
    ///     std::fs::read("/etc/powerbi/key.pem").unwrap(),
    /// ).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem).
    pub fn from_pem_parts(
        tenant_id: impl AsRef<str>,
        client_id: impl AsRef<str>,
        certificates_pem: impl AsRef<[u8]>,
        private_key_pem: impl AsRef<[u8]>,
    ) -> Result<Self> {
        let ids = Ids::new(tenant_id.as_ref(), client_id.as_ref())?;
        Self::pem_with(ids, certificates_pem.as_ref(), Some(private_key_pem.as_ref()))
    }

    /// A credential from a PEM file holding the certificate(s) and the private key.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `certificate_path` if the file cannot be read, otherwise as
    /// [`from_pem`](Self::from_pem).
    pub fn from_pem_file(
        tenant_id: impl AsRef<str>,
        client_id: impl AsRef<str>,
        path: impl AsRef<Path>,
    ) -> Result<Self> {
        let ids = Ids::new(tenant_id.as_ref(), client_id.as_ref())?;
        let pem = read_certificate_file(path.as_ref())?;
        Self::pem_with(ids, &pem, None)
    }

    /// A credential from a certificate file that is either PEM or PKCS#12, told apart by its
    /// contents (PEM is text with `-----BEGIN`); `password` opens a PKCS#12 file.
    pub(crate) fn from_file(tenant_id: &str, client_id: &str, path: &Path, password: Option<&Secret>) -> Result<Self> {
        let ids = Ids::new(tenant_id, client_id)?;
        let contents = read_certificate_file(path)?;
        if contains(&contents, b"-----BEGIN") {
            return Self::pem_with(ids, &contents, None);
        }
        #[cfg(feature = "pkcs12")]
        {
            Self::pkcs12_with(ids, &contents, password.unwrap_or(&Secret::new("")))
        }
        #[cfg(not(feature = "pkcs12"))]
        {
            let _ = password;
            Err(Error::invalid(
                CERTIFICATE,
                format!("{} is not PEM; PKCS#12 (.pfx/.p12) files need the crate feature `pkcs12`", path.display()),
            ))
        }
    }

    /// A credential from a PKCS#12 (`.pfx` / `.p12`) archive in DER form, opened with
    /// `password` (use `""` for none). The archive must hold one private key with its
    /// certificate; the CA certificates in it become the `x5c` chain.
    ///
    /// ```no_run
    /// use powerbi_embed::ClientCertificateCredential;
    /// let credential = ClientCertificateCredential::from_pkcs12(
    ///     "contoso.onmicrosoft.com",
    ///     "00000000-0000-0000-0000-000000000001",
    ///     std::fs::read("/etc/powerbi/app.pfx").unwrap(),
    ///     std::env::var("PFX_PASSWORD").unwrap_or_default(),
    /// ).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant_id`, `client_id`, `certificate` (not PKCS#12),
    /// `certificate_password` (wrong password) or `private_key` (none, not RSA, or not the
    /// certificate's).
    #[cfg(feature = "pkcs12")]
    pub fn from_pkcs12(
        tenant_id: impl AsRef<str>,
        client_id: impl AsRef<str>,
        pkcs12: impl AsRef<[u8]>,
        password: impl Into<Secret>,
    ) -> Result<Self> {
        let ids = Ids::new(tenant_id.as_ref(), client_id.as_ref())?;
        Self::pkcs12_with(ids, pkcs12.as_ref(), &password.into())
    }

    /// A credential from a PKCS#12 (`.pfx` / `.p12`) file.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `certificate_path` if the file cannot be read, otherwise as
    /// [`from_pkcs12`](Self::from_pkcs12).
    #[cfg(feature = "pkcs12")]
    pub fn from_pkcs12_file(
        tenant_id: impl AsRef<str>,
        client_id: impl AsRef<str>,
        path: impl AsRef<Path>,
        password: impl Into<Secret>,
    ) -> Result<Self> {
        let ids = Ids::new(tenant_id.as_ref(), client_id.as_ref())?;
        let der = read_certificate_file(path.as_ref())?;
        Self::pkcs12_with(ids, &der, &password.into())
    }

    /// Signs assertions with `algorithm` (default [`AssertionAlgorithm::Rs256`]).
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sends the certificate chain in the assertion's `x5c` header (default: off). Needed for
    /// subject-name/issuer authentication, where the app trusts a certificate by its subject
    /// and issuer rather than by an uploaded copy.
    pub fn send_certificate_chain(mut self, send: bool) -> Self {
        self.send_chain = send;
        self
    }

    /// The certificate's SHA-1 thumbprint in hexadecimal, as the app registration's
    /// "Certificates & secrets" page lists it: to check that the right certificate is loaded.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// From PEM holding the certificates, and the key too unless `private_key_pem` is given.
    fn pem_with(ids: Ids, certificates_pem: &[u8], private_key_pem: Option<&[u8]>) -> Result<Self> {
        reject_encrypted_pem_key(private_key_pem.unwrap_or(certificates_pem))?;
        let sections = pem_sections(CERTIFICATE, certificates_pem)?;
        let certificates = pem_certificates(&sections)?;
        let key = match private_key_pem {
            Some(pem) => pem_private_key(&pem_sections(PRIVATE_KEY, pem)?)?,
            None => pem_private_key(&sections)?,
        };
        Self::build(ids, certificates, &key)
    }

    #[cfg(feature = "pkcs12")]
    fn pkcs12_with(ids: Ids, der: &[u8], password: &Secret) -> Result<Self> {
        let (certificates, key) = pkcs12::open(der, password)?;
        Self::build(ids, certificates, &key)
    }

    fn build(ids: Ids, certificates: Vec<Vec<u8>>, key: &PrivateKeyDer<'_>) -> Result<Self> {
        let key_pair = rsa_key_pair(key)?;
        let chain = leaf_first(certificates, key_pair.public().as_ref())?;
        let leaf = &chain[0];
        let sha1 = digest(&SHA1_FOR_LEGACY_USE_ONLY, leaf);
        Ok(Self {
            tenant_id: ids.tenant_id,
            client_id: ids.client_id,
            key: SigningKey(Arc::new(key_pair)),
            x5c: chain.iter().map(|der| jwt::base64_standard(der)).collect(),
            x5t: jwt::base64url(sha1.as_ref()),
            x5t_s256: jwt::base64url(digest(&SHA256, leaf).as_ref()),
            thumbprint: sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
            algorithm: AssertionAlgorithm::default(),
            send_chain: false,
        })
    }

    /// A signed client assertion for the token endpoint `audience`, valid from `now`.
    fn assertion(&self, audience: &str, now: OffsetDateTime) -> Result<Secret> {
        let (x5t, x5t_s256) = match self.algorithm {
            AssertionAlgorithm::Rs256 => (Some(self.x5t.as_str()), None),
            AssertionAlgorithm::Ps256 => (None, Some(self.x5t_s256.as_str())),
        };
        let header = Header {
            alg: self.algorithm.jws_name(),
            typ: "JWT",
            x5t,
            x5t_s256,
            x5c: if self.send_chain { &self.x5c } else { &[] },
        };
        let issued_at = now.unix_timestamp();
        let claims = Claims {
            aud: audience,
            iss: &self.client_id,
            sub: &self.client_id,
            jti: Guid::new_random().to_string(),
            nbf: issued_at,
            iat: issued_at,
            exp: issued_at + ASSERTION_LIFETIME_SECS,
        };
        let signing_input = jwt::signing_input(&header, &claims);
        let signature = self.sign(signing_input.as_bytes())?;
        Ok(Secret::new(jwt::assemble(&signing_input, &signature)))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let key_pair = &self.key.0;
        let mut signature = vec![0; key_pair.public().modulus_len()];
        key_pair
            .sign(self.algorithm.encoding(), &SystemRandom::new(), message, &mut signature)
            .map_err(|_| Error::credential("client certificate", "could not sign the client assertion"))?;
        Ok(signature)
    }
}

impl fmt::Debug for ClientCertificateCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificateCredential")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("thumbprint", &self.thumbprint)
            .field("chain_len", &self.x5c.len())
            .field("algorithm", &self.algorithm)
            .field("send_certificate_chain", &self.send_chain)
            .field("key", &self.key)
            .finish()
    }
}

#[async_trait]
impl TokenCredential for ClientCertificateCredential {
    fn cache_identity(&self) -> String {
        format!("{}/{}", self.tenant_id, self.client_id)
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        let audience = token_url(ctx, &self.tenant_id)?;
        let assertion = self.assertion(audience.as_str(), ctx.now())?;
        request_with_assertion(ctx, &self.tenant_id, &self.client_id, &assertion).await
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    x5t: Option<&'a str>,
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    x5t_s256: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    x5c: &'a [String],
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// The validated tenant and client, checked before any file or key is looked at.
struct Ids {
    tenant_id: String,
    client_id: String,
}

impl Ids {
    fn new(tenant_id: &str, client_id: &str) -> Result<Self> {
        Ok(Self {
            tenant_id: validate_tenant("tenant_id", tenant_id)?,
            client_id: validate_client_id("client_id", client_id)?,
        })
    }
}

fn read_certificate_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::invalid(CERTIFICATE_PATH, format!("cannot read {}: {e}", path.display())))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// Encrypted PEM keys (PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy `Proc-Type`
/// headers) are refused with a way out, rather than reported as a missing or malformed key.
fn reject_encrypted_pem_key(pem: &[u8]) -> Result<()> {
    if contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED") {
        return Err(Error::invalid(
            PRIVATE_KEY,
            "is encrypted, which PEM loading does not support: decrypt it (`openssl pkey -in key.pem -out plain.pem`) or use a PKCS#12 file",
        ));
    }
    Ok(())
}

type PemSection = (SectionKind, Vec<u8>);

/// All PEM sections, naming `field` if the text is not well-formed PEM. The message never
/// quotes the input, which may be key material.
fn pem_sections(field: &'static str, pem: &[u8]) -> Result<Vec<PemSection>> {
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
fn pem_certificates(sections: &[PemSection]) -> Result<Vec<Vec<u8>>> {
    let certificates: Vec<Vec<u8>> =
        sections.iter().filter(|(kind, _)| *kind == SectionKind::Certificate).map(|(_, der)| der.clone()).collect();
    if certificates.is_empty() {
        return Err(Error::invalid(CERTIFICATE, "the PEM holds no -----BEGIN CERTIFICATE----- section"));
    }
    Ok(certificates)
}

/// The one private key among the PEM sections.
fn pem_private_key(sections: &[PemSection]) -> Result<PrivateKeyDer<'static>> {
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

/// The DER of the `rsaEncryption` algorithm identifier (1.2.840.113549.1.1.1), which a PKCS#8
/// RSA key names near its start.
const RSA_ENCRYPTION_OID: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn rsa_key_pair(key: &PrivateKeyDer<'_>) -> Result<RsaKeyPair> {
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
fn leaf_first(mut certificates: Vec<Vec<u8>>, public_key: &[u8]) -> Result<Vec<Vec<u8>>> {
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

#[cfg(feature = "pkcs12")]
mod pkcs12 {
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
        let store =
            KeyStore::from_pkcs12(der, password.expose_secret(), Pkcs12ImportPolicy::Strict).map_err(describe)?;
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
}
