//! `AadClient::from_env` / `CloudSettings`: the `AZURE_*` variables and `POWERBI_CLOUD` read
//! once, in one place, with `AZURE_AUTHORITY_HOST` applied (as a URL or a bare host) and
//! checked against the cloud. Variables come through a lookup, never the process environment,
//! so these tests can run in parallel.

use std::sync::Arc;

use crate::support::{clock, form_is, strict_server, token_body, CLIENT, TENANT, TOKEN_PATH};
use powerbi_embed::{AadClient, Cloud, CloudSettings, EnvironmentCredential};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const SECRET: &str = "env-once-client-secret";

fn lookup(pairs: &[(&'static str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(&'static str, String)> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
}

/// A service principal with a secret, plus `extra`.
fn service_principal(extra: &[(&'static str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut pairs = vec![("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT), ("AZURE_CLIENT_SECRET", SECRET)];
    pairs.extend_from_slice(extra);
    lookup(&pairs)
}

#[tokio::test]
async fn the_authority_host_and_the_cloud_from_the_environment_are_both_used_for_the_token_request() {
    // The bug: AZURE_AUTHORITY_HOST was read by the credential but the client signed in at the
    // cloud's own host. Here the host is a loopback fake (exempt from the cloud check) and the
    // cloud is GCC High, so the request must reach the fake and ask for GCC High's scope.
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "client_credentials"),
            ("scope", "https://high.analysis.usgovcloudapi.net/powerbi/api/.default"),
            ("client_secret", SECRET),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("gcc-high-token", 3599)))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let env = service_principal(&[("AZURE_AUTHORITY_HOST", &server.uri()), ("POWERBI_CLOUD", "usgovhigh")]);
    let aad = AadClient::builder_from_env_with(env).unwrap().clock(Arc::new(clock.clone())).build().unwrap();

    assert_eq!(aad.cloud(), &Cloud::UsGovHigh);
    let token = aad.token().await.expect("a token from the authority host the environment names");
    assert_eq!(token.secret().expose_secret(), "gcc-high-token");
}

#[test]
fn a_bare_authority_host_means_https_as_the_azure_sdks_read_it() {
    for host in ["login.microsoftonline.us", "login.microsoftonline.us/", "https://login.microsoftonline.us"] {
        let env = service_principal(&[("AZURE_AUTHORITY_HOST", host), ("POWERBI_CLOUD", "usdod")]);
        let settings = CloudSettings::from_lookup(&env).unwrap();
        assert_eq!(settings.authority_host().as_str(), "https://login.microsoftonline.us/", "{host}");
        assert_eq!(settings.cloud(), &Cloud::UsDod);
        let credential = EnvironmentCredential::from_lookup(&env).unwrap();
        assert_eq!(credential.authority_host(), Some("https://login.microsoftonline.us/"), "{host}");
        let aad = AadClient::from_env_with(&env).unwrap();
        assert!(format!("{aad:?}").contains(r#"authority_host: "https://login.microsoftonline.us/""#), "{aad:?}");
    }
}

#[test]
fn without_an_authority_host_the_cloud_picks_its_own() {
    let cases = [
        (None, Cloud::Public, "https://login.microsoftonline.com/"),
        (Some(""), Cloud::Public, "https://login.microsoftonline.com/"),
        (Some("usgov"), Cloud::UsGov, "https://login.microsoftonline.com/"),
        (Some("GCC-High"), Cloud::UsGovHigh, "https://login.microsoftonline.us/"),
        (Some("china"), Cloud::China, "https://login.chinacloudapi.cn/"),
    ];
    for (name, cloud, host) in cases {
        let extra: Vec<(&'static str, &str)> = name.map(|n| ("POWERBI_CLOUD", n)).into_iter().collect();
        let settings = CloudSettings::from_lookup(service_principal(&extra)).unwrap();
        assert_eq!(settings.cloud(), &cloud, "{name:?}");
        assert_eq!(settings.authority_host().as_str(), host, "{name:?}");
        assert_eq!(AadClient::from_env_with(service_principal(&extra)).unwrap().cloud(), &cloud);
    }
}

#[test]
fn an_authority_host_of_another_known_cloud_is_refused_naming_both() {
    let cases: [(Option<&str>, &str, &str); 5] = [
        (
            None,
            "login.microsoftonline.us",
            "invalid AZURE_AUTHORITY_HOST: login.microsoftonline.us is the US Government sign-in host \
             (POWERBI_CLOUD=usgovhigh or usdod), but POWERBI_CLOUD is not set, so the cloud is public, which signs \
             in at login.microsoftonline.com: set POWERBI_CLOUD to the cloud of the tenant, or \
             AZURE_AUTHORITY_HOST to its sign-in host",
        ),
        (
            Some("usgovhigh"),
            "https://login.microsoftonline.com/",
            "invalid AZURE_AUTHORITY_HOST: login.microsoftonline.com is the public cloud's sign-in host \
             (POWERBI_CLOUD=public or usgov), but POWERBI_CLOUD is usgovhigh, which signs in at \
             login.microsoftonline.us: set POWERBI_CLOUD to the cloud of the tenant, or AZURE_AUTHORITY_HOST to \
             its sign-in host",
        ),
        (
            Some("china"),
            "login.windows.net",
            "invalid AZURE_AUTHORITY_HOST: login.windows.net is the public cloud's sign-in host \
             (POWERBI_CLOUD=public or usgov), but POWERBI_CLOUD is china, which signs in at \
             login.chinacloudapi.cn: set POWERBI_CLOUD to the cloud of the tenant, or AZURE_AUTHORITY_HOST to its \
             sign-in host",
        ),
        (
            Some("usdod"),
            "login.chinacloudapi.cn",
            "invalid AZURE_AUTHORITY_HOST: login.chinacloudapi.cn is Azure China's sign-in host \
             (POWERBI_CLOUD=china), but POWERBI_CLOUD is usdod, which signs in at login.microsoftonline.us: set \
             POWERBI_CLOUD to the cloud of the tenant, or AZURE_AUTHORITY_HOST to its sign-in host",
        ),
        (
            Some("public"),
            "login.microsoftonline.de",
            "invalid AZURE_AUTHORITY_HOST: login.microsoftonline.de is the retired Azure Germany sign-in host, \
             which has no Power BI cloud here, but POWERBI_CLOUD is public, which signs in at \
             login.microsoftonline.com: set POWERBI_CLOUD to the cloud of the tenant, or AZURE_AUTHORITY_HOST to \
             its sign-in host",
        ),
    ];
    for (cloud, host, expected) in cases {
        let mut extra = vec![("AZURE_AUTHORITY_HOST", host)];
        extra.extend(cloud.map(|c| ("POWERBI_CLOUD", c)));
        let err = CloudSettings::from_lookup(service_principal(&extra)).unwrap_err();
        assert_eq!(err.field(), Some("AZURE_AUTHORITY_HOST"), "{cloud:?} {host}");
        assert_eq!(err.to_string(), expected);
        let err = AadClient::from_env_with(service_principal(&extra)).unwrap_err();
        assert_eq!(err.to_string(), expected, "the constructor refuses it too");
    }
}

#[test]
fn same_family_loopback_and_unknown_hosts_are_accepted_as_given() {
    let cases = [
        // GCC signs in at the public host, GCC High and DoD at the US Government one.
        (Some("usgov"), "login.microsoftonline.com"),
        (Some("usgovhigh"), "https://login.microsoftonline.us"),
        (Some("usdod"), "login.usgovcloudapi.net"),
        (Some("china"), "https://login.partner.microsoftonline.cn/"),
        (None, "https://login.microsoft.com"),
        // A local fake with any cloud, and a host no known cloud uses (a proxy).
        (Some("china"), "http://127.0.0.1:9400"),
        (Some("usgovhigh"), "http://localhost:9400/entra"),
        (Some("usgovhigh"), "https://entra-proxy.contoso.us/"),
    ];
    for (cloud, host) in cases {
        let mut extra = vec![("AZURE_AUTHORITY_HOST", host)];
        extra.extend(cloud.map(|c| ("POWERBI_CLOUD", c)));
        assert!(AadClient::from_env_with(service_principal(&extra)).is_ok(), "{cloud:?} {host}");
    }
}

#[test]
fn bad_values_name_their_variable() {
    let cases: [(&[(&'static str, &str)], &str); 4] = [
        (&[("POWERBI_CLOUD", "mars")], "POWERBI_CLOUD"),
        (&[("AZURE_AUTHORITY_HOST", "http://login.microsoftonline.us")], "AZURE_AUTHORITY_HOST"),
        (&[("AZURE_AUTHORITY_HOST", "login.microsoftonline.us?x=1")], "AZURE_AUTHORITY_HOST"),
        (&[("AZURE_AUTHORITY_HOST", "ftp://login.microsoftonline.us")], "AZURE_AUTHORITY_HOST"),
    ];
    for (extra, field) in cases {
        let err = AadClient::from_env_with(service_principal(extra)).unwrap_err();
        assert_eq!(err.field(), Some(field), "{extra:?}");
    }
    let err = AadClient::from_env_with(lookup(&[("POWERBI_CLOUD", "usgovhigh")])).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_TENANT_ID"));
}

#[test]
fn no_credential_variable_is_an_error_not_a_managed_identity_fallback() {
    // IDENTITY_ENDPOINT and IDENTITY_HEADER are set, as on App Service: still no fallback.
    let env = lookup(&[
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token"),
        ("IDENTITY_HEADER", "header"),
    ]);
    let err = AadClient::from_env_with(env).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_CLIENT_SECRET"));
    assert_eq!(
        err.to_string(),
        "invalid AZURE_CLIENT_SECRET: is not set, and neither is another credential: set AZURE_CLIENT_SECRET, or \
         AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_USERNAME and AZURE_PASSWORD, or AZURE_FEDERATED_TOKEN_FILE"
    );
}

#[test]
fn the_secret_never_appears_in_the_client_or_the_settings() {
    let env =
        service_principal(&[("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"), ("POWERBI_CLOUD", "usgovhigh")]);
    let aad = AadClient::from_env_with(&env).unwrap();
    let settings = CloudSettings::from_lookup(&env).unwrap();
    for text in [format!("{aad:?}"), format!("{settings:?}")] {
        assert!(!text.contains(SECRET), "{text}");
    }
}
