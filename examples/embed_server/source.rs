//! Where embed configs come from: a `PowerBiClient` for one report, on the fake or on Azure.

use std::time::Duration;

use powerbi_embed::testing::FakeServices;
use powerbi_embed::{
    AadClient, ClientSecretCredential, CloudSettings, EmbedConfig, ForReport, GenerateTokenRequest, PowerBiClient,
    ReportId, WorkspaceId,
};

use crate::settings::AzureSettings;

/// Which services a source talks to; the page shows a note when it is the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Fake,
    Azure,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Fake => "fake",
            BackendKind::Azure => "azure",
        }
    }
}

#[derive(Debug)]
pub struct EmbedSource {
    client: PowerBiClient,
    workspace_id: WorkspaceId,
    report_id: ReportId,
    request: GenerateTokenRequest<ForReport>,
    kind: BackendKind,
    /// Keeps the fake's servers running as long as the source lives.
    _fake: Option<FakeServices>,
}

impl EmbedSource {
    /// A source on the crate's built-in fake, on loopback.
    pub async fn fake(embed_token_lifetime: Option<Duration>) -> Self {
        let mut builder = FakeServices::builder();
        if let Some(lifetime) = embed_token_lifetime {
            builder = builder.embed_token_lifetime(lifetime);
        }
        let fake = builder.start().await;
        Self {
            client: fake.powerbi_client(),
            workspace_id: fake.workspace_id(),
            report_id: fake.report_id(),
            request: view_request(),
            kind: BackendKind::Fake,
            _fake: Some(fake),
        }
    }

    /// A source on Entra ID and Power BI, as a service principal, in the cloud `POWERBI_CLOUD`
    /// and `AZURE_AUTHORITY_HOST` name (public by default), read as `AadClient::from_env` does.
    ///
    /// # Errors
    /// The crate's validation of the tenant, client id and secret, the workspace and report
    /// ids, and of `POWERBI_CLOUD` and `AZURE_AUTHORITY_HOST` (no network call yet).
    pub fn azure(settings: AzureSettings) -> powerbi_embed::Result<Self> {
        let credential = ClientSecretCredential::new(&settings.tenant_id, &settings.client_id, settings.client_secret)?;
        let aad = CloudSettings::from_env()?.apply(AadClient::builder(credential)).build()?;
        let client = PowerBiClient::new(aad)?;
        Ok(Self {
            client,
            workspace_id: settings.workspace_id.parse()?,
            report_id: settings.report_id.parse()?,
            request: view_request(),
            kind: BackendKind::Azure,
            _fake: None,
        })
    }

    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// A fresh config: every call generates a new embed token. The page only asks when its
    /// token is close to expiry, so there is nothing worth caching for a single viewer.
    pub async fn embed_config(&self) -> powerbi_embed::Result<EmbedConfig> {
        self.client.workspace(self.workspace_id).report(self.report_id).embed_config(&self.request).await
    }
}

fn view_request() -> GenerateTokenRequest<ForReport> {
    GenerateTokenRequest::report_view().build().expect("a plain View request is valid")
}
