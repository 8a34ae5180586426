//! National clouds: where to sign in, which resource to ask a token for, and which Power BI API
//! to call. Values from Microsoft's national-cloud embedding documentation.

use url::Url;

use crate::error::{Error, Result};
use crate::http::url::{parse_base_url, parse_plain_url};

/// A Power BI cloud.
///
/// ```
/// use powerbi_embed::Cloud;
/// assert_eq!(Cloud::Public.scope(), "https://analysis.windows.net/powerbi/api/.default");
/// assert_eq!(Cloud::from_name("usgovhigh").unwrap(), Cloud::UsGovHigh);
/// let fake = Cloud::custom("http://127.0.0.1:9000", "https://analysis.windows.net/powerbi/api", "http://127.0.0.1:9001").unwrap();
/// assert_eq!(fake.api_base().as_str(), "http://127.0.0.1:9001/");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cloud {
    /// The commercial cloud (`login.microsoftonline.com`, `api.powerbi.com`).
    #[default]
    Public,
    /// US Government Community Cloud (GCC).
    UsGov,
    /// US Government Community Cloud High.
    UsGovHigh,
    /// US Department of Defense.
    UsDod,
    /// Azure China (21Vianet).
    China,
    /// Any other (authority host, resource, API base), e.g. a local fake.
    Custom(CustomCloud),
}

/// A cloud given by its three endpoints; build it with [`Cloud::custom`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCloud {
    authority_host: Url,
    resource: String,
    api_base: Url,
}

impl Cloud {
    /// A custom cloud. URLs must be `https`, or `http` to a loopback host, with no query or
    /// fragment; they are normalised to end in `/`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `authority_host`, `resource` or `api_base`.
    pub fn custom(authority_host: &str, resource: &str, api_base: &str) -> Result<Self> {
        let resource = resource.trim_end_matches('/');
        let parsed = parse_plain_url("resource", resource)?;
        if parsed.scheme() != "https" && parsed.scheme() != "api" {
            return Err(Error::invalid("resource", "must be an https:// resource URI"));
        }
        Ok(Cloud::Custom(CustomCloud {
            authority_host: parse_base_url("authority_host", authority_host)?,
            resource: resource.to_owned(),
            api_base: parse_base_url("api_base", api_base)?,
        }))
    }

    /// Parses a cloud name as accepted by the examples and `POWERBI_CLOUD`: `public`, `usgov`
    /// (GCC), `usgovhigh`, `usdod`, `china`. Case and `-`/`_` are ignored.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `cloud` for an unknown name.
    pub fn from_name(name: &str) -> Result<Self> {
        let normalised: String =
            name.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).collect::<String>().to_ascii_lowercase();
        Ok(match normalised.as_str() {
            "public" | "azurepublic" | "commercial" => Cloud::Public,
            "usgov" | "gcc" => Cloud::UsGov,
            "usgovhigh" | "gcchigh" => Cloud::UsGovHigh,
            "usdod" | "dod" => Cloud::UsDod,
            "china" => Cloud::China,
            _ => {
                return Err(Error::invalid(
                    "cloud",
                    format!("unknown cloud {name:?}; expected public, usgov, usgovhigh, usdod or china"),
                ))
            }
        })
    }

    /// The Entra authority host, e.g. `https://login.microsoftonline.com/`.
    pub fn authority_host(&self) -> Url {
        match self {
            Cloud::Custom(custom) => custom.authority_host.clone(),
            _ => static_url(self.endpoints().0),
        }
    }

    /// The Power BI resource, e.g. `https://analysis.windows.net/powerbi/api`.
    pub fn resource(&self) -> &str {
        match self {
            Cloud::Custom(custom) => &custom.resource,
            _ => self.endpoints().1,
        }
    }

    /// The Power BI scope: the resource followed by `/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.resource())
    }

    /// The Power BI REST API base, e.g. `https://api.powerbi.com/`.
    pub fn api_base(&self) -> Url {
        match self {
            Cloud::Custom(custom) => custom.api_base.clone(),
            _ => static_url(self.endpoints().2),
        }
    }

    fn endpoints(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Cloud::Public => (
                "https://login.microsoftonline.com/",
                "https://analysis.windows.net/powerbi/api",
                "https://api.powerbi.com/",
            ),
            Cloud::UsGov => (
                "https://login.microsoftonline.com/",
                "https://analysis.usgovcloudapi.net/powerbi/api",
                "https://api.powerbigov.us/",
            ),
            Cloud::UsGovHigh => (
                "https://login.microsoftonline.us/",
                "https://high.analysis.usgovcloudapi.net/powerbi/api",
                "https://api.high.powerbigov.us/",
            ),
            Cloud::UsDod => (
                "https://login.microsoftonline.us/",
                "https://mil.analysis.usgovcloudapi.net/powerbi/api",
                "https://api.mil.powerbigov.us/",
            ),
            Cloud::China => (
                "https://login.chinacloudapi.cn/",
                "https://analysis.chinacloudapi.cn/powerbi/api",
                "https://api.powerbi.cn/",
            ),
            Cloud::Custom(_) => unreachable!("custom clouds carry their own endpoints"),
        }
    }
}

/// Parses an Entra authority host given as a URL or, as the Azure SDKs accept it, as a bare
/// host (`login.microsoftonline.us`), which means `https://` that host. The URL rules of
/// [`Cloud::custom`] apply (`https`, or `http` to loopback). Normalised to end in `/`.
pub(crate) fn parse_authority_host(field: &'static str, input: &str) -> Result<Url> {
    let input = input.trim();
    if input.contains("://") {
        parse_base_url(field, input)
    } else {
        // `Url::parse("localhost:8080")` would read `localhost` as a scheme: a bare host never
        // goes through it unprefixed.
        parse_base_url(field, &format!("https://{input}"))
    }
}

/// The Entra sign-in hosts of the clouds Microsoft runs, each known by several names. Clouds
/// that share a host are one family here: GCC signs in where the public cloud does, and GCC
/// High where DoD does. The aliases are those of Entra's instance-discovery metadata (the
/// `aliases` lists of `/common/discovery/instance`, which MSAL ships and its recorded tests
/// replay); `login-us.microsoftonline.com`, listed there on its own, is left unknown (taken as
/// given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignInCloud {
    Public,
    UsGovernment,
    China,
    Germany,
}

impl SignInCloud {
    /// The family of a known sign-in host; `None` for any other host.
    pub(crate) fn of_host(host: &str) -> Option<Self> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        Some(match host.as_str() {
            "login.microsoftonline.com" | "login.windows.net" | "login.microsoft.com" | "sts.windows.net" => {
                SignInCloud::Public
            }
            "login.microsoftonline.us" | "login.usgovcloudapi.net" => SignInCloud::UsGovernment,
            "login.chinacloudapi.cn" | "login.partner.microsoftonline.cn" => SignInCloud::China,
            "login.microsoftonline.de" => SignInCloud::Germany,
            _ => return None,
        })
    }

    /// For messages: which clouds sign in there, as `POWERBI_CLOUD` names them.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            SignInCloud::Public => "the public cloud's sign-in host (POWERBI_CLOUD=public or usgov)",
            SignInCloud::UsGovernment => "the US Government sign-in host (POWERBI_CLOUD=usgovhigh or usdod)",
            SignInCloud::China => "Azure China's sign-in host (POWERBI_CLOUD=china)",
            SignInCloud::Germany => "the retired Azure Germany sign-in host, which has no Power BI cloud here",
        }
    }
}

impl Cloud {
    /// The sign-in family of a built-in cloud; `None` for a custom one.
    pub(crate) fn sign_in_cloud(&self) -> Option<SignInCloud> {
        Some(match self {
            Cloud::Public | Cloud::UsGov => SignInCloud::Public,
            Cloud::UsGovHigh | Cloud::UsDod => SignInCloud::UsGovernment,
            Cloud::China => SignInCloud::China,
            Cloud::Custom(_) => return None,
        })
    }

    /// The name [`from_name`](Self::from_name) reads for a built-in cloud, `custom` otherwise.
    pub fn name(&self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::UsGov => "usgov",
            Cloud::UsGovHigh => "usgovhigh",
            Cloud::UsDod => "usdod",
            Cloud::China => "china",
            Cloud::Custom(_) => "custom",
        }
    }
}

fn static_url(url: &'static str) -> Url {
    Url::parse(url).expect("built-in cloud URLs are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_clouds_match_the_contract_table() {
        let table = [
            (
                Cloud::Public,
                "https://login.microsoftonline.com/",
                "https://analysis.windows.net/powerbi/api",
                "https://api.powerbi.com/",
            ),
            (
                Cloud::UsGov,
                "https://login.microsoftonline.com/",
                "https://analysis.usgovcloudapi.net/powerbi/api",
                "https://api.powerbigov.us/",
            ),
            (
                Cloud::UsGovHigh,
                "https://login.microsoftonline.us/",
                "https://high.analysis.usgovcloudapi.net/powerbi/api",
                "https://api.high.powerbigov.us/",
            ),
            (
                Cloud::UsDod,
                "https://login.microsoftonline.us/",
                "https://mil.analysis.usgovcloudapi.net/powerbi/api",
                "https://api.mil.powerbigov.us/",
            ),
            (
                Cloud::China,
                "https://login.chinacloudapi.cn/",
                "https://analysis.chinacloudapi.cn/powerbi/api",
                "https://api.powerbi.cn/",
            ),
        ];
        for (cloud, authority, resource, api) in table {
            assert_eq!(cloud.authority_host().as_str(), authority);
            assert_eq!(cloud.resource(), resource);
            assert_eq!(cloud.api_base().as_str(), api);
            assert_eq!(cloud.scope(), format!("{resource}/.default"));
        }
    }

    #[test]
    fn unknown_cloud_names_the_field() {
        let err = Cloud::from_name("mars").unwrap_err();
        assert_eq!(err.field(), Some("cloud"));
        assert_eq!(Cloud::from_name("US-Gov_High").unwrap(), Cloud::UsGovHigh);
    }

    #[cfg(any(feature = "rustls", feature = "native-tls"))] // https needs a TLS backend
    #[test]
    fn authority_host_is_a_url_or_a_bare_host_meaning_https() {
        for (input, expected) in [
            ("login.microsoftonline.us", "https://login.microsoftonline.us/"),
            (" login.microsoftonline.us/ ", "https://login.microsoftonline.us/"),
            ("https://login.microsoftonline.us", "https://login.microsoftonline.us/"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("http://localhost:8080/tenant-proxy", "http://localhost:8080/tenant-proxy/"),
        ] {
            assert_eq!(parse_authority_host("AZURE_AUTHORITY_HOST", input).unwrap().as_str(), expected, "{input}");
        }
        for bad in ["http://login.microsoftonline.us", "ftp://x", "login.microsoftonline.us?x=1", "", "a b"] {
            let err = parse_authority_host("AZURE_AUTHORITY_HOST", bad).unwrap_err();
            assert_eq!(err.field(), Some("AZURE_AUTHORITY_HOST"), "{bad}");
        }
    }

    #[test]
    fn every_built_in_cloud_signs_in_at_a_host_of_its_own_family() {
        for cloud in [Cloud::Public, Cloud::UsGov, Cloud::UsGovHigh, Cloud::UsDod, Cloud::China] {
            let host = cloud.authority_host();
            assert_eq!(SignInCloud::of_host(host.host_str().unwrap()), cloud.sign_in_cloud(), "{cloud:?}");
            assert_eq!(Cloud::from_name(cloud.name()).unwrap(), cloud);
        }
        assert_eq!(SignInCloud::of_host("LOGIN.MicrosoftOnline.US."), Some(SignInCloud::UsGovernment));
        assert_eq!(SignInCloud::of_host("login.contoso.com"), None);
    }

    #[cfg(any(feature = "rustls", feature = "native-tls"))] // https needs a TLS backend
    #[test]
    fn custom_cloud_validates_each_url() {
        assert_eq!(
            Cloud::custom("http://10.0.0.1", "https://r", "https://a").unwrap_err().field(),
            Some("authority_host")
        );
        assert_eq!(Cloud::custom("https://l", "nope", "https://a").unwrap_err().field(), Some("resource"));
        assert_eq!(Cloud::custom("https://l", "https://r", "https://a?x=1").unwrap_err().field(), Some("api_base"));
        let cloud = Cloud::custom("http://localhost:1", "https://r/", "http://[::1]:2/v").unwrap();
        assert_eq!(cloud.resource(), "https://r");
        assert_eq!(cloud.api_base().as_str(), "http://[::1]:2/v/");
    }
}
