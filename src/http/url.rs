//! The rules for every URL a setting names, in one place: an absolute URL with no credentials,
//! query or fragment ([`parse_plain_url`]); for a base URL also `https` everywhere except
//! loopback and always a trailing `/`, because `Url::join("GenerateToken")` on
//! `.../v1.0/myorg` (no slash) silently drops `myorg` ([`parse_base_url`]); and which hosts are
//! loopback or on a private network ([`is_loopback`], [`is_local_ip_literal`]), for the
//! endpoints that may speak plain `http`.

use std::net::{IpAddr, Ipv6Addr};

use url::{Host, Url};

use crate::error::{Error, Result};

/// Parses an absolute URL with no credentials, query or fragment (the query of a request is
/// ours to write, and credentials in a setting would end up in logs), naming `field` in any
/// error and never echoing the credentials.
pub(crate) fn parse_plain_url(field: &'static str, input: &str) -> Result<Url> {
    let url = Url::parse(input.trim()).map_err(|e| Error::invalid(field, format!("not an absolute URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(field, "must not carry credentials"));
    }
    if url.query().is_some() {
        return Err(Error::invalid(field, "must not have a query string"));
    }
    if url.fragment().is_some() {
        return Err(Error::invalid(field, "must not have a fragment"));
    }
    Ok(url)
}

/// Parses and normalises a base URL (plain, `https` or `http` to loopback, ending in `/`),
/// naming `field` in any error.
pub(crate) fn parse_base_url(field: &'static str, input: &str) -> Result<Url> {
    let mut url = parse_plain_url(field, input)?;
    check_scheme(field, &url)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Whether this build can speak `https` (the `rustls` or `native-tls` feature).
pub(crate) const HAS_TLS: bool = cfg!(any(feature = "rustls", feature = "native-tls"));

/// `https`, or `http` to a loopback host (what local fakes and tests use). Plain `http`
/// anywhere else would send tokens in clear text. A build without a TLS backend
/// (`--no-default-features`) refuses `https` here, at construction, instead of failing every
/// request later with a transport error.
pub(crate) fn check_scheme(field: &'static str, url: &Url) -> Result<()> {
    match url.scheme() {
        "https" if HAS_TLS => Ok(()),
        "https" => Err(Error::invalid(
            field,
            "https needs a TLS backend, and this build of powerbi-embed has none: enable its `rustls` \
             (default) or `native-tls` feature; without one, only http to loopback hosts works",
        )),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Error::invalid(
            field,
            "http is only allowed to loopback hosts (127.0.0.0/8, ::1, localhost); use https",
        )),
        other => Err(Error::invalid(field, format!("unsupported scheme {other:?}; use https"))),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A link-local or private address written as an IP literal (names are never trusted here:
/// what a name resolves to is up to DNS).
pub(crate) fn is_local_ip_literal(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_link_local() || ip.is_private(),
        Some(Host::Ipv6(ip)) => is_local_ipv6(ip),
        _ => false,
    }
}

/// fe80::/10 (link-local) or fc00::/7 (unique local, IPv6's private range).
fn is_local_ipv6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    first & 0xffc0 == 0xfe80 || first & 0xfe00 == 0xfc00
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "rustls", feature = "native-tls"))] // https needs a TLS backend
    #[test]
    fn adds_trailing_slash_so_join_keeps_the_last_segment() {
        let base = parse_base_url("api_base", "https://api.powerbi.com/v1.0/myorg").unwrap();
        assert_eq!(base.join("GenerateToken").unwrap().as_str(), "https://api.powerbi.com/v1.0/myorg/GenerateToken");
    }

    #[test]
    fn local_ip_literals_are_link_local_or_private_addresses_never_names() {
        for local in [
            "http://169.254.130.1/",
            "http://10.0.0.5/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
        ] {
            assert!(is_local_ip_literal(&Url::parse(local).unwrap()), "{local}");
        }
        for other in [
            "http://8.8.8.8/",
            "http://[2001:db8::1]/",
            "http://localhost/",
            "http://my.internal/",
            "http://127.0.0.1/",
        ] {
            assert!(!is_local_ip_literal(&Url::parse(other).unwrap()), "{other}");
        }
    }

    #[test]
    fn plain_urls_refuse_credentials_query_and_fragment_but_take_any_scheme() {
        assert_eq!(
            parse_plain_url("identity_endpoint", " http://10.0.0.1:8081/msi/token ").unwrap().path(),
            "/msi/token"
        );
        for (input, reason) in
            [("http://a/?api-version=1", "query"), ("http://a/#x", "fragment"), ("http://u:p@a/", "credentials")]
        {
            let err = parse_plain_url("identity_endpoint", input).unwrap_err();
            assert_eq!(err.field(), Some("identity_endpoint"));
            assert!(err.to_string().contains(reason) && !err.to_string().contains("u:p"), "{input}: {err}");
        }
    }

    #[test]
    fn http_only_to_loopback() {
        for ok in ["http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:1", "http://LOCALHOST"] {
            assert!(parse_base_url("api_base", ok).is_ok(), "{ok}");
        }
        assert_eq!(parse_base_url("api_base", "https://example.com").is_ok(), HAS_TLS);
        for bad in [
            "http://10.0.0.1",
            "http://example.com",
            "http://169.254.169.254",
            "ftp://127.0.0.1",
            "http://localhost.evil.com",
        ] {
            let err = parse_base_url("api_base", bad).unwrap_err();
            assert_eq!(err.field(), Some("api_base"), "{bad}");
        }
    }

    #[test]
    #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
    fn without_a_tls_backend_https_is_refused_naming_the_features() {
        let err = parse_base_url("api_base", "https://api.powerbi.com/v1.0/myorg").unwrap_err();
        assert_eq!(err.field(), Some("api_base"));
        assert!(err.to_string().contains("`rustls`") && err.to_string().contains("`native-tls`"), "{err}");
    }

    #[cfg(any(feature = "rustls", feature = "native-tls"))] // https needs a TLS backend
    #[test]
    fn rejects_query_fragment_credentials_and_garbage() {
        for (input, reason) in [
            ("https://a/?x=1", "query"),
            ("https://a/#f", "fragment"),
            ("https://u:p@a/", "credentials"),
            ("not a url", "absolute"),
        ] {
            let err = parse_base_url("authority_host", input).unwrap_err();
            assert!(err.to_string().contains(reason), "{input}: {err}");
            assert!(!err.to_string().contains("u:p"), "never echo credentials");
        }
    }
}
