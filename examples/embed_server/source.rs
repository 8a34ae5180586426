//! Where embed configs come from: a `PowerBiClient` for one report, on the fake or on Azure.

use std::time::Duration;

use powerbi_embed::testing::FakeServices;
use powerbi_embed::{
    AadClient, ClientSecretCredential, CloudSettings, EmbedConfig, ForReport, GenerateTokenRequest,
    GenerateTokenRequestV2, PowerBiClient, ReportId, ViewMode, WorkspaceId,
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

/// Which embedding scenario a config is for (`/api/embed-config?scenario=...`; issue 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A View token (the default).
    View,
    /// An Edit token that may "Save as", opened in edit mode.
    Edit,
    /// The report's config from a multi-resource (V2) token.
    MultiResource,
    /// `tokenType: Aad` with the client's own Entra token. With the service principal this
    /// example signs in as, the real service refuses it (it needs a user's token); the browser
    /// test only checks what powerbi-client sends.
    Aad,
    /// A new report on the report's dataset (`type: "create"`).
    Create,
    /// One visual of the report (`type: "visual"`; the fake's page and visual names).
    Visual,
}

impl Scenario {
    /// From the `scenario` query parameter: absent is View, an unknown name is `None`.
    pub fn from_query(query: Option<&str>) -> Option<Self> {
        let value = query.into_iter().flat_map(|q| q.split('&')).find_map(|pair| pair.strip_prefix("scenario="));
        match value {
            None | Some("view") => Some(Scenario::View),
            Some("edit") => Some(Scenario::Edit),
            Some("v2") => Some(Scenario::MultiResource),
            Some("aad") => Some(Scenario::Aad),
            Some("create") => Some(Scenario::Create),
            Some("visual") => Some(Scenario::Visual),
            Some(_) => None,
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

    /// A fresh config for `scenario`: every call generates a new embed token. The page only
    /// asks when its token is close to expiry, so there is nothing worth caching for a single
    /// viewer.
    pub async fn embed_config_for(&self, scenario: Scenario) -> powerbi_embed::Result<EmbedConfig> {
        let report = self.client.workspace(self.workspace_id).report(self.report_id);
        match scenario {
            Scenario::View => report.embed_config(&self.request).await,
            Scenario::Edit => {
                let request =
                    GenerateTokenRequest::report_edit().allow_save_as(true).view_mode(ViewMode::Edit).build()?;
                report.embed_config(&request).await
            }
            Scenario::MultiResource => {
                let mut request = GenerateTokenRequestV2::builder().report_in(self.workspace_id, self.report_id);
                if let Some(dataset) = report.get().await?.dataset_id {
                    request = request.dataset(dataset);
                }
                let mut configs = self.client.embed_configs(&request.build()?).await?;
                Ok(configs.remove(0))
            }
            Scenario::Aad => report.aad_config().send().await,
            Scenario::Create => {
                // A report without a dataset (a paginated one) has nothing to build on: the
                // error of an empty dataset id, which names `dataset_id`.
                let dataset = match report.get().await?.dataset_id {
                    Some(dataset) => dataset,
                    None => "".parse::<powerbi_embed::DatasetId>()?,
                };
                let request = GenerateTokenRequest::report_creation().build()?;
                self.client.workspace(self.workspace_id).dataset(dataset).create_report_config(&request).await
            }
            Scenario::Visual => report.visual("ReportSection", "VisualContainer1").embed_config(&self.request).await,
        }
    }
}

fn view_request() -> GenerateTokenRequest<ForReport> {
    GenerateTokenRequest::report_view().build().expect("a plain View request is valid")
}
