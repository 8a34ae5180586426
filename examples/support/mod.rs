//! What the example binaries share: settings from the environment, argument parsing, and the
//! one-line error exit. Included with `#[path]`, so it is not an example of its own.
#![allow(dead_code)]

use std::fmt::Display;
use std::process::exit;
use std::str::FromStr;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use powerbi_embed::{
    AadClient, AadClientBuilder, CloudSettings, PowerBiClient, PowerBiView, ProfileId, RedisStore, SharedCache,
    StoreErrorKind,
};

/// Prints one actionable line to stderr and exits non-zero (no panic, no backtrace).
pub fn fail(message: impl Display) -> ! {
    eprintln!("error: {message}");
    exit(1)
}

/// Prints a service error with its hint and ids, then exits.
pub fn fail_with(error: powerbi_embed::Error) -> ! {
    match error.hint() {
        Some(hint) if !error.to_string().contains(hint) => fail(format_args!("{error} (hint: {hint})")),
        _ => fail(error),
    }
}

/// A setting from the environment, or None when unset or empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A required setting, or exit naming it.
pub fn require_env(name: &str, why: &str) -> String {
    env(name).unwrap_or_else(|| fail(format_args!("{name} is not set ({why})")))
}

/// `POWERBI_CLOUD` and `AZURE_AUTHORITY_HOST` applied to `builder` (checked against each other).
pub fn with_cloud_from_env(builder: AadClientBuilder) -> AadClientBuilder {
    CloudSettings::from_env().unwrap_or_else(|e| fail(e)).apply(builder)
}

/// An `AadClient` from the `AZURE_*` and `POWERBI_CLOUD` variables (`AadClient::from_env`),
/// sharing its tokens through `shared` when given.
pub fn aad_from_env(shared: Option<&SharedCache>) -> AadClient {
    let mut builder = AadClient::builder_from_env().unwrap_or_else(|e| fail(e));
    if let Some(shared) = shared {
        builder = builder.shared_cache(shared.clone());
    }
    builder.build().unwrap_or_else(|e| fail(e))
}

/// A `PowerBiClient` honouring `POWERBI_API_URL`, sharing embed tokens through `shared` when
/// given. A profile is chosen per call (`client.as_profile(p)`), not here.
pub fn powerbi_client(aad: AadClient, shared: Option<&SharedCache>) -> PowerBiClient {
    let mut builder = PowerBiClient::builder(aad);
    if let Some(api) = env("POWERBI_API_URL") {
        builder = builder.api_base(api);
    }
    if let Some(shared) = shared {
        builder = builder.shared_cache(shared.clone());
    }
    builder.build().unwrap_or_else(|e| fail(e))
}

/// The client as the profile `profile` when one is given (`--profile`, `POWERBI_PROFILE_ID`),
/// else as the service principal itself.
pub fn acting_as(client: &PowerBiClient, profile: Option<ProfileId>) -> PowerBiView<'_> {
    match profile {
        Some(profile) => client.as_profile(profile),
        None => client.view(),
    }
}

/// An id from a flag or a variable, or exit with the error naming the field (`report_id`, ...)
/// and never echoing the value.
pub fn parse_id<T: FromStr<Err = powerbi_embed::Error>>(text: &str) -> T {
    text.parse().unwrap_or_else(|e| fail_with(e))
}

/// The cache shared by every replica, when `REDIS_URL` is set: values sealed with the key in
/// `POWERBI_CACHE_KEY` (standard base64 of 32 bytes, the same in every replica), or stored in
/// plaintext only when `POWERBI_CACHE_PLAINTEXT=1` says so.
///
/// `REDIS_URL` may be `redis://` or `rediss://` (TLS, e.g. Azure Cache for Redis on port 6380);
/// `REDIS_CA_FILE` names a PEM file of a private CA to trust besides the platform's roots;
/// `REDIS_ENTRA=1` authenticates to Redis with an Entra token from the same `AZURE_*`
/// credential as Power BI (the user name is the identity's object id, read from the token).
///
/// A Redis that is down is a warning, not a failure: the tokens are then fetched directly. A
/// Redis that is misconfigured (a certificate that does not verify, refused credentials, a bad
/// URL) exits non-zero naming the problem: it would not fix itself.
pub async fn shared_cache_from_env() -> Option<SharedCache> {
    let url = env("REDIS_URL")?;
    let key = match env("POWERBI_CACHE_KEY") {
        Some(text) => Some(cache_key(&text)),
        None if env("POWERBI_CACHE_PLAINTEXT").as_deref() == Some("1") => None,
        None => fail(
            "REDIS_URL is set but POWERBI_CACHE_KEY is not (base64 of 32 random bytes, the same in every replica; \
             or POWERBI_CACHE_PLAINTEXT=1 to store tokens unencrypted)",
        ),
    };
    let mut builder = RedisStore::builder(url);
    if let Some(ca) = env("REDIS_CA_FILE") {
        builder = builder.ca_file(ca);
    }
    match env("REDIS_ENTRA").as_deref() {
        None | Some("0") => {}
        Some("1") => builder = builder.entra_id(aad_from_env(None)),
        Some(_) => fail("REDIS_ENTRA must be 1 (authenticate to Redis with Entra ID) or 0"),
    }
    let store = match builder.connect().await {
        Ok(store) => Arc::new(store),
        Err(error) if error.kind() == StoreErrorKind::Unavailable => {
            eprintln!("warning: {error}; continuing without the shared cache");
            return None;
        }
        Err(error) => fail(format_args!("{error} (REDIS_URL, REDIS_CA_FILE, REDIS_ENTRA)")),
    };
    Some(match key {
        Some(key) => SharedCache::new(store, key),
        None => SharedCache::plaintext(store),
    })
}

/// The 32-byte sealing key from its base64 text, or exit naming the variable (never echoing it).
fn cache_key(text: &str) -> [u8; 32] {
    let bytes = STANDARD
        .decode(text.trim())
        .unwrap_or_else(|_| fail("POWERBI_CACHE_KEY is not standard base64 (expected base64 of 32 random bytes)"));
    <[u8; 32]>::try_from(bytes.as_slice()).unwrap_or_else(|_| {
        fail(format_args!(
            "POWERBI_CACHE_KEY decodes to {} bytes; it must be 32 (e.g. `openssl rand -base64 32`)",
            bytes.len()
        ))
    })
}

/// A minimal `--flag value` / `--switch` parser: enough for the examples, no dependency.
#[derive(Debug, Default)]
pub struct Args {
    pairs: Vec<(String, Option<String>)>,
}

impl Args {
    /// Parses `std::env::args`, where `switches` take no value and every other `--flag` does.
    pub fn parse(known_flags: &[&str], switches: &[&str]) -> Self {
        Self::parse_from(std::env::args().skip(1), known_flags, switches)
    }

    /// [`parse`](Self::parse) over given arguments (those after a subcommand, say).
    pub fn parse_from(args: impl Iterator<Item = String>, known_flags: &[&str], switches: &[&str]) -> Self {
        let mut pairs = Vec::new();
        let mut args = args;
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else { fail(format_args!("unexpected argument {arg:?}")) };
            if switches.contains(&name) {
                pairs.push((name.to_owned(), None));
            } else if known_flags.contains(&name) {
                let value = args.next().unwrap_or_else(|| fail(format_args!("--{name} needs a value")));
                pairs.push((name.to_owned(), Some(value)));
            } else {
                fail(format_args!("unknown option --{name}"));
            }
        }
        Self { pairs }
    }

    /// Every value of a repeatable flag.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(n, _)| n == name).filter_map(|(_, v)| v.as_deref()).collect()
    }

    /// The value of a flag given at most once.
    pub fn one(&self, name: &str) -> Option<&str> {
        match self.all(name).as_slice() {
            [] => None,
            [one] => Some(one),
            _ => fail(format_args!("--{name} may be given only once")),
        }
    }

    /// Whether a switch was given.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, v)| n == name && v.is_none())
    }
}
