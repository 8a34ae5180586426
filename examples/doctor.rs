//! Walks the embedding chain step by step and says where it breaks and what to do about it:
//! sign-in (which credential, which cloud), the token's claims that matter, workspace access,
//! the workspace's capacity (dedicated? running, where the capacity list is readable?), the
//! report and its dataset (row-level security?), a `GenerateToken` for the report (with an
//! identity when the dataset needs one), and the embed config.
//!
//! ```text
//! cargo run --example doctor            # one line per step: ok / FAIL, the service's code, the fix
//! cargo run --example doctor -- --json  # the same as one JSON document on stdout
//! ```
//!
//! Settings are those of the other examples: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and a
//! credential (`AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`, `AZURE_USERNAME` and
//! `AZURE_PASSWORD`, or `AZURE_FEDERATED_TOKEN_FILE`), `AZURE_AUTHORITY_HOST`, `POWERBI_CLOUD`,
//! `POWERBI_API_URL`, `POWERBI_PROFILE_ID`, and `POWERBI_WORKSPACE_ID` / `POWERBI_REPORT_ID`
//! for the report to try. When the dataset uses row-level security, the token is requested
//! for `POWERBI_RLS_USERNAME` with the roles in `POWERBI_RLS_ROLES` (comma-separated), or for a
//! placeholder user when they are not set.
//!
//! With no `AZURE_TENANT_ID` it runs against the crate's built-in fake (and says so on stderr);
//! `POWERBI_FAKE_FAULT=<name>` makes the fake misbehave as a broken setup does:
//! `expired-secret`, `wrong-audience`, `tenant-switch-off`, `not-a-member`, `no-capacity`,
//! `capacity-paused`, `rls-required`, `rls-roles-required`.
//!
//! It stops at the first failure and exits 1; 0 when every step passed. It never prints a
//! secret: tokens are read (their claims decoded locally), never shown.

#[path = "support/mod.rs"]
mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use powerbi_embed::testing::{FakeFault, FakeServices};
use powerbi_embed::{
    AadClient, AccessToken, CapacityState, Cloud, CloudSettings, EffectiveIdentity, EmbedConfig, EnvironmentCredential,
    Error, GenerateTokenRequest, PowerBiClient,
};
use powerbi_embed::{PowerBiView, ProfileId, ReportId, WorkspaceId};
use serde_json::{json, Value};
use support::{env, Args};
use time::OffsetDateTime;

/// The user an RLS identity names when `POWERBI_RLS_USERNAME` is not set.
const PLACEHOLDER_USER: &str = "doctor-placeholder@contoso.com";

/// Power BI's application id: the audience of tokens requested through the v2 endpoint by id.
const POWERBI_APP_ID: &str = "00000009-0000-0000-c000-000000000000";

/// One step's outcome.
struct Step {
    name: &'static str,
    ok: bool,
    detail: String,
    code: Option<String>,
    fix: Option<String>,
    request_id: Option<String>,
}

impl Step {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, ok: true, detail: detail.into(), code: None, fix: None, request_id: None }
    }

    fn fail(name: &'static str, detail: impl Into<String>, code: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            ok: false,
            detail: detail.into(),
            code: Some(code.into()),
            fix: Some(fix.into()),
            request_id: None,
        }
    }

    /// A failed step from the crate's error: the service's own code, its ids, and the hint.
    fn from_error(name: &'static str, error: &Error) -> Self {
        let fix = error.hint().map(str::to_owned);
        let mut step = match error {
            Error::PowerBi(e) => {
                let code = e
                    .error_info
                    .clone()
                    .or_else(|| e.code.clone())
                    .or_else(|| e.challenge_error().map(str::to_owned))
                    .unwrap_or_else(|| format!("HTTP {}", e.status));
                let mut detail = format!("Power BI answered HTTP {}", e.status);
                if let Some(message) = e.message.as_deref().or(e.details.first().map(|d| d.message.as_str())) {
                    detail.push_str(": ");
                    detail.push_str(message.lines().next().unwrap_or_default());
                }
                let mut step = Step::fail(name, detail, code, "");
                step.request_id = e.request_id.clone();
                step
            }
            Error::Entra(e) => {
                let code = e.error_codes.first().map_or_else(|| e.error.clone(), |code| format!("AADSTS{code}"));
                let mut detail = format!("Entra ID refused the sign-in (HTTP {}, {})", e.status, e.error);
                if let Some(line) = e.error_description.as_deref().and_then(|d| d.lines().next()) {
                    detail.push_str(": ");
                    detail.push_str(line);
                }
                let mut step = Step::fail(name, detail, code, "");
                step.request_id = e.trace_id.clone();
                step
            }
            Error::InvalidInput { field, reason } => Step::fail(name, format!("{field}: {reason}"), field.clone(), ""),
            other => Step::fail(name, other.to_string(), kind_of(other), ""),
        };
        step.fix = Some(fix.unwrap_or_else(|| default_fix(error)));
        step
    }

    fn to_json(&self) -> Value {
        json!({
            "step": self.name,
            "status": if self.ok { "ok" } else { "fail" },
            "detail": self.detail,
            "code": self.code,
            "fix": self.fix,
            "request_id": self.request_id,
        })
    }

    fn print(&self) {
        let status = if self.ok { "ok  " } else { "FAIL" };
        match &self.code {
            Some(code) => println!("{status} {:<15} {} [{code}]", self.name, self.detail),
            None => println!("{status} {:<15} {}", self.name, self.detail),
        }
        if let Some(fix) = &self.fix {
            println!("     {:<15} fix: {fix}", "");
        }
        if let Some(id) = &self.request_id {
            println!("     {:<15} id to quote to Microsoft support: {id}", "");
        }
    }
}

fn kind_of(error: &Error) -> String {
    match error {
        Error::Transport(_) => "transport".into(),
        Error::UnexpectedResponse(e) => format!("HTTP {}", e.status),
        _ => "error".into(),
    }
}

fn default_fix(error: &Error) -> String {
    match error {
        Error::Transport(_) => "check the network path to the service (proxy, firewall, DNS) and try again".into(),
        Error::InvalidInput { field, .. } => format!("correct {field}"),
        _ => "see the detail; quote the id to Microsoft support".into(),
    }
}

/// What the walk needs: clients and the report to try.
struct Setup {
    aad: AadClient,
    client: PowerBiClient,
    cloud: Cloud,
    workspace: WorkspaceId,
    report: ReportId,
    profile: Option<ProfileId>,
}

impl Setup {
    /// The client, acting as the profile when one is set.
    fn powerbi(&self) -> PowerBiView<'_> {
        match self.profile {
            Some(profile) => self.client.as_profile(profile),
            None => self.client.view(),
        }
    }
}

struct Doctor {
    steps: Vec<Step>,
    json: bool,
}

impl Doctor {
    /// Records a step; `false` when it failed (the walk stops there).
    fn record(&mut self, step: Step) -> bool {
        if !self.json {
            step.print();
        }
        let ok = step.ok;
        self.steps.push(step);
        ok
    }

    fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.ok)
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse(&[], &["json"]);
    let mut doctor = Doctor { steps: Vec::new(), json: args.has("json") };
    let fault = env("POWERBI_FAKE_FAULT");
    let on_fake = env("AZURE_TENANT_ID").is_none();
    // Held until the end: dropping it stops the fake servers.
    let mut fake_services = None;
    let setup = if on_fake {
        match fake_setup(fault.as_deref()).await {
            Ok((setup, fake, detail)) => {
                fake_services = Some(fake);
                doctor.record(Step::ok("settings", detail));
                Some(setup)
            }
            Err(step) => {
                doctor.record(step);
                None
            }
        }
    } else {
        if fault.is_some() {
            eprintln!(
                "warning: POWERBI_FAKE_FAULT applies to the built-in fake only; ignored with AZURE_TENANT_ID set"
            );
        }
        match real_setup() {
            Ok((setup, detail)) => {
                doctor.record(Step::ok("settings", detail));
                Some(setup)
            }
            Err(step) => {
                doctor.record(step);
                None
            }
        }
    };
    if let Some(setup) = setup {
        walk(&mut doctor, &setup).await;
    }
    let passed = doctor.passed();
    if doctor.json {
        let report = json!({
            "ok": passed,
            "fake": on_fake,
            "fault": if on_fake { fault.clone() } else { None },
            "steps": doctor.steps.iter().map(Step::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("the report serializes"));
    } else if passed {
        println!("all checks passed: this setup can embed the report");
    } else if let Some(failed) = doctor.steps.iter().find(|s| !s.ok) {
        println!("stopped at {}: fix that and run the doctor again", failed.name);
    }
    drop(fake_services);
    std::process::exit(if passed { 0 } else { 1 });
}

/// The built-in fake, with the fault `POWERBI_FAKE_FAULT` names.
async fn fake_setup(fault: Option<&str>) -> Result<(Setup, FakeServices, String), Step> {
    let mut builder = FakeServices::builder();
    if let Some(name) = fault {
        let Some(fault) = FakeFault::from_name(name) else {
            let names: Vec<&str> = FakeFault::ALL.iter().map(|f| f.name()).collect();
            return Err(Step::fail(
                "settings",
                format!("POWERBI_FAKE_FAULT is {name:?}, not a fault the fake knows"),
                "POWERBI_FAKE_FAULT",
                format!("use one of: {}", names.join(", ")),
            ));
        };
        builder = builder.fault(fault);
    }
    let fake = builder.start().await;
    eprintln!(
        "note: no AZURE_TENANT_ID set, so the doctor examines the built-in fake of Entra ID and Power BI ({}); \
         set the AZURE_* and POWERBI_* variables to examine a real setup",
        match fault {
            Some(name) => format!("with the fault {name}"),
            None => "without faults".to_owned(),
        }
    );
    let aad = fake.aad_client();
    let client = PowerBiClient::builder(aad.clone())
        .api_base(fake.api_base())
        .build()
        .map_err(|e| Step::from_error("settings", &e))?;
    let detail = format!(
        "client secret of app {} in tenant {} (built-in fake), cloud {}, signs in at {}",
        fake.client_id(),
        fake.tenant_id(),
        aad.cloud().name(),
        fake.authority_host()
    );
    let setup = Setup {
        cloud: aad.cloud().clone(),
        aad,
        client,
        workspace: fake.workspace_id(),
        report: fake.report_id(),
        profile: None,
    };
    Ok((setup, fake, detail))
}

/// The `AZURE_*` / `POWERBI_*` settings, checked before any request.
fn real_setup() -> Result<(Setup, String), Step> {
    let settings_failed = |e: Error| Step::from_error("settings", &e);
    let credential = EnvironmentCredential::from_env().map_err(settings_failed)?;
    let kind = credential.kind();
    let cloud_settings = CloudSettings::from_env().map_err(settings_failed)?;
    let missing = |name: &str, what: &str| {
        Step::fail("settings", format!("{name} is not set"), name, format!("set {name} to {what}"))
    };
    let workspace: WorkspaceId = env("POWERBI_WORKSPACE_ID")
        .ok_or_else(|| missing("POWERBI_WORKSPACE_ID", "the workspace (group) id holding the report"))?
        .parse()
        .map_err(settings_failed)?;
    let report: ReportId = env("POWERBI_REPORT_ID")
        .ok_or_else(|| missing("POWERBI_REPORT_ID", "the id of the report to embed"))?
        .parse()
        .map_err(settings_failed)?;
    let profile = env("POWERBI_PROFILE_ID").map(|p| p.parse::<ProfileId>()).transpose().map_err(settings_failed)?;
    let aad = cloud_settings.apply(AadClient::builder(credential)).build().map_err(settings_failed)?;
    let mut builder = PowerBiClient::builder(aad.clone());
    if let Some(api) = env("POWERBI_API_URL") {
        builder = builder.api_base(api);
    }
    let client = builder.build().map_err(settings_failed)?;
    let detail = format!(
        "{kind} of app {} in tenant {}, cloud {}, signs in at {}",
        env("AZURE_CLIENT_ID").unwrap_or_default(),
        env("AZURE_TENANT_ID").unwrap_or_default(),
        cloud_settings.cloud().name(),
        cloud_settings.authority_host()
    );
    Ok((Setup { cloud: cloud_settings.cloud().clone(), aad, client, workspace, report, profile }, detail))
}

async fn walk(doctor: &mut Doctor, setup: &Setup) {
    // Sign-in.
    let token = match setup.aad.token().await {
        Ok(token) => token,
        Err(e) => {
            doctor.record(Step::from_error("sign-in", &e));
            return;
        }
    };
    if !doctor.record(Step::ok("sign-in", format!("got an Entra token for {}", setup.cloud.scope()))) {
        return;
    }
    if !doctor.record(claims_step(&token, &setup.cloud)) {
        return;
    }

    // Workspace access.
    let reports = match setup.powerbi().workspace(setup.workspace).list_reports().await {
        Ok(reports) => reports,
        Err(e) => {
            doctor.record(Step::from_error("workspace", &e));
            return;
        }
    };
    doctor.record(Step::ok(
        "workspace",
        format!("workspace {} is readable ({} report(s))", setup.workspace, reports.len()),
    ));
    if !doctor.record(capacity_step(setup).await) {
        return;
    }

    // The report and its dataset.
    let report = match setup.powerbi().workspace(setup.workspace).report(setup.report).get().await {
        Ok(report) => report,
        Err(e) => {
            doctor.record(Step::from_error("report", &e));
            return;
        }
    };
    doctor.record(Step::ok(
        "report",
        format!(
            "report {} {:?}, dataset {}",
            report.id,
            report.name,
            report.dataset_id.map_or_else(|| "none (paginated?)".to_owned(), |d| d.to_string())
        ),
    ));
    let mut rls = (false, false);
    if let Some(dataset_id) = &report.dataset_id {
        match setup.powerbi().workspace(setup.workspace).dataset(*dataset_id).get().await {
            Ok(dataset) => {
                rls = (
                    dataset.is_effective_identity_required.unwrap_or(false),
                    dataset.is_effective_identity_roles_required.unwrap_or(false),
                );
                let detail = match rls {
                    (false, _) => "no row-level security: the token is requested without an identity".to_owned(),
                    (true, false) => "row-level security: an effective identity is required".to_owned(),
                    (true, true) => "row-level security: an effective identity with roles is required".to_owned(),
                };
                doctor.record(Step::ok("dataset", format!("dataset {dataset_id}: {detail}")));
            }
            Err(e) => {
                doctor.record(Step::from_error("dataset", &e));
                return;
            }
        }
    }

    // GenerateToken, with an identity when the dataset needs one.
    let mut builder = GenerateTokenRequest::report_view();
    let mut identity_note = String::new();
    if let (true, Some(dataset_id)) = (rls.0, &report.dataset_id) {
        let (username, placeholder) = match env("POWERBI_RLS_USERNAME") {
            Some(user) => (user, false),
            None => (PLACEHOLDER_USER.to_owned(), true),
        };
        let roles: Vec<String> = env("POWERBI_RLS_ROLES")
            .map(|r| r.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        identity_note = format!(
            ", for {}{} with role(s) [{}]",
            username,
            if placeholder { " (placeholder: set POWERBI_RLS_USERNAME)" } else { "" },
            roles.join(", ")
        );
        builder = builder.identity(EffectiveIdentity::new(username).datasets([*dataset_id]).roles(roles));
    }
    let request = match builder.build() {
        Ok(request) => request,
        Err(e) => {
            doctor.record(Step::from_error("generate-token", &e));
            return;
        }
    };
    let embed_token = match setup.powerbi().workspace(setup.workspace).report(setup.report).embed_token(&request).await
    {
        Ok(token) => token,
        Err(e) => {
            doctor.record(Step::from_error("generate-token", &e));
            return;
        }
    };
    doctor.record(Step::ok(
        "generate-token",
        format!(
            "embed token {} valid for {} min{identity_note}",
            embed_token.token_id(),
            (embed_token.expiration() - OffsetDateTime::now_utc()).whole_minutes()
        ),
    ));

    // The embed config powerbi-client gets.
    let config = EmbedConfig::report(report.id, report.embed_url.clone(), embed_token);
    let embed_url = url::Url::parse(config.embed_url()).ok();
    let step = match embed_url {
        Some(url) if url.scheme() == "https" => Step::ok(
            "embed-config",
            format!("type {}, embedUrl {}, tokenType Embed", config.kind().as_str(), config.embed_url()),
        ),
        _ => Step::fail(
            "embed-config",
            format!("the report's embedUrl {:?} is not an https URL", config.embed_url()),
            "embedUrl",
            "powerbi-client embeds only https URLs on a Power BI host: check POWERBI_API_URL and the cloud",
        ),
    };
    doctor.record(step);
}

/// Whether the workspace is on a dedicated capacity and, where this identity can read the
/// capacity list, whether that capacity is running. A capacity the identity cannot read (the
/// list is refused, or does not show it) is a note, not a failure: embedding needs no rights on
/// the capacity itself.
async fn capacity_step(setup: &Setup) -> Step {
    const NAME: &str = "capacity";
    let workspace = match setup.powerbi().workspace(setup.workspace).get().await {
        Ok(workspace) => workspace,
        Err(e) => return Step::from_error(NAME, &e),
    };
    let capacity_id = match (&workspace.is_on_dedicated_capacity, &workspace.capacity_id) {
        (Some(true), Some(id)) => *id,
        _ => {
            return Step::fail(
                NAME,
                format!("workspace {:?} is not on a dedicated capacity (it is on shared capacity)", workspace.name),
                "isOnDedicatedCapacity",
                "embedding for your customers needs a dedicated capacity: assign the workspace to a capacity \
                 (A/EM/F SKU) in its settings (License info), or in the admin portal",
            )
        }
    };
    let capacities = match setup.powerbi().list_capacities().await {
        Ok(capacities) => capacities,
        Err(Error::PowerBi(e)) if matches!(e.status, 401 | 403) => {
            return Step::ok(
                NAME,
                format!(
                    "workspace is on capacity {capacity_id}; capacity not readable (HTTP {}: this identity has no \
                     rights on capacities), so its state is not checked",
                    e.status
                ),
            )
        }
        Err(e) => return Step::from_error(NAME, &e),
    };
    let Some(capacity) = capacities.iter().find(|c| c.id == capacity_id) else {
        return Step::ok(
            NAME,
            format!(
                "workspace is on capacity {capacity_id}; capacity not readable (not among the capacities this \
                 identity can see), so its state is not checked"
            ),
        );
    };
    let described = format!(
        "capacity {:?} ({}, {})",
        capacity.display_name,
        capacity.sku.as_deref().unwrap_or("SKU ?"),
        capacity.region.as_deref().unwrap_or("region ?")
    );
    if capacity.state == CapacityState::Active {
        return Step::ok(NAME, format!("workspace is on {described}, which is Active"));
    }
    let state = format!("{:?}", capacity.state);
    Step::fail(
        NAME,
        format!("workspace is on {described}, which is {state}, not Active"),
        state,
        "resume the capacity (Azure portal: the Power BI Embedded or Fabric capacity, Resume), or assign the \
         workspace to an active capacity",
    )
}

/// The claims that matter, decoded here from the token's payload; the token is never shown.
fn claims_step(token: &AccessToken, cloud: &Cloud) -> Step {
    const NAME: &str = "token-claims";
    let Some(claims) = jwt_claims(token.secret().expose_secret()) else {
        return Step::ok(NAME, "the token is not a JWT, so its claims cannot be read here (nothing to check)");
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let list = |name: &str| match claims.get(name) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    };
    let audience = text("aud").unwrap_or_default();
    let app = text("appid").or_else(|| text("azp")).unwrap_or_else(|| "?".into());
    let (roles, scopes) = (list("roles"), list("scp"));
    let permissions = match (roles.is_empty(), scopes.is_empty()) {
        (true, true) => "no roles or scopes (an app: Power BI authorizes it by workspace membership)".to_owned(),
        (false, _) => format!("roles {roles}"),
        (true, false) => format!("scopes {scopes}"),
    };
    let expires = claims.get("exp").and_then(Value::as_i64).and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
    let resource = cloud.scope().trim_end_matches("/.default").to_owned();
    let audience_ok = audience.trim_end_matches('/').eq_ignore_ascii_case(resource.trim_end_matches('/'))
        || audience.eq_ignore_ascii_case(POWERBI_APP_ID);
    if !audience_ok {
        return Step::fail(
            NAME,
            format!("the token is for {audience:?}, not for Power BI ({resource})"),
            "aud",
            format!("request the token for the scope {} (the cloud's Power BI resource)", cloud.scope()),
        );
    }
    let now = OffsetDateTime::now_utc();
    let minutes = expires.map(|at| (at - now).whole_minutes());
    if minutes.is_some_and(|m| m <= 0) {
        return Step::fail(
            NAME,
            "the token Entra just issued has already expired by this machine's clock",
            "exp",
            "set this machine's clock right (NTP)",
        );
    }
    Step::ok(
        NAME,
        format!(
            "aud {audience}, app {app}, tenant {}, {permissions}, expires in {} min",
            text("tid").unwrap_or_else(|| "?".into()),
            minutes.map_or_else(|| "?".to_owned(), |m| m.to_string())
        ),
    )
}

/// The payload of a compact JWT, decoded without checking the signature (Power BI checks it).
fn jwt_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}
