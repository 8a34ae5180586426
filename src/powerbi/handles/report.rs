//! [`ReportHandle`]: a report, its embed token and its embed config.

use std::sync::Arc;

use crate::auth::AccessToken;
use crate::error::{Error, Result};
use crate::ids::{DatasetId, Guid, ReportId};
use crate::powerbi::call::non_empty_url;
use crate::powerbi::embed_config::{EmbedConfig, Permissions, TokenType};
use crate::powerbi::handles::WorkspaceHandle;
use crate::powerbi::models::{EmbedToken, Report, ReportType};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::{AccessLevel, ForReport, GenerateTokenRequest};

/// A report in a workspace, from [`WorkspaceHandle::report`].
#[derive(Debug, Clone, Copy)]
pub struct ReportHandle<'a> {
    workspace: WorkspaceHandle<'a>,
    id: ReportId,
}

impl<'a> ReportHandle<'a> {
    pub(crate) fn new(workspace: WorkspaceHandle<'a>, id: ReportId) -> Self {
        Self { workspace, id }
    }

    /// The report id.
    pub fn id(self) -> ReportId {
        self.id
    }

    /// The workspace it is in.
    pub fn workspace(self) -> WorkspaceHandle<'a> {
        self.workspace
    }

    /// The report (`GET .../reports/{reportId}`), always fresh from the service.
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`].
    pub async fn get(self) -> Result<Report> {
        self.workspace.view().get_json(self.workspace.path(&format!("/reports/{}", self.id)), "report").await
    }

    /// An embed token for this report (View or Edit, as the request was built), from the
    /// embed-token cache when it is on and holds one. A request with
    /// [`identity_if_required`](crate::GenerateTokenRequestBuilder::identity_if_required) first
    /// looks up the report and its dataset.
    ///
    /// # Errors
    /// [`Error::PowerBi`](crate::Error::PowerBi), [`Error::Entra`](crate::Error::Entra),
    /// [`Error::Transport`](crate::Error::Transport) or
    /// [`Error::UnexpectedResponse`](crate::Error::UnexpectedResponse) from the services. An
    /// Entra failure is an error only when the cached Entra token cannot give an embed token of
    /// at least [`EMBED_TOKEN_FLOOR`](crate::PowerBiClient::EMBED_TOKEN_FLOOR); above it, the
    /// embed token comes out shorter than asked instead. With `identity_if_required`,
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming `identities[0].roles` when the
    /// dataset requires roles and the identity has none.
    pub async fn embed_token(self, request: &GenerateTokenRequest<ForReport>) -> Result<EmbedToken> {
        let operation = Operation::Report { workspace: self.workspace.id(), report: self.id };
        match &request.page().identity_if_required {
            None => self.workspace.view().generate(operation, request.body(), request.lifetime_minutes()).await,
            Some(_) => {
                let report = self.workspace.view().lookup_report(self.workspace.id(), self.id).await?;
                self.generate_for(operation, request, report.dataset_id).await
            }
        }
    }

    /// Everything the browser needs to embed this report: looks up its `embedUrl` (through the
    /// lookup cache when it is on) and generates the token, concurrently. The config carries
    /// the rights of the token (`permissions`) and the request's `viewMode`; a paginated report
    /// gets neither (it is read-only). With
    /// [`report_configs_via_v2`](crate::PowerBiClientBuilder::report_configs_via_v2) the token
    /// comes from the multi-resource `GenerateToken`, after the lookup.
    ///
    /// # Errors
    /// As [`embed_token`](Self::embed_token), plus
    /// [`Error::UnexpectedResponse`](crate::Error::UnexpectedResponse) if the report has no
    /// `embedUrl`.
    pub async fn embed_config(self, request: &GenerateTokenRequest<ForReport>) -> Result<EmbedConfig> {
        let (report, token) = self.report_and_token(request).await?;
        let config = EmbedConfig::report(report.id, non_empty_url(report.embed_url.clone(), "report")?, token);
        Ok(with_rights(config, request, report.report_type.as_ref()))
    }

    /// A config for one visual of a report page (`type: "visual"`): `page` is the page's name
    /// and `visual` the visual's name (as `powerbi-client`'s `page.getVisuals()` lists them, not
    /// their titles). The token is the report's, as for [`embed_config`](Self::embed_config).
    pub fn visual(self, page: impl Into<String>, visual: impl Into<String>) -> VisualHandle<'a> {
        VisualHandle { report: self, page: page.into(), visual: visual.into() }
    }

    /// A config for "embed for your organization" (`tokenType: Aad`): the report's `embedUrl`
    /// and a Microsoft Entra access token instead of an embed token. See [`AadConfigBuilder`].
    pub fn aad_config(self) -> AadConfigBuilder<'a> {
        AadConfigBuilder { report: self, token: None }
    }

    /// The report (looked up) and a token for it, concurrently when nothing about the token
    /// depends on the report.
    async fn report_and_token(self, request: &GenerateTokenRequest<ForReport>) -> Result<(Arc<Report>, EmbedToken)> {
        let view = self.workspace.view();
        let workspace = self.workspace.id();
        let via_v2 = view.inner.report_configs_via_v2;
        if !via_v2 && request.page().identity_if_required.is_none() {
            // A page load's usual case: the report is at hand, only the token is awaited (joining
            // two futures costs more than the rest of a warm config).
            if let Some(report) = view.cached_report(workspace, self.id) {
                return Ok((report, self.embed_token(request).await?));
            }
            return tokio::try_join!(view.lookup_report(workspace, self.id), self.embed_token(request));
        }
        let report = view.lookup_report(workspace, self.id).await?;
        let operation = if via_v2 {
            let edit = request.access_level() == AccessLevel::Edit;
            Operation::ReportViaV2 { workspace, report: self.id, dataset: report.dataset_id, edit }
        } else {
            Operation::Report { workspace, report: self.id }
        };
        let token = self.generate_for(operation, request, report.dataset_id).await?;
        Ok((report, token))
    }

    /// Generates for `operation`, adding the conditional identity when the report's dataset
    /// requires one.
    async fn generate_for(
        self,
        operation: Operation,
        request: &GenerateTokenRequest<ForReport>,
        dataset: Option<DatasetId>,
    ) -> Result<EmbedToken> {
        let view = self.workspace.view();
        let lifetime = request.lifetime_minutes();
        let Some(identity) = &request.page().identity_if_required else {
            return view.generate(operation, request.body(), lifetime).await;
        };
        let Some(dataset) = dataset else {
            // No dataset, no row-level security to satisfy.
            return view.generate(operation, request.body(), lifetime).await;
        };
        let model = view.lookup_dataset(self.workspace.id(), dataset).await?;
        if model.is_effective_identity_required != Some(true) {
            return view.generate(operation, request.body(), lifetime).await;
        }
        if model.is_effective_identity_roles_required == Some(true) && !identity.has_roles() {
            return Err(Error::invalid(
                "identities[0].roles",
                format!("dataset {dataset} requires RLS roles (isEffectiveIdentityRolesRequired); give the identity at least one"),
            ));
        }
        let identity =
            if identity.has_target() { (**identity).clone() } else { (**identity).clone().datasets([dataset]) };
        let body = request.body_with_identity(&identity)?;
        view.generate(operation, &body, lifetime).await
    }
}

/// The rights of the token and the request's view mode on a report config; none for a
/// paginated report, which only reads.
fn with_rights(
    config: EmbedConfig,
    request: &GenerateTokenRequest<ForReport>,
    kind: Option<&ReportType>,
) -> EmbedConfig {
    if kind == Some(&ReportType::Paginated) {
        return config;
    }
    let edit = request.access_level() == AccessLevel::Edit;
    let page = request.page();
    config
        .with_permissions(Permissions::for_report(edit, page.allow_save_as))
        .with_view_mode(page.view_mode.unwrap_or_default())
}

/// One visual of a report page, from [`ReportHandle::visual`].
#[derive(Debug, Clone)]
pub struct VisualHandle<'a> {
    report: ReportHandle<'a>,
    page: String,
    visual: String,
}

impl VisualHandle<'_> {
    /// The config to embed this visual alone: the report's `embedUrl` and token (as
    /// [`ReportHandle::embed_config`]), with `type: "visual"`, `pageName` and `visualName`.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_config`].
    pub async fn embed_config(self, request: &GenerateTokenRequest<ForReport>) -> Result<EmbedConfig> {
        let (report, token) = self.report.report_and_token(request).await?;
        let url = non_empty_url(report.embed_url.clone(), "report")?;
        let config = EmbedConfig::visual(report.id, self.page, self.visual, url, token);
        Ok(with_rights(config, request, report.report_type.as_ref()))
    }
}

/// Builds a `tokenType: Aad` config ("embed for your organization"), from
/// [`ReportHandle::aad_config`].
///
/// The page signs in to Power BI **as the user whose Entra token it is given**, so this works
/// only for a user with a Power BI licence and access to the report: a master user, a user
/// signed in with the device code flow, or a user token your app obtained for the Power BI
/// scope (on-behalf-of), passed with [`token`](Self::token). Without `token`, the client's own
/// Entra token is used, which suits a master-user client only:
///
/// - **a service principal's token does not work this way**: `powerbi-client` loads the
///   report with it and the service refuses it; a service principal embeds with embed tokens
///   ([`ReportHandle::embed_config`]);
/// - **handing a master user's token to many browsers shares that user's rights** with every
///   one of them, for everything the token can reach (not just this report), until it expires.
///   Use it for internal pages of people who could sign in as that user anyway, or not at all.
///
/// The token is written into the config's JSON (that is its purpose); `Debug` redacts it.
#[derive(Debug)]
#[must_use = "call .send().await"]
pub struct AadConfigBuilder<'a> {
    report: ReportHandle<'a>,
    token: Option<AccessToken>,
}

impl AadConfigBuilder<'_> {
    /// The user's Entra access token for Power BI (scope
    /// `https://analysis.windows.net/powerbi/api/.default`), instead of the client's own.
    pub fn token(mut self, token: AccessToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Looks up the report's `embedUrl` (through the lookup cache when it is on) and gets the
    /// client's Entra token if none was given, concurrently.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_config`].
    pub async fn send(self) -> Result<EmbedConfig> {
        let report = self.report;
        let view = report.workspace.view();
        let lookup = view.lookup_report(report.workspace.id(), report.id);
        let (found, token) = match self.token {
            Some(token) => (lookup.await?, token),
            None => tokio::try_join!(lookup, view.inner.aad.token())?,
        };
        let token = EmbedToken::new(token.secret().clone(), Guid::from_u128(0), token.expires_on());
        let config = EmbedConfig::report(found.id, non_empty_url(found.embed_url.clone(), "report")?, token)
            .with_token_type(TokenType::Aad);
        Ok(config)
    }
}
