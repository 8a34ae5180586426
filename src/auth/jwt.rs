//! The pieces of a compact JWT (RFC 7515) the crate needs: base64 in both alphabets, `header.
//! claims` ready to sign for a client assertion, and reading a token's claims without verifying
//! them (a token's `oid` for Redis, the fake's view of the tokens it issued). Base64 is the
//! `base64` crate's, already in the tree through reqwest.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
#[cfg(any(feature = "redis", feature = "testing", test))]
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The longest claims segment read: a token's claims are a few hundred bytes, and one that is
/// not must not make us decode megabytes.
#[cfg(any(feature = "redis", feature = "testing", test))]
const MAX_CLAIMS_SEGMENT: usize = 16 * 1024;

/// Base64 with `+/` and `=` padding (RFC 4648 §4), the form `x5c` uses.
pub(crate) fn base64_standard(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Base64url without padding (RFC 4648 §5, RFC 7515 §2), the form of every JWT segment and of
/// the `x5t` thumbprints.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(json(header)) . base64url(json(claims))`: the bytes a JWS signature covers.
pub(crate) fn signing_input(header: &impl Serialize, claims: &impl Serialize) -> String {
    format!("{}.{}", base64url(&to_json(header)), base64url(&to_json(claims)))
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // The crate's own header and claim structs hold only strings and integers, which always
    // serialize.
    serde_json::to_vec(value).expect("JWT header and claims serialize to JSON")
}

/// Appends the signature segment, completing the compact JWT.
pub(crate) fn assemble(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", base64url(signature))
}

/// The claims of a compact JWT, **not verified**: for reading what a token says about itself
/// where the service that accepts it does the verifying. `None` when the token has no claims
/// segment, it is over 16 KiB, not base64url (padded or not) or not JSON of the shape `T`.
#[cfg(any(feature = "redis", feature = "testing", test))]
pub(crate) fn unverified_claims<T: DeserializeOwned>(token: &str) -> Option<T> {
    let segment = token.split('.').nth(1)?;
    if segment.len() > MAX_CLAIMS_SEGMENT {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base64_standard(input.as_bytes()), expected, "{input}");
            assert_eq!(base64url(input.as_bytes()), expected.trim_end_matches('='), "{input}");
        }
    }

    #[test]
    fn url_alphabet_replaces_plus_and_slash() {
        let bytes = [0xfb, 0xff, 0xbf];
        assert_eq!(base64_standard(&bytes), "+/+/");
        assert_eq!(base64url(&bytes), "-_-_");
    }

    #[test]
    fn claims_are_read_from_the_second_segment_padded_or_not_and_refused_when_broken() {
        let claims = serde_json::json!({"oid": "o", "n": 1});
        let encoded = base64url(serde_json::to_string(&claims).unwrap().as_bytes());
        let read: serde_json::Value = unverified_claims(&format!("h.{encoded}.s")).unwrap();
        assert_eq!(read, claims);
        let padded = format!(
            "h.{}.s",
            STANDARD.encode(serde_json::to_string(&claims).unwrap()).replace('+', "-").replace('/', "_")
        );
        assert_eq!(unverified_claims::<serde_json::Value>(&padded), Some(claims));
        for broken in [
            "no-dots",
            "h.!!!.s",
            "h.e30K.s".replace("e30K", "bm90IGpzb24").as_str(),
            &format!("h.{}.s", "A".repeat(16 * 1024 + 4)),
        ] {
            assert_eq!(unverified_claims::<serde_json::Value>(broken), None, "{broken:.40}");
        }
    }

    #[test]
    fn claims_segments_of_every_length_decode() {
        // Every remainder of the length modulo 3, and bytes that are not ASCII.
        for input in ["", "f", "fo", "foo", "foob", "fooba", "foobar", "\u{ff}\u{fe}"] {
            let token = format!("h.{}.s", base64url(serde_json::to_string(input).unwrap().as_bytes()));
            assert_eq!(unverified_claims::<String>(&token).as_deref(), Some(input));
        }
    }

    #[test]
    fn signing_input_is_two_base64url_json_segments() {
        let input = signing_input(&serde_json::json!({"alg": "RS256"}), &serde_json::json!({"iss": "a"}));
        assert_eq!(input, "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhIn0");
        assert_eq!(assemble(&input, &[0xff]), "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhIn0._w");
    }
}
