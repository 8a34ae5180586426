//! The client assertion: a JWT whose header names the certificate (`x5t` or `x5t#S256`, and
//! `x5c` on request) and whose claims name the client and the token endpoint, signed with the
//! certificate's key.

use ring::rand::SystemRandom;
use serde::Serialize;
use time::OffsetDateTime;

use super::{AssertionAlgorithm, ClientCertificateCredential};
use crate::auth::jwt;
use crate::error::{CredentialErrorKind, Error, Result};
use crate::ids::Guid;
use crate::secret::Secret;

/// How long an assertion is valid: Entra accepts at most 10 minutes.
const ASSERTION_LIFETIME_SECS: i64 = 600;

impl ClientCertificateCredential {
    /// A signed client assertion for the token endpoint `audience`, valid from `now`.
    pub(super) fn assertion(&self, audience: &str, now: OffsetDateTime) -> Result<Secret> {
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
        let key_pair = self.key.key_pair();
        let mut signature = vec![0; key_pair.public().modulus_len()];
        key_pair.sign(self.algorithm.encoding(), &SystemRandom::new(), message, &mut signature).map_err(|_| {
            Error::credential("client certificate", CredentialErrorKind::Signing, "could not sign the client assertion")
        })?;
        Ok(signature)
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
