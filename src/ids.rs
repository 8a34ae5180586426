//! Identifiers: Power BI item ids and Entra client ids are GUIDs; tenants are GUIDs or verified
//! domain names. Checked up front so a typo is an [`Error::InvalidInput`] naming the field, not a
//! 404 from the service.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A GUID such as a workspace, report, dataset or client id.
///
/// Parsing accepts upper or lower case, with or without braces; it prints in the lowercase
/// hyphenated form Power BI uses.
///
/// ```
/// use powerbi_embed::Guid;
/// let id: Guid = "{F089354E-8366-4E18-AEA3-4CB4A3A50B48}".parse().unwrap();
/// assert_eq!(id.to_string(), "f089354e-8366-4e18-aea3-4cb4a3a50b48");
/// assert!("f089354e".parse::<Guid>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(u128);

impl Guid {
    /// Parses `value`, naming `field` in the error.
    pub(crate) fn parse_field(field: &'static str, value: &str) -> Result<Self> {
        if value.trim().is_empty() {
            return Err(Error::invalid(field, "is empty; expected a GUID like 00000000-0000-0000-0000-000000000000"));
        }
        value.parse().map_err(|_: InvalidGuid| {
            Error::invalid(field, format!("{value:?} is not a GUID (expected 8-4-4-4-12 hexadecimal digits)"))
        })
    }

    /// The GUID as a 128-bit number.
    pub fn as_u128(&self) -> u128 {
        self.0
    }

    /// A GUID from a 128-bit number.
    pub fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// A random (version 4) GUID, from the operating system's generator.
    pub fn new_random() -> Self {
        let mut bytes = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .expect("the operating system's random generator is available");
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(u128::from_be_bytes(bytes))
    }
}

/// The error of parsing a [`Guid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidGuid;

impl fmt::Display for InvalidGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a GUID")
    }
}

impl std::error::Error for InvalidGuid {}

impl FromStr for Guid {
    type Err = InvalidGuid;

    fn from_str(s: &str) -> Result<Self, InvalidGuid> {
        let s = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(s);
        let bytes = s.as_bytes();
        if bytes.len() != 36 {
            return Err(InvalidGuid);
        }
        let mut value = 0u128;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if *b != b'-' {
                    return Err(InvalidGuid);
                }
                continue;
            }
            let digit = (*b as char).to_digit(16).ok_or(InvalidGuid)?;
            value = (value << 4) | u128::from(digit);
        }
        Ok(Self(value))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(|_| serde::de::Error::custom("expected a GUID"))
    }
}

/// Checks a tenant: a GUID, or a domain such as `contoso.onmicrosoft.com`. `common`,
/// `organizations` and `consumers` are refused: an app-only token needs a specific tenant, and a
/// Power BI embed always lives in one.
pub(crate) fn validate_tenant(field: &'static str, tenant: &str) -> Result<String> {
    let tenant = tenant.trim();
    if tenant.is_empty() {
        return Err(Error::invalid(
            field,
            "is empty; expected the directory (tenant) id GUID or a domain like contoso.onmicrosoft.com",
        ));
    }
    if tenant.parse::<Guid>().is_ok() {
        return Ok(tenant.to_ascii_lowercase());
    }
    if matches!(tenant.to_ascii_lowercase().as_str(), "common" | "organizations" | "consumers") {
        return Err(Error::invalid(field, format!("{tenant:?} is a multi-tenant alias; use the tenant id or domain")));
    }
    let domain_like = tenant.len() <= 253
        && tenant.contains('.')
        && tenant.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if domain_like {
        Ok(tenant.to_ascii_lowercase())
    } else {
        Err(Error::invalid(field, format!("{tenant:?} is neither a GUID nor a domain name")))
    }
}

/// Checks an Entra application (client) id, which is always a GUID.
pub(crate) fn validate_client_id(field: &'static str, client_id: &str) -> Result<String> {
    Guid::parse_field(field, client_id.trim()).map(|g| g.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_round_trips_and_rejects_near_misses() {
        let text = "0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5e";
        assert_eq!(text.parse::<Guid>().unwrap().to_string(), text);
        for bad in [
            "",
            "0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5",
            "0b4ff5a23f2e-4c1a-9d6b-8a1e2f3c4d5e0",
            "0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5g",
            "{0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5e",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad}");
        }
        let random = Guid::new_random().to_string();
        assert_eq!(&random[14..15], "4");
        assert_ne!(Guid::new_random(), Guid::new_random());
    }

    #[test]
    fn tenant_accepts_guid_and_domain_only() {
        assert!(validate_tenant("tenant_id", "contoso.onmicrosoft.com").is_ok());
        assert!(validate_tenant("tenant_id", "0B4FF5A2-3F2E-4C1A-9D6B-8A1E2F3C4D5E").is_ok());
        for bad in ["", "   ", "common", "contoso", "a/b.com", "x..y", "-a.com", "https://login.microsoftonline.com"] {
            assert_eq!(validate_tenant("tenant_id", bad).unwrap_err().field(), Some("tenant_id"), "{bad}");
        }
    }

    #[test]
    fn client_id_must_be_a_guid() {
        assert_eq!(validate_client_id("client_id", "my-app").unwrap_err().field(), Some("client_id"));
    }
}
