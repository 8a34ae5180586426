//! Onboards, lists and offboards customers of a multi-customer embedding app: one service
//! principal profile and one workspace per customer (issue 19). Prints JSON.
//!
//! ```text
//! cargo run --example tenant -- onboard --name Contoso [--key K] [--capacity C]
//!     [--pbix report.pbix [--report-name Sales] [--param Server=sql.contoso.com ...]] [--poll-ms 2000]
//! cargo run --example tenant -- list
//! cargo run --example tenant -- offboard --name Contoso     (or --key K)
//! ```
//!
//! `onboard` is safe to run again: the customer's key (by default its name) finds the profile
//! and workspace an earlier run made, so a run that failed halfway is finished, not repeated.
//! It prints `{"key", "profile", "workspace", "report", "dataset"}`; embed the report with
//! `cargo run --example embed_token -- --profile P --workspace W --report R`.
//!
//! Credentials come from the `AZURE_*` variables, `POWERBI_API_URL` overrides the API base.
//! With no `AZURE_TENANT_ID` set it runs against the crate's built-in fake and says so on
//! stderr; the fake lives only as long as the command, so there `list` and `offboard` find
//! nothing an earlier command made.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use powerbi_embed::testing::FakeServices;
use powerbi_embed::{CapacityId, PbixSource, PowerBiClient};
use serde_json::json;
use support::{aad_from_env, env, fail, fail_with, parse_id, powerbi_client, Args};

const FLAGS: &[&str] = &["name", "key", "capacity", "pbix", "report-name", "param", "poll-ms"];
const USAGE: &str = "usage: tenant onboard --name N [--key K] [--capacity C] [--pbix F] [--param K=V] | list | offboard (--name N | --key K)";

#[tokio::main]
async fn main() {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_else(|| fail(USAGE));
    if !matches!(command.as_str(), "onboard" | "list" | "offboard") {
        fail(format_args!("unknown command {command:?}; {USAGE}"));
    }
    let args = Args::parse_from(argv, FLAGS, &[]);
    // Held until the end: dropping it stops the fake servers.
    let fake = match env("AZURE_TENANT_ID") {
        Some(_) => None,
        None => {
            eprintln!(
                "note: no AZURE_TENANT_ID set, so this runs against the built-in fake of Entra ID and Power BI, \
                 which forgets everything when the command ends"
            );
            Some(FakeServices::start().await)
        }
    };
    let client = match &fake {
        Some(fake) => fake.powerbi_client(),
        None => powerbi_client(aad_from_env(None), None),
    };
    let output = match command.as_str() {
        "onboard" => onboard(&client, &args).await,
        "list" => list(&client).await,
        "offboard" => offboard(&client, &args).await,
        _ => unreachable!("checked above"),
    };
    println!("{}", serde_json::to_string_pretty(&output).expect("the output serializes"));
    drop(fake);
}

async fn onboard(client: &PowerBiClient, args: &Args) -> serde_json::Value {
    let name = args.one("name").unwrap_or_else(|| fail("--name is required (the customer's name)"));
    let mut onboarding = client.onboard_customer(name);
    if let Some(key) = args.one("key") {
        onboarding = onboarding.key(key);
    }
    if let Some(capacity) = args.one("capacity") {
        onboarding = onboarding.capacity(parse_id::<CapacityId>(capacity));
    }
    if let Some(path) = args.one("pbix") {
        onboarding = onboarding.pbix(PbixSource::path(path));
    }
    if let Some(report_name) = args.one("report-name") {
        onboarding = onboarding.report_name(report_name);
    }
    for pair in args.all("param") {
        let Some((key, value)) = pair.split_once('=') else {
            fail(format_args!("--param takes NAME=VALUE, not {pair:?}"))
        };
        onboarding = onboarding.parameter(key, value);
    }
    if let Some(ms) = args.one("poll-ms") {
        let ms: u64 = ms.parse().unwrap_or_else(|_| fail("--poll-ms takes a number of milliseconds"));
        onboarding = onboarding.poll_interval(Duration::from_millis(ms));
    }
    let done = onboarding.send().await.unwrap_or_else(|e| fail_with(e));
    json!({
        "key": done.key, "profile": done.profile.to_string(), "workspace": done.workspace.to_string(),
        "report": done.report.map(|r| r.to_string()), "dataset": done.dataset.map(|d| d.to_string()),
    })
}

async fn list(client: &PowerBiClient) -> serde_json::Value {
    let profiles = client.profiles().list().send_all().await.unwrap_or_else(|e| fail_with(e));
    let mut customers = Vec::new();
    for profile in profiles {
        let workspaces = client.as_profile(profile.id).workspaces().list().await.unwrap_or_else(|e| fail_with(e));
        let workspaces: Vec<_> = workspaces.iter().map(|w| json!({"id": w.id.to_string(), "name": w.name})).collect();
        customers
            .push(json!({"key": profile.display_name, "profile": profile.id.to_string(), "workspaces": workspaces}));
    }
    serde_json::Value::Array(customers)
}

async fn offboard(client: &PowerBiClient, args: &Args) -> serde_json::Value {
    let key = match (args.one("key"), args.one("name")) {
        (Some(key), _) => key,
        (None, Some(name)) => name,
        (None, None) => fail("--name or --key is required (the customer's stable key)"),
    };
    let gone = client.offboard_customer(key).await.unwrap_or_else(|e| fail_with(e));
    json!({
        "profile": gone.profile.map(|p| p.to_string()),
        "workspaces": gone.workspaces.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}
