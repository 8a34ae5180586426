//! The pieces of a signed JWT (RFC 7515 compact form) that a client assertion needs: base64 in
//! both alphabets, and `header.claims` ready to sign. Written here rather than pulled in, since
//! encoding is all the crate needs (it never decodes a JWT).

use serde::Serialize;

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with `+/` and `=` padding (RFC 4648 §4), the form `x5c` uses.
pub(crate) fn base64_standard(bytes: &[u8]) -> String {
    encode(bytes, STANDARD, true)
}

/// Base64url without padding (RFC 4648 §5, RFC 7515 §2), the form of every JWT segment and of
/// the `x5t` thumbprints.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    encode(bytes, URL_SAFE, false)
}

fn encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        // Three bytes make 24 bits, read as four 6-bit digits; a short last chunk yields
        // chunk.len() + 1 digits.
        let group = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for digit in 0..=chunk.len() {
            let index = (group >> (18 - 6 * digit)) & 0x3f;
            out.push(char::from(alphabet[index as usize]));
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
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
    fn signing_input_is_two_base64url_json_segments() {
        let input = signing_input(&serde_json::json!({"alg": "RS256"}), &serde_json::json!({"iss": "a"}));
        assert_eq!(input, "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhIn0");
        assert_eq!(assemble(&input, &[0xff]), "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhIn0._w");
    }
}
