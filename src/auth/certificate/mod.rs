//! Service principal with a certificate: the client signs a short-lived JWT (the client
//! assertion) with the certificate's private key, and Entra checks it against the certificate
//! uploaded to the app registration. No shared secret ever crosses the wire.
//!
//! This file is the credential and its settings; [`load`] reads the certificate and key (PEM,
//! or PKCS#12 with the `pkcs12` feature), [`key`] checks that the key is RSA and belongs to the
//! certificate, and [`signing`] makes and signs the assertion.

mod key;
mod load;
#[cfg(feature = "pkcs12")]
mod pkcs12;
mod signing;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use ring::signature::{RsaEncoding, RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use rustls_pki_types::PrivateKeyDer;

use crate::auth::assertion::request_with_assertion;
use crate::auth::credential::{TokenCredential, TokenRequestContext};
use crate::auth::entra::token_url;
use crate::auth::jwt;
use crate::auth::token::AccessToken;
use crate::error::Result;
use crate::ids::{validate_client_id, validate_tenant};
use crate::secret::Secret;
use key::{leaf_first, rsa_key_pair, SigningKey};
use load::{
    contains, pem_certificates, pem_private_key, pem_sections, read_certificate_file, reject_encrypted_pem_key,
};

const CERTIFICATE: &str = "certificate";
const CERTIFICATE_PATH: &str = "certificate_path";
const PRIVATE_KEY: &str = "private_key";
/// The field of a wrong PKCS#12 password (the environment credential renames it).
pub(crate) const CERTIFICATE_PASSWORD: &str = "certificate_password";

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
/// does not belong to the certificate are [`Error::InvalidInput`](crate::Error::InvalidInput) before any network call.
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
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming `tenant_id`, `client_id`, `certificate` (not PEM, no
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
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming `certificate_path` if the file cannot be read, otherwise as
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
            Err(crate::Error::invalid(
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
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming `tenant_id`, `client_id`, `certificate` (not PKCS#12),
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
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming `certificate_path` if the file cannot be read, otherwise as
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
            key: SigningKey::new(key_pair),
            x5c: chain.iter().map(|der| jwt::base64_standard(der)).collect(),
            x5t: jwt::base64url(sha1.as_ref()),
            x5t_s256: jwt::base64url(digest(&SHA256, leaf).as_ref()),
            thumbprint: sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
            algorithm: AssertionAlgorithm::default(),
            send_chain: false,
        })
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
