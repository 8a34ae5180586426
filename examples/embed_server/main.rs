//! A web page that embeds a Power BI report with this crate's embed configs, and renews the
//! embed token before it expires.
//!
//! ```text
//! examples/embed_server/install-js.sh      # powerbi-client from npm, once
//! cargo run --example embed_server         # then open http://127.0.0.1:3000
//! ```
//!
//! Without `AZURE_TENANT_ID` it runs on the crate's built-in fake (`testing` feature). With
//! `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `POWERBI_WORKSPACE_ID` and
//! `POWERBI_REPORT_ID` it signs in as that service principal and embeds that report;
//! `POWERBI_CLOUD` and `AZURE_AUTHORITY_HOST` pick a national cloud, as for `AadClient::from_env`.
//! `PORT` (default 3000; 0 picks a free one) and, on the fake, `EMBED_TOKEN_LIFETIME_SECS`
//! (short tokens, to watch the page renew them) are optional.

mod routes;
mod settings;
mod source;
#[cfg(test)]
mod tests;

use std::process::ExitCode;
use std::sync::Arc;

use settings::{Backend, Settings};
use source::EmbedSource;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("embed_server: {message}");
            return ExitCode::from(2);
        }
    };
    let source = match embed_source(settings.backend).await {
        Ok(source) => source,
        Err(error) => {
            eprintln!("embed_server: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(settings.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("embed_server: cannot listen on {}: {error}", settings.addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(settings.addr);
    // On stdout, one line, so scripts (the browser test) can read the port PORT=0 picked.
    println!("embed_server listening on http://{addr}");
    match axum::serve(listener, routes::router(Arc::new(source))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("embed_server: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The source the settings ask for, saying on stderr which services it uses.
async fn embed_source(backend: Backend) -> powerbi_embed::Result<EmbedSource> {
    match backend {
        Backend::Fake { embed_token_lifetime } => {
            eprintln!(
                "embed_server: no AZURE_TENANT_ID, so this runs on the built-in fake of Entra ID and Power BI: \
                 its tokens are fake, and the report frame (app.powerbi.com) has no report to show"
            );
            Ok(EmbedSource::fake(embed_token_lifetime).await)
        }
        Backend::Azure(azure) => {
            eprintln!(
                "embed_server: signing in to Entra ID as app {} of tenant {}, to embed report {} of workspace {}",
                azure.client_id, azure.tenant_id, azure.report_id, azure.workspace_id
            );
            EmbedSource::azure(azure)
        }
    }
}
