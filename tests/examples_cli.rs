//! The example binaries' command-line contract, run as real processes against the built-in
//! fake: JSON on stdout, one actionable line on stderr and a non-zero exit on failure, never a
//! panic or a secret.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use powerbi_embed::testing::FakeServices;
use serde_json::{json, Value};
use support::redis_server::{free_port, RedisServer};

/// `POWERBI_CACHE_KEY` for the Redis cases: standard base64 of 32 bytes.
const CACHE_KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// `target/<profile>/examples/<name>`, next to this test's own `deps/` folder.
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir: PathBuf = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: cargo test builds the examples", path.display());
    let mut command = Command::new(path);
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// An id of the fake as the command line takes it. Leaked, so it can sit in the argument lists
/// the tests build: a test process makes a handful.
fn text(id: impl std::fmt::Display) -> &'static str {
    Box::leak(id.to_string().into_boxed_str())
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn fake_env(command: &mut Command, fake: &FakeServices) {
    command
        .env("AZURE_TENANT_ID", fake.tenant_id())
        .env("AZURE_CLIENT_ID", fake.client_id())
        .env("AZURE_CLIENT_SECRET", fake.client_secret())
        .env("AZURE_AUTHORITY_HOST", fake.authority_host())
        .env("POWERBI_API_URL", fake.api_base());
}

fn stdout_json(output: &Output) -> Value {
    assert!(output.status.success(), "exit {:?}, stderr: {}", output.status, String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// A failure: non-zero, exactly one line on stderr, no panic, nothing on stdout.
fn one_line_failure(output: &Output) -> String {
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert!(output.stdout.is_empty());
    stderr
}

fn assert_embed_config(config: &Value, kind: &str) {
    assert_eq!(config["type"], kind);
    assert_eq!(config["tokenType"], 1);
    assert!(config["accessToken"].as_str().unwrap().starts_with("fake-embed-"));
    assert!(config["embedUrl"].as_str().unwrap().starts_with("https://app.powerbi.com/"));
    assert_eq!(config["tokenId"].as_str().unwrap().len(), 36);
    time::OffsetDateTime::parse(config["expiration"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn quickstart_runs_on_the_built_in_fake_without_azure_settings() {
    let output = run(example("quickstart")).await;
    let config = stdout_json(&output);
    assert_embed_config(&config, "report");
    assert_eq!(config["id"], "5b218778-e7a5-4d73-8187-f10824047715");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("built-in fake") && stderr.contains("AZURE_TENANT_ID"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn quickstart_with_azure_settings_needs_the_workspace() {
    let fake = FakeServices::start().await;
    let mut command = example("quickstart");
    fake_env(&mut command, &fake);
    let stderr = one_line_failure(&run(command).await);
    assert!(stderr.contains("POWERBI_WORKSPACE_ID"), "{stderr}");

    let mut command = example("quickstart");
    fake_env(&mut command, &fake);
    command.env("POWERBI_WORKSPACE_ID", text(fake.workspace_id())).env("POWERBI_REPORT_ID", text(fake.report_id()));
    assert_embed_config(&stdout_json(&run(command).await), "report");
    assert_eq!(fake.generate_token_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_token_prints_the_token_json() {
    let fake = FakeServices::start().await;
    let mut command = example("access_token");
    fake_env(&mut command, &fake);
    let json = stdout_json(&run(command).await);
    assert_eq!(json["tokenType"], "Bearer");
    assert!(json["accessToken"].as_str().unwrap().starts_with("eyJ"), "the fake's Entra tokens are JWTs");
    time::OffsetDateTime::parse(json["expiresOn"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(json.as_object().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_token_names_what_is_missing_or_wrong() {
    let fake = FakeServices::start().await;
    let mut command = example("access_token");
    command.env("AZURE_TENANT_ID", fake.tenant_id());
    let stderr = one_line_failure(&run(command).await);
    assert!(stderr.contains("AZURE_CLIENT_ID"), "{stderr}");

    let mut command = example("access_token");
    fake_env(&mut command, &fake);
    command.env("AZURE_CLIENT_SECRET", "wrong-secret-value");
    let stderr = one_line_failure(&run(command).await);
    assert!(stderr.contains("AADSTS7000215") && stderr.contains("trace_id"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-value"));

    let mut command = example("access_token");
    fake_env(&mut command, &fake);
    command.env("AZURE_AUTHORITY_HOST", "http://login.example.com");
    let stderr = one_line_failure(&run(command).await);
    assert!(stderr.contains("authority") || stderr.contains("AZURE_AUTHORITY_HOST"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_examples_read_powerbi_cloud_and_azure_authority_host_together() {
    let fake = FakeServices::start().await;
    // The fake's loopback host with a national cloud: loopback is exempt from the cloud check,
    // and the token is asked for that cloud's scope (the fake answers any scope).
    let mut command = example("access_token");
    fake_env(&mut command, &fake);
    command.env("POWERBI_CLOUD", "usgovhigh");
    stdout_json(&run(command).await);
    let token_request = fake.requests().into_iter().find(|r| r.service == "entra").unwrap();
    assert!(
        token_request.body.contains("scope=https%3A%2F%2Fhigh.analysis.usgovcloudapi.net%2Fpowerbi%2Fapi%2F.default"),
        "{}",
        token_request.body
    );

    // A US Government sign-in host (bare, as the Azure SDKs accept it) without POWERBI_CLOUD.
    for name in ["access_token", "embed_token"] {
        let mut command = example(name);
        fake_env(&mut command, &fake);
        command.env("AZURE_AUTHORITY_HOST", "login.microsoftonline.us");
        command.args(if name == "embed_token" { vec!["--workspace", text(fake.workspace_id())] } else { vec![] });
        let stderr = one_line_failure(&run(command).await);
        assert!(
            stderr.contains("AZURE_AUTHORITY_HOST: login.microsoftonline.us is the US Government sign-in host")
                && stderr.contains("POWERBI_CLOUD is not set, so the cloud is public"),
            "{name}: {stderr}"
        );
    }
    assert_eq!(fake.token_request_count(), 1, "only the first run signed in");

    let mut command = example("access_token");
    fake_env(&mut command, &fake);
    command.env("POWERBI_CLOUD", "mars");
    let stderr = one_line_failure(&run(command).await);
    assert!(stderr.contains("POWERBI_CLOUD") && stderr.contains("mars"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn embed_token_covers_every_item_kind() {
    let fake = FakeServices::start().await;
    let (ws, report, dataset, dashboard, tile) = (
        text(fake.workspace_id()),
        text(fake.report_id()),
        text(fake.dataset_id()),
        text(fake.dashboard_id()),
        text(fake.tile_id()),
    );
    let create_body = format!(r#"{{"accessLevel":"Create","datasetId":"{dataset}"}}"#);
    let identity_body = format!(
        r#"{{"accessLevel":"View","identities":[{{"username":"u@contoso.com","roles":["R1","R2"],"datasets":["{dataset}"],"customData":"x"}}]}}"#
    );
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["--report", report], "report", r#"{"accessLevel":"View"}"#),
        (
            vec!["--report", report, "--access-level", "edit", "--allow-save-as", "--lifetime-minutes", "20"],
            "report",
            r#"{"accessLevel":"Edit","allowSaveAs":true,"lifetimeInMinutes":20}"#,
        ),
        (vec!["--access-level", "create", "--dataset", dataset], "create", &create_body),
        (
            vec![
                "--report",
                report,
                "--username",
                "u@contoso.com",
                "--role",
                "R1",
                "--role",
                "R2",
                "--identity-dataset",
                dataset,
                "--custom-data",
                "x",
            ],
            "report",
            &identity_body,
        ),
        (vec!["--dashboard", dashboard], "dashboard", r#"{"accessLevel":"View"}"#),
        (vec!["--dashboard", dashboard, "--tile", tile], "tile", r#"{"accessLevel":"View"}"#),
        (vec!["--qna-dataset", dataset], "qna", r#"{"accessLevel":"View"}"#),
    ];
    for (args, kind, body) in cases {
        let before = fake.generate_token_count();
        let mut command = example("embed_token");
        fake_env(&mut command, &fake);
        command.args(["--workspace", ws]).args(&args).arg("--profile").arg("a7c2b6e1-4c9d-4e53-9f3a-0d1e2f3a4b5c");
        let config = stdout_json(&run(command).await);
        assert_embed_config(&config, kind);
        assert_eq!(fake.generate_token_count(), before + 1, "{args:?}");
        let sent = fake.requests().into_iter().rfind(|r| r.path.ends_with("/GenerateToken")).unwrap();
        assert_eq!(sent.body, body, "{args:?}");
        assert_eq!(sent.header("x-powerbi-profile-id"), Some("a7c2b6e1-4c9d-4e53-9f3a-0d1e2f3a4b5c"));
    }
}

/// The body of the last GenerateToken request the fake saw.
fn last_generate_token_body(fake: &FakeServices) -> Value {
    let sent = fake.requests().into_iter().rfind(|r| r.path.ends_with("/GenerateToken")).unwrap();
    serde_json::from_str(&sent.body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn embed_token_username_without_identity_dataset_uses_the_dataset_the_command_names() {
    let fake = FakeServices::start().await;
    let (ws, report, dataset) = (text(fake.workspace_id()), text(fake.report_id()), text(fake.dataset_id()));
    let report_path = format!("/v1.0/myorg/groups/{ws}/reports/{report}");
    // A report: its dataset, looked up before the token is requested.
    let cases: Vec<Vec<&str>> = vec![
        vec!["--report", report, "--username", "u@contoso.com", "--role", "R1"],
        vec!["--qna-dataset", dataset, "--username", "u@contoso.com", "--role", "R1"],
        vec!["--access-level", "create", "--dataset", dataset, "--username", "u@contoso.com", "--role", "R1"],
    ];
    for args in cases {
        let before = fake.requests().len();
        let mut command = example("embed_token");
        fake_env(&mut command, &fake);
        command.args(["--workspace", ws]).args(&args);
        stdout_json(&run(command).await);
        assert_eq!(
            last_generate_token_body(&fake)["identities"],
            serde_json::json!([{"username": "u@contoso.com", "roles": ["R1"], "datasets": [dataset]}]),
            "{args:?}"
        );
        let report_lookups = fake.requests()[before..].iter().filter(|r| r.path == report_path).count();
        let expected_lookups = if args[0] == "--report" { 2 } else { 0 };
        assert_eq!(report_lookups, expected_lookups, "{args:?}: one lookup for the identity, one for the config");
    }

    // Several reports in one token: each report's dataset.
    let mut command = example("embed_token");
    fake_env(&mut command, &fake);
    command.args(["--workspace", ws, "--report", report, "--target-workspace", ws, "--username", "u@contoso.com"]);
    stdout_json(&run(command).await);
    assert_eq!(
        last_generate_token_body(&fake)["identities"],
        serde_json::json!([{"username": "u@contoso.com", "datasets": [dataset]}])
    );

    // A dashboard or tile has no single dataset: refused, naming the flag, before any token.
    let before = fake.generate_token_count();
    for args in [
        vec!["--dashboard", text(fake.dashboard_id()), "--username", "u@contoso.com"],
        vec!["--dashboard", text(fake.dashboard_id()), "--tile", text(fake.tile_id()), "--username", "u@contoso.com"],
    ] {
        let mut command = example("embed_token");
        fake_env(&mut command, &fake);
        command.args(["--workspace", ws]).args(&args);
        let stderr = one_line_failure(&run(command).await);
        assert!(stderr.contains("--identity-dataset"), "{args:?}: {stderr}");
    }
    assert_eq!(fake.generate_token_count(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn embed_token_multi_resource_prints_one_config_per_report() {
    let fake = FakeServices::start().await;
    let mut command = example("embed_token");
    fake_env(&mut command, &fake);
    command.args([
        "--workspace",
        text(fake.workspace_id()),
        "--report",
        text(fake.report_id()),
        "--dataset",
        text(fake.dataset_id()),
        "--target-workspace",
        text(fake.workspace_id()),
    ]);
    let configs = stdout_json(&run(command).await);
    let configs = configs.as_array().unwrap();
    assert_eq!(configs.len(), 1);
    assert_embed_config(&configs[0], "report");
    let sent = fake.requests().into_iter().find(|r| r.path == "/v1.0/myorg/GenerateToken").unwrap();
    let body: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(body["reports"][0]["id"], text(fake.report_id()));
    assert_eq!(body["datasets"][0]["id"], text(fake.dataset_id()));
    assert_eq!(body["targetWorkspaces"][0]["id"], text(fake.workspace_id()));
}

#[tokio::test(flavor = "multi_thread")]
async fn embed_token_rejects_bad_arguments_and_reports_service_errors() {
    let fake = FakeServices::start().await;
    let bad: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--report", text(fake.report_id())], "--workspace"),
        (
            vec![
                "--workspace",
                text(fake.workspace_id()),
                "--report",
                text(fake.report_id()),
                "--access-level",
                "admin",
            ],
            "--access-level",
        ),
        (vec!["--workspace", text(fake.workspace_id()), "--report", "not-a-guid"], "report_id"),
        (
            vec![
                "--workspace",
                text(fake.workspace_id()),
                "--report",
                text(fake.report_id()),
                "--lifetime-minutes",
                "0",
            ],
            "lifetimeInMinutes",
        ),
        (
            vec!["--workspace", text(fake.workspace_id()), "--report", text(fake.report_id()), "--role", "R"],
            "--username",
        ),
        (
            vec![
                "--workspace",
                text(fake.workspace_id()),
                "--report",
                text(fake.report_id()),
                "--username",
                "two words",
            ],
            "identities[0].username",
        ),
        (vec!["--workspace", text(fake.workspace_id()), "--access-level", "create"], "--dataset"),
        (vec!["--workspace", text(fake.workspace_id()), "--bogus"], "--bogus"),
        (vec!["--workspace", text(fake.workspace_id())], "--report"),
    ];
    for (args, expected) in bad {
        let mut command = example("embed_token");
        fake_env(&mut command, &fake);
        command.args(&args);
        let stderr = one_line_failure(&run(command).await);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(fake.generate_token_count(), 0, "bad arguments never reach the service");

    let mut command = example("embed_token");
    fake_env(&mut command, &fake);
    command.args(["--workspace", text(fake.workspace_id()), "--report", "00000000-0000-4000-8000-000000000404"]);
    let stderr = one_line_failure(&run(command).await);
    assert!(stderr.contains("PowerBIEntityNotFound") && stderr.contains("RequestId"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_url_without_a_usable_cache_key_is_refused_naming_powerbi_cache_key() {
    let fake = FakeServices::start().await;
    let nobody_listens = format!("redis://127.0.0.1:{}", free_port());
    let short_key = "c2l4dGVlbi1ieXRlLWtleQ=="; // 16 bytes
    let cases: Vec<(&str, Option<&str>, &str)> = vec![
        ("embed_token", None, "POWERBI_CACHE_PLAINTEXT=1"),
        ("access_token", None, "POWERBI_CACHE_PLAINTEXT=1"),
        ("embed_token", Some("not base64!"), "not standard base64"),
        ("embed_token", Some(short_key), "decodes to 16 bytes; it must be 32"),
    ];
    for (name, key, expected) in cases {
        let mut command = example(name);
        fake_env(&mut command, &fake);
        command.env("REDIS_URL", &nobody_listens);
        if let Some(key) = key {
            command.env("POWERBI_CACHE_KEY", key);
        }
        if name == "embed_token" {
            command.args(["--workspace", text(fake.workspace_id()), "--report", text(fake.report_id())]);
        }
        let stderr = one_line_failure(&run(command).await);
        assert!(stderr.contains("POWERBI_CACHE_KEY") && stderr.contains(expected), "{name} {key:?}: {stderr}");
        assert!(!stderr.contains(short_key), "the key is never echoed: {stderr}");
    }
    assert_eq!(fake.token_request_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_redis_is_one_warning_and_the_token_is_fetched_directly() {
    let fake = FakeServices::start().await;
    let mut command = example("embed_token");
    fake_env(&mut command, &fake);
    command
        .env("REDIS_URL", format!("redis://:pa55w0rd@127.0.0.1:{}", free_port()))
        .env("POWERBI_CACHE_KEY", CACHE_KEY_B64)
        .args(["--workspace", text(fake.workspace_id()), "--report", text(fake.report_id())]);
    let output = run(command).await;
    assert_embed_config(&stdout_json(&output), "report");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("warning: redis connect: ") && stderr.contains("without the shared cache"), "{stderr}");
    assert!(!stderr.contains("pa55w0rd"), "{stderr}");
    assert_eq!(fake.generate_token_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs redis-server"]
async fn two_embed_token_processes_share_one_entra_token_and_one_embed_token_through_redis() {
    let redis = RedisServer::start();
    let fake = FakeServices::start().await;
    let spawn = |name: &str| {
        let mut command = example(name);
        fake_env(&mut command, &fake);
        command.env("REDIS_URL", redis.url()).env("POWERBI_CACHE_KEY", CACHE_KEY_B64);
        if name == "embed_token" {
            command.args([
                "--workspace",
                text(fake.workspace_id()),
                "--report",
                text(fake.report_id()),
                "--username",
                "u@contoso.com",
            ]);
        }
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    };
    // Both started before either finishes: they meet at the lease, not only at the stored value.
    let (first, second) = (spawn("embed_token"), spawn("embed_token"));
    let outputs = tokio::task::spawn_blocking(move || [first.wait_with_output(), second.wait_with_output()])
        .await
        .unwrap()
        .map(Result::unwrap);
    let configs: Vec<Value> = outputs.iter().map(stdout_json).collect();
    assert_embed_config(&configs[0], "report");
    assert_eq!(configs[0]["accessToken"], configs[1]["accessToken"], "one embed token for both");
    assert_eq!(configs[0]["tokenId"], configs[1]["tokenId"]);
    assert_eq!(fake.token_request_count(), 1, "one Entra token for both");
    assert_eq!(fake.generate_token_count(), 1);

    // access_token finds the same Entra token in Redis.
    let json = stdout_json(&run_child(spawn("access_token")).await);
    assert!(json["accessToken"].as_str().unwrap().starts_with("eyJ"), "the fake's Entra tokens are JWTs");
    assert_eq!(fake.token_request_count(), 1, "served from Redis");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut redis.client()).unwrap();
    assert_eq!(keys.len(), 2, "one Entra entry, one embed entry: {keys:?}");
}

async fn run_child(child: std::process::Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// doctor

/// The doctor on its own built-in fake, with `POWERBI_FAKE_FAULT` set to `fault` when given.
async fn doctor(fault: Option<&str>, extra: &[(&str, &str)], json: bool) -> Output {
    let mut command = example("doctor");
    if let Some(fault) = fault {
        command.env("POWERBI_FAKE_FAULT", fault);
    }
    for (name, value) in extra {
        command.env(name, value);
    }
    if json {
        command.arg("--json");
    }
    run(command).await
}

/// The doctor's text report: every line, the one FAIL line and the fix under it.
struct DoctorReport {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

impl DoctorReport {
    fn of(output: &Output) -> Self {
        let report = Self {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code(),
        };
        assert!(!report.stderr.contains("panicked"), "{}", report.stderr);
        report
    }

    fn steps(&self, status: &str) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix(status))
            .filter_map(|rest| rest.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    /// The FAIL line, which must be the last step line, and the fix line after it.
    fn failure(&self) -> (&str, &str) {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let at =
            lines.iter().position(|l| l.starts_with("FAIL ")).unwrap_or_else(|| panic!("no FAIL: {}", self.stdout));
        assert!(
            lines[at + 1..].iter().all(|l| !l.starts_with("ok ") && !l.starts_with("FAIL ")),
            "stops at the first failure"
        );
        let fix = lines[at + 1].trim_start().strip_prefix("fix: ").unwrap_or_else(|| panic!("{}", self.stdout));
        (lines[at], fix)
    }
}

const ALL_STEPS: [&str; 9] = [
    "settings",
    "sign-in",
    "token-claims",
    "workspace",
    "capacity",
    "report",
    "dataset",
    "generate-token",
    "embed-config",
];

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_every_step_on_the_fake_and_says_it_used_the_fake() {
    let report = DoctorReport::of(&doctor(None, &[], false).await);
    assert_eq!(report.code, Some(0), "{}", report.stdout);
    assert_eq!(report.steps("ok   "), ALL_STEPS);
    assert!(report.steps("FAIL ").is_empty());
    assert!(
        report
            .stdout
            .contains("aud https://analysis.windows.net/powerbi/api, app 00000000-0000-4000-8000-0000000fa4e0"),
        "{}",
        report.stdout
    );
    assert!(report.stdout.contains("no row-level security"), "{}", report.stdout);
    assert!(
        report.stdout.contains(
            "ok   capacity        workspace is on capacity \"Fake embedded capacity\" (A1, West Central US), which is Active\n"
        ),
        "{}",
        report.stdout
    );
    assert!(report.stdout.ends_with("all checks passed: this setup can embed the report\n"), "{}", report.stdout);
    assert!(report.stderr.contains("built-in fake") && report.stderr.contains("without faults"), "{}", report.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_diagnoses_an_expired_client_secret() {
    let report = DoctorReport::of(&doctor(Some("expired-secret"), &[], false).await);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert!(line.starts_with("FAIL sign-in ") && line.ends_with("[AADSTS7000222]"), "{line}");
    assert_eq!(fix, "the client secret has expired: create a new one in the app registration");
    assert_eq!(report.steps("ok   "), ["settings"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_diagnoses_the_tenant_switch_off() {
    let report = DoctorReport::of(&doctor(Some("tenant-switch-off"), &[], false).await);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert_eq!(
        line,
        "FAIL workspace       Power BI answered HTTP 401 [ServicePrincipalIsNotAllowedByTenantAdminSwitch]"
    );
    assert_eq!(fix, "the tenant setting 'Service principals can use Fabric APIs' is off, or this service principal is not in the security group it allows");
    assert_eq!(report.steps("ok   "), ["settings", "sign-in", "token-claims"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_diagnoses_a_service_principal_that_is_not_a_member() {
    let report = DoctorReport::of(&doctor(Some("not-a-member"), &[], false).await);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert_eq!(line, "FAIL workspace       Power BI answered HTTP 401 [GroupNotAccessible]");
    assert_eq!(
        fix,
        "this identity is not a member of the workspace: add the service principal (or master user) as Member or Admin"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_sends_an_identity_when_the_dataset_needs_one() {
    let report = DoctorReport::of(&doctor(Some("rls-required"), &[], false).await);
    assert_eq!(report.code, Some(0), "{}", report.stdout);
    assert_eq!(report.steps("ok   "), ALL_STEPS);
    assert!(report.stdout.contains("row-level security: an effective identity is required"), "{}", report.stdout);
    assert!(
        report
            .stdout
            .contains("for doctor-placeholder@contoso.com (placeholder: set POWERBI_RLS_USERNAME) with role(s) []"),
        "{}",
        report.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_diagnoses_missing_rls_roles_and_passes_with_them() {
    let report = DoctorReport::of(&doctor(Some("rls-roles-required"), &[], false).await);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert_eq!(
        line,
        "FAIL generate-token  Power BI answered HTTP 400: Creating embed token for accessing dataset cfafbeb1-8037-4d0c-896e-a46fb27ff229 requires roles to be included in provided effective identity [InvalidRequest]"
    );
    assert_eq!(fix, "this dataset's row-level security needs roles: add the role names to the effective identity");

    let settings = [("POWERBI_RLS_USERNAME", "ana@contoso.com"), ("POWERBI_RLS_ROLES", "Sales, Europe")];
    let report = DoctorReport::of(&doctor(Some("rls-roles-required"), &settings, false).await);
    assert_eq!(report.code, Some(0), "{}", report.stdout);
    assert!(report.stdout.contains("for ana@contoso.com with role(s) [Sales, Europe]"), "{}", report.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_diagnoses_a_paused_capacity_at_the_capacity_step() {
    let report = DoctorReport::of(&doctor(Some("capacity-paused"), &[], false).await);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert_eq!(
        line,
        "FAIL capacity        workspace is on capacity \"Fake embedded capacity\" (A1, West Central US), which is Suspended, not Active [Suspended]"
    );
    assert_eq!(fix, "resume the capacity (Azure portal: the Power BI Embedded or Fabric capacity, Resume), or assign the workspace to an active capacity");
    assert_eq!(report.steps("ok   "), ["settings", "sign-in", "token-claims", "workspace"]);
    assert!(report.stdout.ends_with("stopped at capacity: fix that and run the doctor again\n"), "{}", report.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_diagnoses_a_workspace_on_shared_capacity() {
    let report = DoctorReport::of(&doctor(Some("no-capacity"), &[], false).await);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert_eq!(
        line,
        "FAIL capacity        workspace \"Fake embedding workspace\" is not on a dedicated capacity (it is on shared capacity) [isOnDedicatedCapacity]"
    );
    assert_eq!(fix, "embedding for your customers needs a dedicated capacity: assign the workspace to a capacity (A/EM/F SKU) in its settings (License info), or in the admin portal");
    assert_eq!(report.steps("ok   "), ["settings", "sign-in", "token-claims", "workspace"]);
}

/// The doctor against the fake given by `AZURE_*` / `POWERBI_*` settings, with the capacity
/// list answered by `answer` instead of the fake's own route.
async fn doctor_with_capacities_answer(answer: wiremock::ResponseTemplate) -> (DoctorReport, FakeServices) {
    let fake = FakeServices::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/v1.0/myorg/capacities"))
        .respond_with(answer)
        .with_priority(1)
        .expect(1)
        .mount(fake.powerbi_server())
        .await;
    let mut command = example("doctor");
    fake_env(&mut command, &fake);
    command.env("POWERBI_WORKSPACE_ID", text(fake.workspace_id())).env("POWERBI_REPORT_ID", text(fake.report_id()));
    (DoctorReport::of(&run(command).await), fake)
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_notes_a_capacity_list_it_may_not_read_and_goes_on() {
    let (report, fake) = doctor_with_capacities_answer(wiremock::ResponseTemplate::new(403)).await;
    assert_eq!(report.code, Some(0), "{}", report.stdout);
    assert_eq!(report.steps("ok   "), ALL_STEPS);
    assert!(
        report.stdout.contains(
            "ok   capacity        workspace is on capacity 0f084df7-c13d-451b-af5f-ed0c466403b2; capacity not readable (HTTP 403: this identity has no rights on capacities), so its state is not checked\n"
        ),
        "{}",
        report.stdout
    );
    assert_eq!(fake.generate_token_count(), 1, "the walk went on to GenerateToken");
    fake.powerbi_server().verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_notes_a_capacity_missing_from_the_visible_list_and_goes_on() {
    let answer = wiremock::ResponseTemplate::new(200).set_body_json(json!({"value": []}));
    let (report, fake) = doctor_with_capacities_answer(answer).await;
    assert_eq!(report.code, Some(0), "{}", report.stdout);
    assert_eq!(report.steps("ok   "), ALL_STEPS);
    assert!(
        report.stdout.contains(
            "ok   capacity        workspace is on capacity 0f084df7-c13d-451b-af5f-ed0c466403b2; capacity not readable (not among the capacities this identity can see), so its state is not checked\n"
        ),
        "{}",
        report.stdout
    );
    fake.powerbi_server().verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_diagnoses_a_token_for_the_wrong_audience() {
    let output = doctor(Some("wrong-audience"), &[], false).await;
    let report = DoctorReport::of(&output);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert_eq!(
        line,
        "FAIL token-claims    the token is for \"https://graph.microsoft.com\", not for Power BI (https://analysis.windows.net/powerbi/api) [aud]"
    );
    assert_eq!(fix, "request the token for the scope https://analysis.windows.net/powerbi/api/.default (the cloud's Power BI resource)");
    assert_eq!(report.steps("ok   "), ["settings", "sign-in"]);
    assert!(
        report.stdout.ends_with("stopped at token-claims: fix that and run the doctor again\n"),
        "{}",
        report.stdout
    );
    // Nothing secret: not the built-in fake's client secret (the default one), and no JWT
    // (whose base64url parts start `eyJ`, the encoding of `{"`).
    let printed = format!("{}{}", report.stdout, report.stderr);
    let defaults = FakeServices::start().await;
    assert!(!printed.contains(defaults.client_secret()), "{printed}");
    assert!(!printed.contains("eyJ"), "{printed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_refuses_an_unknown_fault_naming_the_setting() {
    let report = DoctorReport::of(&doctor(Some("gremlins"), &[], false).await);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert_eq!(
        line,
        "FAIL settings        POWERBI_FAKE_FAULT is \"gremlins\", not a fault the fake knows [POWERBI_FAKE_FAULT]"
    );
    assert_eq!(fix, "use one of: expired-secret, wrong-audience, tenant-switch-off, not-a-member, no-capacity, capacity-paused, rls-required, rls-roles-required");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_json_reports_each_step_and_the_failure() {
    let output = doctor(Some("not-a-member"), &[], true).await;
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["fake"], true);
    assert_eq!(report["fault"], "not-a-member");
    let steps = report["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["settings", "sign-in", "token-claims", "workspace"]);
    for step in &steps[..3] {
        assert_eq!(
            (&step["status"], &step["code"], &step["fix"]),
            (&json!("ok"), &Value::Null, &Value::Null),
            "{step}"
        );
    }
    let failed = &steps[3];
    assert_eq!(failed["status"], "fail");
    assert_eq!(failed["code"], "GroupNotAccessible");
    assert_eq!(failed["detail"], "Power BI answered HTTP 401");
    assert!(failed["fix"].as_str().unwrap().starts_with("this identity is not a member of the workspace"));
    assert_eq!(failed["request_id"].as_str().map(str::len), Some(36), "the RequestId to quote");
    assert_eq!(failed.as_object().unwrap().len(), 6, "{failed}");

    let output = doctor(None, &[], true).await;
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((&report["ok"], &report["fault"]), (&json!(true), &Value::Null));
    assert_eq!(report["steps"].as_array().unwrap().len(), ALL_STEPS.len());
}

/// Against a setup given by the `AZURE_*` / `POWERBI_*` settings (here the fake, started by the
/// test so it knows every token it issued): no secret, Entra token or embed token is printed.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_prints_no_secret_and_no_token() {
    let fake = FakeServices::start().await;
    let mut outputs = Vec::new();
    for json in [false, true] {
        let mut command = example("doctor");
        fake_env(&mut command, &fake);
        command.env("POWERBI_WORKSPACE_ID", text(fake.workspace_id())).env("POWERBI_REPORT_ID", text(fake.report_id()));
        if json {
            command.arg("--json");
        }
        let output = run(command).await;
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
        outputs.push(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)));
    }
    let bearers: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::to_owned))
        .collect();
    assert!(!bearers.is_empty());
    for output in &outputs {
        assert!(output.contains("client secret of app"), "{output}");
        assert!(!output.contains(fake.client_secret()), "{output}");
        assert!(!output.contains("fake-embed-"), "no embed token: {output}");
        for bearer in &bearers {
            assert!(!output.contains(bearer.as_str()), "no Entra token: {output}");
            for part in bearer.split('.') {
                assert!(!output.contains(part), "no part of the Entra token: {output}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_with_azure_settings_needs_the_report_to_try() {
    let fake = FakeServices::start().await;
    let mut command = example("doctor");
    fake_env(&mut command, &fake);
    command.env("POWERBI_WORKSPACE_ID", text(fake.workspace_id()));
    let report = DoctorReport::of(&run(command).await);
    assert_eq!(report.code, Some(1));
    let (line, fix) = report.failure();
    assert_eq!(line, "FAIL settings        POWERBI_REPORT_ID is not set [POWERBI_REPORT_ID]");
    assert_eq!(fix, "set POWERBI_REPORT_ID to the id of the report to embed");
    assert_eq!(fake.token_request_count(), 0, "nothing is sent before the settings are complete");
}

// ---- tenant (issue 19) ----------------------------------------------------------------------

/// `tenant onboard` twice (the second run finds everything), the onboarded report embedded with
/// `embed_token --profile`, `tenant list`, then `tenant offboard` twice, all on one fake.
#[tokio::test]
async fn tenant_onboards_lists_and_offboards_a_customer() {
    let fake = FakeServices::start().await;
    let dir = std::env::temp_dir().join(format!("tenant-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pbix = dir.join("sales.pbix");
    std::fs::write(&pbix, b"PK\x03\x04 fake pbix").unwrap();
    let capacity = "0f084df7-c13d-451b-af5f-ed0c466403b2";
    let onboard = || {
        let mut command = example("tenant");
        fake_env(&mut command, &fake);
        command.args(["onboard", "--name", "Contoso", "--key", "customer-42", "--capacity", capacity, "--pbix"]);
        command.arg(&pbix).args(["--param", "Server=sql.contoso.com", "--poll-ms", "1"]);
        command
    };
    let first = stdout_json(&run(onboard()).await);
    let workspaces = fake.tenant_workspaces();
    assert_eq!(workspaces.len(), 1);
    let ws = &workspaces[0];
    let (report, dataset) = (ws.reports[0].0, ws.reports[0].2);
    assert_eq!(
        first,
        json!({"key": "customer-42", "profile": fake.profiles()[0].id.to_string(), "workspace": ws.id.to_string(),
               "report": report.to_string(), "dataset": dataset.to_string()})
    );
    assert_eq!(ws.reports[0].1, "sales", "named after the file");
    assert_eq!(ws.datasets[0].2, vec![("Server".to_owned(), "sql.contoso.com".to_owned())]);
    assert_eq!(stdout_json(&run(onboard()).await), first, "a second run finds what the first made");
    assert_eq!((fake.profiles().len(), fake.tenant_workspaces().len()), (1, 1));

    let mut embed = example("embed_token");
    fake_env(&mut embed, &fake);
    let (profile, workspace) = (first["profile"].as_str().unwrap(), first["workspace"].as_str().unwrap());
    embed.args(["--profile", profile, "--workspace", workspace, "--report", first["report"].as_str().unwrap()]);
    let config = stdout_json(&run(embed).await);
    assert_embed_config(&config, "report");
    let generate = fake.requests().into_iter().rfind(|r| r.path.ends_with("/GenerateToken")).unwrap();
    assert_eq!(generate.header("x-powerbi-profile-id"), Some(profile));

    let mut list = example("tenant");
    fake_env(&mut list, &fake);
    list.arg("list");
    assert_eq!(
        stdout_json(&run(list).await),
        json!([{"key": "customer-42", "profile": profile, "workspaces": [{"id": workspace, "name": "Contoso"}]}])
    );

    for expected in [json!({"profile": profile, "workspaces": [workspace]}), json!({"profile": null, "workspaces": []})]
    {
        let mut offboard = example("tenant");
        fake_env(&mut offboard, &fake);
        offboard.args(["offboard", "--key", "customer-42"]);
        assert_eq!(stdout_json(&run(offboard).await), expected);
    }
    assert!(fake.profiles().is_empty() && fake.tenant_workspaces().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn tenant_runs_on_the_built_in_fake_and_refuses_bad_input_in_one_line() {
    let output = run({
        let mut command = example("tenant");
        command.args(["onboard", "--name", "Contoso"]);
        command
    })
    .await;
    let done = stdout_json(&output);
    assert_eq!((done["key"].as_str(), done["report"].is_null()), (Some("Contoso"), true));
    assert!(String::from_utf8_lossy(&output.stderr).contains("built-in fake"));

    let fake = FakeServices::start().await;
    let cases: &[(&[&str], &str)] = &[
        (&["bogus"], "unknown command"),
        (&["onboard"], "--name is required"),
        (&["onboard", "--name", ""], "invalid name"),
        (&["onboard", "--name", "C", "--param", "novalue"], "--param takes NAME=VALUE"),
        (&["onboard", "--name", "C", "--pbix", "/nonexistent/x.pbix"], "invalid pbix"),
        (&["onboard", "--name", "C", "--capacity", "not-a-guid"], "capacity_id"),
        (&["offboard"], "--name or --key is required"),
    ];
    for (args, expected) in cases {
        let mut command = example("tenant");
        fake_env(&mut command, &fake);
        command.args(*args);
        let stderr = one_line_failure(&run(command).await);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// Issue 17's flags: an Edit config with its rights and view mode, one report through V2, a
/// paginated report's identity (a name with a space), and an Aad config, each with `--profile`.
#[tokio::test(flavor = "multi_thread")]
async fn embed_token_scenario_flags() {
    let fake = FakeServices::start().await;
    let (ws, report, dataset) = (text(fake.workspace_id()), text(fake.report_id()), text(fake.dataset_id()));
    let profile = "a7c2b6e1-4c9d-4e53-9f3a-0d1e2f3a4b5c";
    let command = |args: &[&str]| {
        let mut command = example("embed_token");
        fake_env(&mut command, &fake);
        command.args(["--workspace", ws, "--report", report, "--profile", profile]).args(args);
        command
    };

    let edit = command(&["--access-level", "edit", "--allow-save-as", "--view-mode", "edit"]);
    let config = stdout_json(&run(edit).await);
    assert_embed_config(&config, "report");
    assert_eq!((&config["permissions"], &config["viewMode"]), (&json!(7), &json!(1)));
    assert_eq!(last_generate_token_body(&fake), json!({"accessLevel": "Edit", "allowSaveAs": true}));

    let config = stdout_json(&run(command(&["--multi-resource"])).await);
    assert_embed_config(&config, "report");
    assert_eq!(config["permissions"], 0);
    let sent = fake.requests().into_iter().rfind(|r| r.path.ends_with("/GenerateToken")).unwrap();
    assert_eq!(sent.path, "/v1.0/myorg/GenerateToken");
    assert_eq!(sent.body, format!(r#"{{"datasets":[{{"id":"{dataset}"}}],"reports":[{{"id":"{report}"}}]}}"#));
    assert_eq!(sent.header("x-powerbi-profile-id"), Some(profile));

    let config = stdout_json(&run(command(&["--paginated", "--username", "John Smith"])).await);
    assert_embed_config(&config, "report");
    assert_eq!(
        last_generate_token_body(&fake),
        json!({"accessLevel": "View", "identities": [{"username": "John Smith", "reports": [report]}]})
    );

    let before = fake.generate_token_count();
    let output = run(command(&["--entra-token"])).await;
    let config = stdout_json(&output);
    assert_eq!((&config["type"], &config["tokenType"]), (&json!("report"), &json!(0)));
    assert!(config.get("tokenId").is_none(), "{config}");
    let entra = config["accessToken"].as_str().unwrap();
    assert!(!entra.is_empty() && !entra.starts_with("fake-embed-"), "the Entra token, not an embed token");
    assert_eq!(fake.generate_token_count(), before, "an Aad config needs no GenerateToken");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning") && stderr.contains("service principal"), "{stderr}");
    assert!(!stderr.contains(entra) && !stderr.contains(fake.client_secret()), "{stderr}");
}
