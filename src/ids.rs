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
    /// Parses `value`, naming `field` in the error. Every id the crate takes from a caller goes
    /// through here, so every path treats ids alike: surrounding whitespace (a trailing newline
    /// from a file or an environment variable) is trimmed, anything else that is not a GUID is
    /// refused. The refused value is never echoed: a secret pasted into the wrong setting must
    /// not reach the logs.
    pub(crate) fn parse_field(field: impl fmt::Display, value: &str) -> Result<Self> {
        // The field name is formatted only for the error: a request checks each of its ids this
        // way, and the success path should not allocate.
        let value = value.trim();
        value.parse().map_err(|_: InvalidGuid| {
            if value.is_empty() {
                Error::invalid(field.to_string(), "is empty; expected a GUID like 00000000-0000-0000-0000-000000000000")
            } else {
                Error::invalid(
                    field.to_string(),
                    format!(
                        "is not a GUID (expected 8-4-4-4-12 hexadecimal digits; got {} characters)",
                        value.chars().count()
                    ),
                )
            }
        })
    }

    /// The GUID as a 128-bit number.
    pub const fn as_u128(&self) -> u128 {
        self.0
    }

    /// A GUID from a 128-bit number.
    pub const fn from_u128(value: u128) -> Self {
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

    /// Writes the lowercase hyphenated form into `buf`. Requests serialize several ids each, so
    /// this avoids the formatting machinery and any allocation.
    fn encode(self, buf: &mut [u8; uuid::fmt::Hyphenated::LENGTH]) -> &str {
        uuid::Uuid::from_u128(self.0).hyphenated().encode_lower(buf)
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

/// The length of the hyphenated form, and of the braced one.
const TEXT_LEN: usize = uuid::fmt::Hyphenated::LENGTH;
const BRACED_LEN: usize = uuid::fmt::Braced::LENGTH;

impl FromStr for Guid {
    type Err = InvalidGuid;

    /// The 8-4-4-4-12 form, either case, optionally in braces, through the `uuid` crate's
    /// parser (twice as fast as the hand-written one it replaced). The `uuid` crate also reads
    /// 32 digits without hyphens and `urn:uuid:` names; Power BI never writes those, and an id
    /// of that shape in a setting is more likely a slip, so only the two lengths of the
    /// documented forms reach it.
    fn from_str(s: &str) -> Result<Self, InvalidGuid> {
        if s.len() != TEXT_LEN && s.len() != BRACED_LEN {
            return Err(InvalidGuid);
        }
        uuid::Uuid::try_parse(s).map(|id| Self(id.as_u128())).map_err(|_| InvalidGuid)
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode(&mut [0; TEXT_LEN]))
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.encode(&mut [0; TEXT_LEN]))
    }
}

impl<'de> serde::Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(|_| serde::de::Error::custom("expected a GUID"))
    }
}

/// Defines a typed Power BI item id: a [`Guid`] that knows what it names, so a dataset id cannot
/// be passed where a report id belongs, and a malformed id is refused once, where it is parsed,
/// with an error naming the field.
macro_rules! item_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $example:literal) => {
        $(#[$doc])*
        ///
        /// Parsed once (from text with [`str::parse`], from a [`Guid`], or with the `uuid` feature
        /// from a `uuid::Uuid`) and then copied for free. Parsing accepts upper or lower case, with
        /// or without braces, and trims surrounding whitespace; a bad value is an
        #[doc = concat!("[`Error::InvalidInput`] naming `", $field, "`, never echoing the value.")]
        /// It prints, and serializes, in the lowercase hyphenated form Power BI uses.
        ///
        /// ```
        #[doc = concat!("use powerbi_embed::", stringify!($name), ";")]
        #[doc = concat!("let id: ", stringify!($name), " = \"", $example, "\".parse()?;")]
        #[doc = concat!("assert_eq!(id.to_string(), \"", $example, "\");")]
        #[doc = concat!("let bad = \"not-an-id\".parse::<", stringify!($name), ">().unwrap_err();")]
        #[doc = concat!("assert_eq!(bad.field(), Some(\"", $field, "\"));")]
        /// # Ok::<(), powerbi_embed::Error>(())
        /// ```
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Guid);

        impl $name {
            /// The field name a malformed id is reported under.
            pub const FIELD: &'static str = $field;

            /// The id from a 128-bit number (usable in `const` items).
            pub const fn from_u128(value: u128) -> Self {
                Self(Guid::from_u128(value))
            }

            /// The id as a plain [`Guid`].
            pub const fn guid(self) -> Guid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self> {
                Guid::parse_field($field, s).map(Self)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;

            fn try_from(s: &str) -> Result<Self> {
                s.parse()
            }
        }

        impl From<Guid> for $name {
            fn from(guid: Guid) -> Self {
                Self(guid)
            }
        }

        impl From<$name> for Guid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        #[cfg(feature = "uuid")]
        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(Guid::from_u128(id.as_u128()))
            }
        }

        #[cfg(feature = "uuid")]
        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                uuid::Uuid::from_u128(id.0.as_u128())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(|e: Error| serde::de::Error::custom(e))
            }
        }
    };
}

item_id!(
    /// A workspace (group) id.
    WorkspaceId, "workspace_id", "f089354e-8366-4e18-aea3-4cb4a3a50b48"
);
item_id!(
    /// A report id.
    ReportId, "report_id", "5b218778-e7a5-4d73-8187-f10824047715"
);
item_id!(
    /// A dataset (semantic model) id.
    DatasetId, "dataset_id", "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
);
item_id!(
    /// A dashboard id.
    DashboardId, "dashboard_id", "69ffaa6c-b36d-4d01-96f5-1ed67c64d4af"
);
item_id!(
    /// A dashboard tile id.
    TileId, "tile_id", "312fbfe9-2eda-44e0-9ed0-ab5dc571bb4b"
);
item_id!(
    /// A service principal profile id (sent as `X-PowerBI-Profile-Id`).
    ProfileId, "profile_id", "dbe1e4c0-e1b6-4f6c-8b65-0e6f0b9f86b4"
);
item_id!(
    /// A capacity id.
    CapacityId, "capacity_id", "0f084df7-c13d-451b-af5f-ed0c466403b2"
);
item_id!(
    /// An import id (the upload of a `.pbix` into a workspace).
    ImportId, "import_id", "82d9a37a-2b45-4221-b012-cb109b8e30c7"
);
item_id!(
    /// A gateway id (cloud data sources have one too).
    GatewayId, "gateway_id", "1f69e798-5852-4fdd-ab01-33bb14b6e934"
);
item_id!(
    /// A data source id, under its gateway.
    DatasourceId, "datasource_id", "dc2f2dac-e5e2-4c37-af76-2a0bc10f16cb"
);

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
        // Not echoed, for the same reason as a client id (see `validate_client_id`).
        Err(Error::invalid(field, "is neither a GUID nor a domain name like contoso.onmicrosoft.com"))
    }
}

/// Checks an Entra application (client) id, which is always a GUID.
///
/// The value is not echoed in the error: a client secret pasted into the wrong setting is a
/// classic slip, and errors end up in logs.
pub(crate) fn validate_client_id(field: &'static str, client_id: &str) -> Result<String> {
    let client_id = client_id.trim();
    if client_id.is_empty() {
        return Err(Error::invalid(field, "is empty; expected the application (client) id GUID"));
    }
    client_id.parse::<Guid>().map(|g| g.to_string()).map_err(|_| {
        Error::invalid(field, "is not a GUID; expected the application (client) id, 8-4-4-4-12 hexadecimal digits")
    })
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
    fn every_digit_parses_and_prints_lowercase() {
        let upper = "01234567-89AB-CDEF-0123-456789ABCDEF";
        let guid: Guid = upper.parse().unwrap();
        assert_eq!(guid.as_u128(), 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(guid.to_string(), upper.to_ascii_lowercase());
        assert_eq!(serde_json::to_string(&guid).unwrap(), format!("\"{}\"", upper.to_ascii_lowercase()));
        for (i, _) in upper.char_indices() {
            let mut bad = upper.as_bytes().to_vec();
            bad[i] = if matches!(i, 8 | 13 | 18 | 23) { b'0' } else { b'g' };
            assert!(String::from_utf8(bad).unwrap().parse::<Guid>().is_err(), "position {i}");
        }
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
        let pasted_secret = "Abc8Q~not-a-guid-but-a-secret-value";
        for err in [
            validate_client_id("client_id", pasted_secret).unwrap_err(),
            validate_tenant("tenant_id", pasted_secret).unwrap_err(),
        ] {
            assert!(!err.to_string().contains(pasted_secret) && !format!("{err:?}").contains(pasted_secret), "{err}");
        }
    }

    #[test]
    fn fields_are_trimmed_and_never_echoed() {
        let id = "0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5e";
        assert_eq!(Guid::parse_field("report_id", &format!(" {id}\n")).unwrap().to_string(), id);
        assert_eq!(Guid::parse_field("report_id", &format!("\t{{{id}}} ")).unwrap().to_string(), id);
        let pasted_secret = "Abc8Q~not-a-guid-but-a-secret-value";
        let err = Guid::parse_field("profile_id", pasted_secret).unwrap_err();
        assert_eq!(err.field(), Some("profile_id"));
        assert!(!err.to_string().contains(pasted_secret) && !format!("{err:?}").contains(pasted_secret), "{err}");
        assert!(err.to_string().contains("35 characters"), "{err}");
        assert!(Guid::parse_field("report_id", "  ").unwrap_err().to_string().contains("is empty"));
    }

    #[test]
    fn item_ids_parse_once_and_name_their_field() {
        let text = "5B218778-E7A5-4D73-8187-F10824047715";
        let id: ReportId = format!(" {{{text}}}\n").parse().unwrap();
        assert_eq!(id.to_string(), text.to_ascii_lowercase());
        assert_eq!(format!("{id:?}"), format!("ReportId({})", text.to_ascii_lowercase()));
        assert_eq!(Guid::from(id), text.parse::<Guid>().unwrap());
        assert_eq!(ReportId::from(id.guid()), id);
        assert_eq!(ReportId::try_from(text).unwrap(), id);
        for (err, field) in [
            ("x".parse::<WorkspaceId>().unwrap_err(), "workspace_id"),
            ("x".parse::<ReportId>().unwrap_err(), "report_id"),
            ("x".parse::<DatasetId>().unwrap_err(), "dataset_id"),
            ("x".parse::<DashboardId>().unwrap_err(), "dashboard_id"),
            ("x".parse::<TileId>().unwrap_err(), "tile_id"),
            ("x".parse::<ProfileId>().unwrap_err(), "profile_id"),
            ("x".parse::<CapacityId>().unwrap_err(), "capacity_id"),
            ("x".parse::<ImportId>().unwrap_err(), "import_id"),
            ("x".parse::<GatewayId>().unwrap_err(), "gateway_id"),
            ("x".parse::<DatasourceId>().unwrap_err(), "datasource_id"),
        ] {
            assert_eq!(err.field(), Some(field));
        }
        let pasted_secret = "Abc8Q~not-a-guid-but-a-secret-value";
        let err = pasted_secret.parse::<ProfileId>().unwrap_err();
        assert!(!err.to_string().contains(pasted_secret) && !format!("{err:?}").contains(pasted_secret), "{err}");
    }

    #[test]
    fn item_ids_serialize_as_text_and_refuse_bad_text_naming_the_field() {
        let id = DatasetId::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"01234567-89ab-cdef-0123-456789abcdef\"");
        assert_eq!(serde_json::from_str::<DatasetId>(&json).unwrap(), id);
        let err = serde_json::from_str::<DatasetId>("\"nope\"").unwrap_err().to_string();
        assert!(err.contains("dataset_id") && err.contains("is not a GUID"), "{err}");
        assert!(serde_json::from_str::<DatasetId>("42").is_err());
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn item_ids_convert_to_and_from_uuid() {
        let uuid = uuid::Uuid::parse_str("5b218778-e7a5-4d73-8187-f10824047715").unwrap();
        let id = ReportId::from(uuid);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(uuid::Uuid::from(id), uuid);
        let workspace: WorkspaceId = uuid.into();
        assert_eq!(workspace.guid(), id.guid());
    }
}
