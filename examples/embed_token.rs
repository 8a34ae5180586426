//! Prints an embed config (`type, id, embedUrl, accessToken, tokenType, tokenId, expiration`)
//! for a report, a dashboard or tile, Q&A, or several reports at once.
//!
//! ```text
//! cargo run --example embed_token -- --workspace W --report R
//!     [--access-level view|edit|create] [--dataset D] [--allow-save-as] [--view-mode view|edit]
//!     [--username U --role R1 --role R2 --identity-dataset D] [--custom-data X]
//!     [--lifetime-minutes N] [--profile P] [--multi-resource] [--paginated]
//! cargo run --example embed_token -- --workspace W --report R --entra-token
//! cargo run --example embed_token -- --workspace W --dashboard D [--tile T]
//! cargo run --example embed_token -- --workspace W --qna-dataset D
//! cargo run --example embed_token -- --workspace W --report R1 --report R2 --dataset D1 --dataset D2 [--target-workspace W2]
//! ```
//!
//! `--username` (with `--role`s) puts an RLS identity in the token. Power BI needs the
//! dataset the identity applies to: `--identity-dataset`, or when it is left out, the dataset
//! the command already names (the report's, looked up; `--qna-dataset`; the Create or
//! multi-resource `--dataset`s). A paginated report (no dataset, or `--paginated`) gets the
//! identity on the report itself. A dashboard or tile has no single dataset, so there
//! `--identity-dataset` is required.
//!
//! The config carries the rights of its token: `--access-level edit` gives `permissions` 1
//! (ReadWrite; 7, All, with `--allow-save-as`) and `--view-mode edit` opens it in edit mode.
//! `--multi-resource` makes the one report's token through the multi-resource (V2)
//! `GenerateToken`. `--entra-token` prints a `tokenType: 0` (Aad) config carrying the Entra
//! token of the configured credential instead of an embed token: only a user's token (a master
//! user, `AZURE_USERNAME`) works in the page, and the page then acts with all of that user's
//! rights; with a service principal it prints a warning, since the page will refuse it.
//!
//! `--dataset` is the dataset a Create token builds on; with several `--report`s or a
//! `--target-workspace` the datasets join a multi-resource (V2) token, and the output is a JSON
//! array with one config per report. `--profile` makes every call as that service principal
//! profile. Credentials come from the `AZURE_*` variables; `POWERBI_API_URL` overrides the API
//! base (e.g. a loopback fake).
//!
//! With `REDIS_URL` set, replicas share the Entra token and the embed tokens through Redis,
//! sealed with the key in `POWERBI_CACHE_KEY` (base64 of 32 random bytes, the same everywhere;
//! `POWERBI_CACHE_PLAINTEXT=1` stores them unencrypted instead).

#[path = "support/mod.rs"]
mod support;

use powerbi_embed::{
    DatasetId, EffectiveIdentity, EmbedConfig, Error, GenerateTokenRequest, GenerateTokenRequestBuilder,
    GenerateTokenRequestV2, PowerBiView, ReportId, ReportType, TokenKind, ViewMode, WorkspaceHandle,
};
use support::{aad_from_env, acting_as, fail, fail_with, parse_id, powerbi_client, shared_cache_from_env, Args};

const FLAGS: &[&str] = &[
    "workspace",
    "report",
    "access-level",
    "dataset",
    "username",
    "role",
    "identity-dataset",
    "custom-data",
    "lifetime-minutes",
    "profile",
    "dashboard",
    "tile",
    "qna-dataset",
    "target-workspace",
    "view-mode",
];

/// What `--access-level` asks for.
#[derive(PartialEq, Eq)]
enum Access {
    View,
    Edit,
    Create,
}

#[tokio::main]
async fn main() {
    let args = Args::parse(FLAGS, &["allow-save-as", "multi-resource", "paginated", "entra-token"]);
    let workspace =
        parse_id(args.one("workspace").unwrap_or_else(|| fail("--workspace is required (the workspace id)")));
    let access = access_level(args.one("access-level"));
    let profile = args.one("profile").map(parse_id);
    let reports: Vec<ReportId> = args.all("report").into_iter().map(parse_id).collect();
    let shared = shared_cache_from_env().await;
    let client = powerbi_client(aad_from_env(shared.as_ref()), shared.as_ref());
    let client = if args.has("multi-resource") { via_v2(client, shared.as_ref()) } else { client };
    let powerbi = acting_as(&client, profile);
    let multi_resource = reports.len() > 1 || !args.all("target-workspace").is_empty();

    let output = if args.has("entra-token") {
        let report = reports.first().copied().unwrap_or_else(|| fail("--entra-token needs --report"));
        if std::env::var_os("AZURE_USERNAME").is_none() {
            eprintln!(
                "warning: --entra-token with a service principal: powerbi-client will refuse this token \
                 (an Aad config needs a user's token; embed with an embed token instead)"
            );
        }
        let config = powerbi.workspace(workspace).report(report).aad_config().send().await;
        serde_json::to_string_pretty(&config.unwrap_or_else(|e| fail_with(e)))
    } else if multi_resource {
        let configs =
            multi_resource_configs(powerbi, &args, workspace, &reports).await.unwrap_or_else(|e| fail_with(e));
        serde_json::to_string_pretty(&configs)
    } else {
        let workspace = powerbi.workspace(workspace);
        let config =
            single_config(workspace, &args, access, reports.first().copied()).await.unwrap_or_else(|e| fail_with(e));
        serde_json::to_string_pretty(&config)
    };
    println!("{}", output.expect("embed configs serialize"));
}

/// The same client settings, with report configs made through the multi-resource route.
fn via_v2(
    client: powerbi_embed::PowerBiClient,
    shared: Option<&powerbi_embed::SharedCache>,
) -> powerbi_embed::PowerBiClient {
    let mut builder = powerbi_embed::PowerBiClient::builder(client.aad().clone()).report_configs_via_v2(true);
    if let Some(api) = support::env("POWERBI_API_URL") {
        builder = builder.api_base(api);
    }
    if let Some(shared) = shared {
        builder = builder.shared_cache(shared.clone());
    }
    builder.build().unwrap_or_else(|e| fail(e))
}

fn view_mode(value: Option<&str>) -> Option<ViewMode> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("view") => Some(ViewMode::View),
        Some("edit") => Some(ViewMode::Edit),
        Some(other) => fail(format_args!("--view-mode must be view or edit, not {other:?}")),
    }
}

fn access_level(value: Option<&str>) -> Access {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("view") => Access::View,
        Some("edit") => Access::Edit,
        Some("create") => Access::Create,
        Some(other) => fail(format_args!("--access-level must be view, edit or create, not {other:?}")),
    }
}

async fn single_config(
    workspace: WorkspaceHandle<'_>,
    args: &Args,
    access: Access,
    report: Option<ReportId>,
) -> Result<EmbedConfig, Error> {
    if let Some(dashboard) = args.one("dashboard") {
        let dashboard = workspace.dashboard(parse_id(dashboard));
        return match args.one("tile") {
            Some(tile) => {
                let identity = identity(workspace, args, RlsScope::NoSingleDataset("tile")).await?;
                let request = common_options(GenerateTokenRequest::tile(), identity, args).build()?;
                dashboard.tile(parse_id(tile)).embed_config(&request).await
            }
            None => {
                let identity = identity(workspace, args, RlsScope::NoSingleDataset("dashboard")).await?;
                let request = common_options(GenerateTokenRequest::dashboard(), identity, args).build()?;
                dashboard.embed_config(&request).await
            }
        };
    }
    if let Some(dataset) = args.one("qna-dataset") {
        let dataset: DatasetId = parse_id(dataset);
        let identity = identity(workspace, args, RlsScope::Datasets(vec![dataset])).await?;
        let request = common_options(GenerateTokenRequest::qna(), identity, args).build()?;
        return workspace.dataset(dataset).qna_config(&request).await;
    }
    if access == Access::Create {
        let dataset: DatasetId =
            parse_id(args.one("dataset").unwrap_or_else(|| {
                fail("--access-level create needs --dataset (the dataset the new report builds on)")
            }));
        let identity = identity(workspace, args, RlsScope::Datasets(vec![dataset])).await?;
        let request = common_options(GenerateTokenRequest::report_creation(), identity, args).build()?;
        return workspace.dataset(dataset).create_report_config(&request).await;
    }
    let report = report.unwrap_or_else(|| fail("one of --report, --dashboard or --qna-dataset is required"));
    let builder =
        if access == Access::Edit { GenerateTokenRequest::report_edit() } else { GenerateTokenRequest::report_view() };
    let builder = if args.has("allow-save-as") { builder.allow_save_as(true) } else { builder };
    let builder = match view_mode(args.one("view-mode")) {
        Some(mode) => builder.view_mode(mode),
        None => builder,
    };
    let scope = if args.has("paginated") { RlsScope::Paginated(report) } else { RlsScope::Reports(vec![report]) };
    let identity = identity(workspace, args, scope).await?;
    let request = common_options(builder, identity, args).build()?;
    workspace.report(report).embed_config(&request).await
}

/// One V2 token for every `--report` and `--dataset`, then one config per report (looked up
/// concurrently with the token).
async fn multi_resource_configs(
    powerbi: PowerBiView<'_>,
    args: &Args,
    workspace_id: powerbi_embed::WorkspaceId,
    reports: &[ReportId],
) -> Result<Vec<EmbedConfig>, Error> {
    let workspace = powerbi.workspace(workspace_id);
    let datasets: Vec<DatasetId> = args.all("dataset").into_iter().map(parse_id).collect();
    let mut builder = GenerateTokenRequestV2::builder();
    for report in reports {
        builder = builder.report_in(workspace_id, *report);
    }
    for dataset in &datasets {
        builder = builder.dataset(*dataset);
    }
    for target in args.all("target-workspace") {
        builder = builder.target_workspace(parse_id(target));
    }
    let scope = if datasets.is_empty() { RlsScope::Reports(reports.to_vec()) } else { RlsScope::Datasets(datasets) };
    if let Some(identity) = identity(workspace, args, scope).await? {
        builder = builder.identity(identity);
    }
    if let Some(minutes) = lifetime(args) {
        builder = builder.lifetime_minutes(minutes);
    }
    powerbi.embed_configs(&builder.build()?).await
}

fn common_options<K: TokenKind>(
    mut builder: GenerateTokenRequestBuilder<K>,
    identity: Option<EffectiveIdentity>,
    args: &Args,
) -> GenerateTokenRequestBuilder<K> {
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    if let Some(minutes) = lifetime(args) {
        builder = builder.lifetime_minutes(minutes);
    }
    builder
}

/// What an RLS identity applies to when `--identity-dataset` is not given.
enum RlsScope {
    /// Datasets the command already names.
    Datasets(Vec<DatasetId>),
    /// Reports to look up: each one's dataset, or the report itself when it is paginated.
    Reports(Vec<ReportId>),
    /// An item with no single dataset behind it (a dashboard or a tile).
    NoSingleDataset(&'static str),
    /// A paginated report (`--paginated`): the identity applies to the report itself.
    Paginated(ReportId),
}

/// The `--username` identity, if any. Power BI refuses an identity that names no dataset
/// (and so does `build()`), so one is always filled in or the command stops, saying which flag
/// is missing, before any token is requested.
async fn identity(
    workspace: WorkspaceHandle<'_>,
    args: &Args,
    scope: RlsScope,
) -> Result<Option<EffectiveIdentity>, Error> {
    let username = args.one("username");
    let has_identity_options =
        !args.all("role").is_empty() || !args.all("identity-dataset").is_empty() || args.one("custom-data").is_some();
    let Some(username) = username else {
        if has_identity_options {
            fail("--role, --identity-dataset and --custom-data need --username (the RLS identity)");
        }
        return Ok(None);
    };
    let mut identity = EffectiveIdentity::new(username).roles(args.all("role"));
    let given = args.all("identity-dataset");
    if !given.is_empty() {
        identity = identity.datasets(given.into_iter().map(parse_id));
    } else {
        match scope {
            RlsScope::Datasets(datasets) => identity = identity.datasets(datasets),
            RlsScope::Reports(reports) => {
                for report_id in reports {
                    let report = workspace.report(report_id).get().await?;
                    identity = match (report.dataset_id, report.report_type) {
                        (Some(dataset), _) => identity.datasets([dataset]),
                        (None, Some(ReportType::Paginated)) => identity.reports([report.id]),
                        (None, _) => fail(format_args!(
                            "report {report_id} names no dataset; give --identity-dataset (the dataset the RLS rules are in)"
                        )),
                    };
                }
            }
            RlsScope::Paginated(report) => identity = identity.reports([report]),
            RlsScope::NoSingleDataset(item) => {
                fail(format_args!("--username on a {item} needs --identity-dataset (the dataset the RLS rules are in)"))
            }
        }
    }
    if let Some(custom_data) = args.one("custom-data") {
        identity = identity.custom_data(custom_data);
    }
    Ok(Some(identity))
}

fn lifetime(args: &Args) -> Option<i64> {
    args.one("lifetime-minutes").map(|m| {
        m.parse().unwrap_or_else(|_| fail(format_args!("--lifetime-minutes must be a whole number, not {m:?}")))
    })
}
