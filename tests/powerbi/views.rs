//! Views and handles (`docs/api.md`): per-call choices of profile, deadline and cache refresh,
//! each seen on the wire at a strict fake; what views share (one Entra token, one cache, one
//! pool); and what the types promise (handles are `Copy` and small, operation futures are
//! `Send`).

use std::sync::Arc;
use std::time::Duration;

use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::*;
use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{
    ClientSecretCredential, Clock, DashboardHandle, DatasetHandle, Error, GenerateTokenRequest, ManualClock,
    PowerBiClient, PowerBiView, ProfileId, RefreshPolicy, ReportHandle, TileHandle, TransportErrorKind,
    WorkspaceHandle,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

const CONTOSO: ProfileId = ProfileId::from_u128(0xa7c2b6e1_4c9d_4e53_9f3a_0d1e2f3a4b5c);
const FABRIKAM: ProfileId = ProfileId::from_u128(0x0b7e1c2d_3e4f_4a5b_8c6d_7e8f9a0b1c2d);
const PROFILE_HEADER: &str = "x-powerbi-profile-id";

struct Fakes {
    entra: SafeMockServer,
    powerbi: SafeMockServer,
    clock: ManualClock,
}

impl Fakes {
    /// Entra answers exactly one token: every view and profile shares it.
    async fn start() -> Self {
        let fakes = Self { entra: strict_server().await, powerbi: strict_server().await, clock: clock() };
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("entra", 3600)))
            .named("the one Entra token")
            .expect(1)
            .mount(&fakes.entra)
            .await;
        fakes
    }

    fn client(&self, cache: bool) -> PowerBiClient {
        let aad = aad_client(&self.entra, ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap(), &self.clock);
        let builder = PowerBiClient::builder(aad).api_base(self.powerbi.uri());
        let builder = if cache { builder.embed_token_cache(RefreshPolicy::default()) } else { builder };
        builder.build().unwrap()
    }

    /// Answers every GenerateToken on the report with a token named after the profile header
    /// and a counter, so each answer tells who asked and which answer it was.
    async fn mount_generate_token(&self, expected_calls: u64) {
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let clock = self.clock.clone();
        Mock::given(method("POST"))
            .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken")))
            .respond_with(move |request: &Request| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let who = request.headers.get(PROFILE_HEADER).map_or("sp", |h| h.to_str().unwrap()).to_owned();
                let expiration = (clock.now() + time::Duration::hours(1))
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap();
                ResponseTemplate::new(200).set_body_json(json!({
                    "token": format!("{who}#{n}"), "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80",
                    "expiration": expiration
                }))
            })
            .expect(expected_calls)
            .mount(&self.powerbi)
            .await;
    }
}

async fn token(view: PowerBiView<'_>) -> String {
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let token = view.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    token.secret().expose_secret().to_owned()
}

#[tokio::test]
async fn a_profile_is_sent_on_every_request_of_its_view_and_nowhere_else() {
    let fakes = Fakes::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}")))
        .and(header(PROFILE_HEADER, CONTOSO.to_string().as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": REPORT, "embedUrl": "https://app.powerbi.com/r"})),
        )
        .named("lookup as Contoso")
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    fakes.mount_generate_token(3).await;
    let client = fakes.client(false);
    let contoso = client.as_profile(CONTOSO);
    assert_eq!(contoso.profile(), Some(CONTOSO));
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let config = contoso.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    assert_eq!(config.token().secret().expose_secret(), &format!("{CONTOSO}#1"));
    // A view is a value: the client itself, and a view that drops the profile, send none.
    assert_eq!(token(client.view()).await, "sp#2");
    assert_eq!(token(contoso.as_service_principal()).await, "sp#3");
    assert_eq!(contoso.as_service_principal().profile(), None);
}

#[tokio::test]
async fn profiles_share_the_entra_token_but_never_an_embed_token() {
    let fakes = Fakes::start().await;
    fakes.mount_generate_token(3).await;
    let client = fakes.client(true);
    let (contoso, fabrikam) = (client.as_profile(CONTOSO), client.as_profile(FABRIKAM));
    assert_eq!(token(contoso).await, format!("{CONTOSO}#1"));
    assert_eq!(token(fabrikam).await, format!("{FABRIKAM}#2"));
    assert_eq!(token(client.view()).await, "sp#3");
    // Each is now cached under its own profile; the Entra fake's `.expect(1)` checks the one sign-in.
    assert_eq!(token(contoso).await, format!("{CONTOSO}#1"));
    assert_eq!(token(client.as_profile(FABRIKAM)).await, format!("{FABRIKAM}#2"));
    assert_eq!(token(client.view()).await, "sp#3");
}

#[tokio::test]
async fn refresh_cache_fetches_a_new_token_stores_it_and_concurrent_refreshes_share_one_request() {
    let fakes = Fakes::start().await;
    fakes.mount_generate_token(4).await;
    let client = fakes.client(true);
    assert_eq!(token(client.view()).await, "sp#1");
    assert_eq!(token(client.view()).await, "sp#1", "served from the cache");
    fakes.clock.advance(Duration::from_secs(1));
    assert_eq!(token(client.refresh_cache()).await, "sp#2", "the refresh fetched");
    assert_eq!(token(client.view()).await, "sp#2", "and replaced the cached token");

    fakes.clock.advance(Duration::from_secs(1));
    let (a, b) = tokio::join!(token(client.refresh_cache()), token(client.refresh_cache()));
    assert_eq!((a.as_str(), b.as_str()), ("sp#3", "sp#3"));
    assert_eq!(token(client.view()).await, "sp#3");
    // Per profile too: a refresh as Contoso leaves the service principal's token alone.
    assert_eq!(token(client.as_profile(CONTOSO).refresh_cache()).await, format!("{CONTOSO}#4"));
    assert_eq!(token(client.view()).await, "sp#3");
    assert_eq!(token(client.as_profile(CONTOSO)).await, format!("{CONTOSO}#4"));
}

#[tokio::test]
async fn a_views_deadline_replaces_the_call_timeout_for_its_calls_only() {
    // Power BI accepts the request and never answers; the client's call_timeout is 30 s.
    let fakes = Fakes::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = format!("http://{}/", listener.local_addr().unwrap());
    let (accepted, mut announced) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
            let _ = accepted.send(());
        }
    });
    let aad = aad_client(&fakes.entra, ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap(), &fakes.clock);
    let client = PowerBiClient::builder(aad).api_base(silent).build().unwrap();
    let call = {
        let client = client.clone();
        tokio::spawn(async move {
            let request = GenerateTokenRequest::report_view().build().unwrap();
            let view = client.deadline(Duration::from_secs(5));
            view.workspace(WORKSPACE).report(REPORT).embed_token(&request).await
        })
    };
    announced.recv().await.unwrap();
    fakes.clock.advance(Duration::from_secs(4));
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(!call.is_finished(), "ended before its 5 s");
    fakes.clock.advance(Duration::from_secs(1));
    let error = tokio::time::timeout(Duration::from_secs(20), call).await.expect("hung").unwrap().unwrap_err();
    let Error::Transport(transport) = &error else { panic!("{error:?}") };
    assert_eq!((transport.kind, transport.service), (TransportErrorKind::Deadline, "Power BI"));
    assert_eq!(
        error.to_string(),
        "Power BI call gave up at its deadline: not finished within 5 s (call_timeout, or the view's deadline)"
    );
}

/// What the types promise: every operation's future is `Send` (axum handlers, `tokio::spawn`),
/// handles and views are `Copy`, and small enough to pass by value for free.
#[test]
fn handles_are_copy_and_small_and_every_future_is_send() {
    fn send<T: Send>(_: &T) {}
    fn copy<T: Copy>() {}
    copy::<PowerBiView<'static>>();
    copy::<WorkspaceHandle<'static>>();
    copy::<ReportHandle<'static>>();
    copy::<DashboardHandle<'static>>();
    copy::<TileHandle<'static>>();
    copy::<DatasetHandle<'static>>();
    assert!(std::mem::size_of::<ReportHandle<'static>>() <= 128, "{}", std::mem::size_of::<ReportHandle<'static>>());
    assert!(std::mem::size_of::<TileHandle<'static>>() <= 128, "{}", std::mem::size_of::<TileHandle<'static>>());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let fakes = Fakes { entra: strict_server().await, powerbi: strict_server().await, clock: clock() };
        let client = fakes.client(true);
        let ws = client.as_profile(CONTOSO).workspace(WORKSPACE);
        let (report, dashboard, dataset) = (ws.report(REPORT), ws.dashboard(0.into_id()), ws.dataset(0.into_id()));
        let tile = dashboard.tile(0.into_id());
        let view = GenerateTokenRequest::report_view().build().unwrap();
        let (board, tile_request) =
            (GenerateTokenRequest::dashboard().build().unwrap(), GenerateTokenRequest::tile().build().unwrap());
        let (qna, create) =
            (GenerateTokenRequest::qna().build().unwrap(), GenerateTokenRequest::report_creation().build().unwrap());
        let v2 = powerbi_embed::GenerateTokenRequestV2::builder().report(REPORT).build().unwrap();
        // Made, checked, dropped unpolled: nothing is sent.
        send(&ws.get());
        send(&ws.list_reports());
        send(&ws.list_dashboards());
        send(&ws.list_datasets());
        send(&report.get());
        send(&report.embed_token(&view));
        send(&report.embed_config(&view));
        send(&dashboard.get());
        send(&dashboard.list_tiles());
        send(&dashboard.embed_token(&board));
        send(&dashboard.embed_config(&board));
        send(&tile.get());
        send(&tile.embed_token(&tile_request));
        send(&tile.embed_config(&tile_request));
        send(&dataset.get());
        send(&dataset.qna_token(&qna));
        send(&dataset.qna_config(&qna));
        send(&dataset.create_report_token(&create));
        send(&dataset.create_report_config(&create));
        send(&client.embed_token(&v2));
        send(&client.list_capacities());
        drop(fakes);
    });
}

/// `0.into_id()`: an id of any kind from a number, for the type checks above.
trait IntoId {
    fn into_id<T: From<powerbi_embed::Guid>>(self) -> T;
}

impl IntoId for u128 {
    fn into_id<T: From<powerbi_embed::Guid>>(self) -> T {
        T::from(powerbi_embed::Guid::from_u128(self))
    }
}

/// One `HttpOptions` value configures both clients: with retries off, a 503 from Entra and a 503
/// from Power BI are each asked exactly once.
#[tokio::test]
async fn one_set_of_http_options_configures_both_clients() {
    use powerbi_embed::{AadClient, HttpOptions, RetryPolicy};

    let http = HttpOptions::default()
        .http_client(powerbi_embed::reqwest::Client::new())
        .retry_policy(RetryPolicy::none())
        .call_timeout(Duration::from_secs(20));
    let clock = clock();

    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .expect(1)
        .mount(&entra)
        .await;
    let credential = ClientSecretCredential::new(TENANT, CLIENT, "secret").unwrap();
    let aad = AadClient::builder(credential)
        .authority_host(entra.uri())
        .clock(Arc::new(clock.clone()))
        .http_options(http.clone())
        .build()
        .unwrap();
    let error = aad.token().await.unwrap_err();
    assert_eq!(error.status(), Some(503), "{error:?}");

    let fakes = Fakes::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}")))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let aad = aad_client(&fakes.entra, ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap(), &fakes.clock);
    let client = PowerBiClient::builder(aad).api_base(fakes.powerbi.uri()).http_options(http).build().unwrap();
    let error = client.workspace(WORKSPACE).report(REPORT).get().await.unwrap_err();
    assert_eq!(error.status(), Some(503), "{error:?}");
    assert!(fakes.clock.sleeps().is_empty(), "no retry waits: {:?}", fakes.clock.sleeps());
}
