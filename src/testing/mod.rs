//! An in-process fake of Entra ID and Power BI, on loopback, for your own tests and for trials
//! without an Azure account (feature `testing`).
//!
//! [`FakeServices::start`] starts two HTTP servers: an Entra token endpoint that issues tokens
//! for the configured client secret, master user or client assertion and answers anything else
//! with Entra's real error bodies, and the Power BI endpoints (lookups and every
//! `GenerateToken` operation) that check the bearer token and answer like the service, error
//! shape and `RequestId` header included. Point an [`AadClient`] / [`PowerBiClient`] at it,
//! or take ready ones from [`FakeServices::aad_client`] and [`FakeServices::powerbi_client`].
//!
//! A downstream test of a backend's embed handler:
//!
//! ```
//! use powerbi_embed::testing::FakeServices;
//! use powerbi_embed::GenerateTokenRequest;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let fake = FakeServices::start().await;
//! let powerbi = fake.powerbi_client();
//!
//! // The code under test would do this:
//! let request = GenerateTokenRequest::report_view().build().unwrap();
//! let report = powerbi.workspace(fake.workspace_id()).report(fake.report_id());
//! let config = report.embed_config(&request).await.unwrap();
//!
//! assert_eq!(config.id(), Some(fake.report_id().into()));
//! assert_eq!(fake.generate_token_count(), 1);
//! let sent = fake.requests();
//! assert!(sent.iter().any(|r| r.path.ends_with("/GenerateToken") && r.body.contains("\"accessLevel\":\"View\"")));
//! # });
//! ```

mod entra;
mod fault;
mod powerbi;
mod server;
mod state;
mod tenancy;

use std::sync::Arc;
use std::time::Duration;

use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer};

use crate::auth::{AadClient, ClientSecretCredential};
use crate::ids::{DashboardId, DatasetId, ReportId, TileId, WorkspaceId};
use crate::powerbi::PowerBiClient;
pub use fault::FakeFault;
pub use server::SafeMockServer;
use state::FakeState;
pub use state::{FakeItems, RecordedRequest};
pub use tenancy::{FakeDataset, FakeProfile, FakeWorkspace};

/// A running fake of both services. The servers stop when it is dropped, and dropping it is
/// safe from any task (see [`SafeMockServer`]).
#[derive(Debug)]
pub struct FakeServices {
    entra: SafeMockServer,
    powerbi: SafeMockServer,
    state: Arc<FakeState>,
}

/// Configures [`FakeServices`].
#[derive(Debug, Clone)]
#[must_use = "call .start().await"]
pub struct FakeServicesBuilder {
    config: state::FakeConfig,
}

impl FakeServices {
    /// Starts the fake with the default tenant, app, secret, workspace and items.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A builder, to change credentials, token lifetimes or items.
    pub fn builder() -> FakeServicesBuilder {
        FakeServicesBuilder { config: state::FakeConfig::default() }
    }

    /// The Entra authority host to give [`AadClientBuilder::authority_host`](crate::AadClientBuilder::authority_host).
    pub fn authority_host(&self) -> String {
        self.entra.uri()
    }

    /// The Power BI API base to give [`PowerBiClientBuilder::api_base`](crate::PowerBiClientBuilder::api_base).
    pub fn api_base(&self) -> String {
        self.powerbi.uri()
    }

    /// The tenant the fake Entra knows.
    pub fn tenant_id(&self) -> &str {
        &self.state.config.tenant_id
    }

    /// The app (client) id the fake Entra knows.
    pub fn client_id(&self) -> &str {
        &self.state.config.client_id
    }

    /// The client secret it accepts (a test value, not a secret).
    pub fn client_secret(&self) -> &str {
        &self.state.config.client_secret
    }

    /// The workspace holding the fake items.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.state.config.items.workspace_id
    }

    /// The fake report.
    pub fn report_id(&self) -> ReportId {
        self.state.config.items.report_id
    }

    /// The fake report's dataset.
    pub fn dataset_id(&self) -> DatasetId {
        self.state.config.items.dataset_id
    }

    /// The fake dashboard.
    pub fn dashboard_id(&self) -> DashboardId {
        self.state.config.items.dashboard_id
    }

    /// The fake dashboard's tile.
    pub fn tile_id(&self) -> TileId {
        self.state.config.items.tile_id
    }

    /// An [`AadClient`] signed in as the fake's service principal.
    pub fn aad_client(&self) -> AadClient {
        let credential = ClientSecretCredential::new(self.tenant_id(), self.client_id(), self.client_secret())
            .expect("the fake's own settings are valid");
        AadClient::builder(credential).authority_host(self.authority_host()).build().expect("loopback URLs are valid")
    }

    /// A [`PowerBiClient`] over [`aad_client`](Self::aad_client), pointed at the fake.
    pub fn powerbi_client(&self) -> PowerBiClient {
        PowerBiClient::builder(self.aad_client()).api_base(self.api_base()).build().expect("loopback URLs are valid")
    }

    /// Every request both fakes received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// How many token requests Entra answered (successes and errors).
    pub fn token_request_count(&self) -> usize {
        self.state.requests().iter().filter(|r| r.service == "entra").count()
    }

    /// How many `GenerateToken` calls Power BI received.
    pub fn generate_token_count(&self) -> usize {
        self.state.requests().iter().filter(|r| r.path.ends_with("/GenerateToken")).count()
    }

    /// The profiles made through the fake (issue 19), in the order they were made.
    pub fn profiles(&self) -> Vec<FakeProfile> {
        self.state.tenancy.profiles()
    }

    /// The workspaces made through the fake's `POST groups`, with their members, capacity,
    /// reports, datasets and parameters.
    pub fn tenant_workspaces(&self) -> Vec<FakeWorkspace> {
        self.state.tenancy.workspaces()
    }

    /// The bodies of the credential updates (`PATCH gateways/{g}/datasources/{d}`) received,
    /// with their gateway and data source (these hold the test's credentials as sent).
    pub fn credential_updates(&self) -> Vec<(crate::GatewayId, crate::DatasourceId, serde_json::Value)> {
        self.state.tenancy.credentials()
    }

    /// The next request with this method whose path ends with `path_suffix` is answered with
    /// `status` and a `{"error": {"code": "FakeInjectedFault", ..}}` body, once: to test what
    /// your code does when one step of a sequence fails (a crash between steps).
    pub fn fail_next(&self, method: &str, path_suffix: &str, status: u16) {
        self.state.tenancy.fail_next(method, path_suffix, status);
    }

    /// The next `times` imports are refused with 429 `ImportThrottlerCode` and
    /// `Retry-After: 1`, as the live service throttles imports.
    pub fn throttle_imports(&self, times: u32) {
        self.state.tenancy.throttle_imports(times);
    }

    /// The Entra server, to mount extra wiremock behaviour (faults) on it.
    pub fn entra_server(&self) -> &MockServer {
        &self.entra
    }

    /// The Power BI server, to mount extra wiremock behaviour (faults) on it.
    pub fn powerbi_server(&self) -> &MockServer {
        &self.powerbi
    }
}

impl FakeServicesBuilder {
    /// The client secret the fake Entra accepts.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.client_secret = secret.into();
        self
    }

    /// Accepts this master user (username and password grants, then refresh tokens).
    pub fn user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.user = Some((username.into(), password.into()));
        self
    }

    /// Accepts client assertions: a JWT whose `iss` and `sub` are the client id and whose `aud`
    /// is the token endpoint (the signature is not checked), or exactly `assertion` if given.
    pub fn accept_assertions(mut self, exact: Option<String>) -> Self {
        self.config.assertions = Some(exact);
        self
    }

    /// How long issued Entra tokens live (default 1 hour).
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.access_token_lifetime = lifetime;
        self
    }

    /// The longest embed token the fake issues (default 1 hour); shorter if the request's
    /// `lifetimeInMinutes` or the Entra token's remaining life is shorter, as in the service.
    pub fn embed_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.embed_token_lifetime = lifetime;
        self
    }

    /// Makes the fake have a setup fault, answering as the live service does (see
    /// [`FakeFault`]).
    pub fn fault(mut self, fault: FakeFault) -> Self {
        self.config.fault = Some(fault);
        self
    }

    /// Replaces the fake items (ids must be GUIDs).
    pub fn items(mut self, items: FakeItems) -> Self {
        self.config.items = items;
        self
    }

    /// Starts both servers on loopback.
    pub async fn start(self) -> FakeServices {
        let state = Arc::new(FakeState::new(self.config));
        let entra = SafeMockServer::start().await;
        let powerbi = SafeMockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/[^/]+/oauth2/(v2\.0/)?token$"))
            .respond_with(entra::TokenEndpoint::new(state.clone(), entra.uri()))
            .mount(&entra)
            .await;
        Mock::given(path_regex(r"^/v1\.0/myorg/.*$"))
            .respond_with(powerbi::PowerBiApi::new(state.clone()))
            .mount(&powerbi)
            .await;
        state.tenancy.set_base(powerbi.uri());
        FakeServices { entra, powerbi, state }
    }
}
