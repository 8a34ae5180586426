//! What the environment tells the example: where to listen and which services to use.

use std::env;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use powerbi_embed::Secret;

/// The port when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The variables the real services need besides `AZURE_TENANT_ID`.
const AZURE_REQUIRED: [&str; 4] =
    ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "POWERBI_WORKSPACE_ID", "POWERBI_REPORT_ID"];

#[derive(Debug)]
pub struct Settings {
    pub addr: SocketAddr,
    pub backend: Backend,
}

#[derive(Debug)]
pub enum Backend {
    /// The crate's built-in fake, chosen when `AZURE_TENANT_ID` is not set.
    Fake { embed_token_lifetime: Option<Duration> },
    /// Entra ID and Power BI, as a service principal with a client secret.
    Azure(AzureSettings),
}

/// `Debug` is safe to print: the secret is a [`Secret`], which redacts itself.
#[derive(Debug)]
pub struct AzureSettings {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub workspace_id: String,
    pub report_id: String,
}

impl Settings {
    /// Reads `PORT`, `EMBED_TOKEN_LIFETIME_SECS`, and the `AZURE_*` / `POWERBI_*` variables.
    ///
    /// The error is a sentence for the user; it names variables, never their values.
    pub fn from_env() -> Result<Self, String> {
        let port = match var("PORT") {
            Some(port) => {
                port.parse().map_err(|_| format!("PORT must be a port number (0 picks a free one), not {port:?}"))?
            }
            None => DEFAULT_PORT,
        };
        // Loopback only: /api/embed-config hands a token to whoever asks, with no sign-in.
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let lifetime = embed_token_lifetime()?;
        let backend = match var("AZURE_TENANT_ID") {
            None => Backend::Fake { embed_token_lifetime: lifetime },
            Some(tenant_id) => {
                if lifetime.is_some() {
                    eprintln!("embed_server: EMBED_TOKEN_LIFETIME_SECS applies to the built-in fake only; ignored");
                }
                Backend::Azure(azure_settings(tenant_id)?)
            }
        };
        Ok(Self { addr, backend })
    }
}

fn embed_token_lifetime() -> Result<Option<Duration>, String> {
    let Some(text) = var("EMBED_TOKEN_LIFETIME_SECS") else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Some(Duration::from_secs(secs))),
        _ => Err(format!("EMBED_TOKEN_LIFETIME_SECS must be a positive number of seconds, not {text:?}")),
    }
}

fn azure_settings(tenant_id: String) -> Result<AzureSettings, String> {
    let missing: Vec<&str> = AZURE_REQUIRED.into_iter().filter(|name| var(name).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "AZURE_TENANT_ID is set, so the real services are used, but {} {} not set",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        ));
    }
    let required = |name: &str| var(name).unwrap_or_default();
    Ok(AzureSettings {
        tenant_id,
        client_id: required("AZURE_CLIENT_ID"),
        client_secret: Secret::new(required("AZURE_CLIENT_SECRET")),
        workspace_id: required("POWERBI_WORKSPACE_ID"),
        report_id: required("POWERBI_REPORT_ID"),
    })
}

/// A variable's value; unset and blank are the same (a blank `AZURE_TENANT_ID=` in a shell
/// should not switch to the real services).
fn var(name: &str) -> Option<String> {
    env::var(name).ok().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}
