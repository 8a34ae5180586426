//! Content operations of issue 19, on the handles of the items they change: semantic model
//! parameters, data sources, take-over and refresh on [`DatasetHandle`]; rebind and clone on
//! [`ReportHandle`]; data-source credentials on [`DatasourceHandle`] (a gateway's, or the
//! personal cloud connection of a semantic model).

use std::fmt;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{DatasetId, DatasourceId, GatewayId, WorkspaceId};
use crate::powerbi::call::ApiRequest;
use crate::powerbi::handles::profile::check_name;
use crate::powerbi::handles::{DatasetHandle, ReportHandle};
use crate::powerbi::models::Report;
use crate::powerbi::view::PowerBiView;
use crate::secret::Secret;

/// How many parameters one `UpdateParameters` call takes (the service's documented limit).
const MAX_PARAMETERS: usize = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateParameters<'p> {
    update_details: Vec<ParameterDetail<'p>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ParameterDetail<'p> {
    name: &'p str,
    new_value: &'p str,
}

/// A data source of a semantic model, as `GET .../datasources` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Datasource {
    /// Its type, e.g. `Sql`, `Web`, `Extension`.
    #[serde(default)]
    pub datasource_type: Option<String>,
    /// Where it connects.
    #[serde(default)]
    pub connection_details: Option<DatasourceConnection>,
    /// The gateway (or the cloud connection's) id, for
    /// [`PowerBiView::gateway`]`(..).datasource(..)`.
    #[serde(default, deserialize_with = "crate::powerbi::models::optional_id")]
    pub gateway_id: Option<GatewayId>,
    /// The data source id.
    #[serde(default, deserialize_with = "crate::powerbi::models::optional_id")]
    pub datasource_id: Option<DatasourceId>,
}

/// Where a data source connects; which fields are set depends on its type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DatasourceConnection {
    /// The server (SQL, Analysis Services, ...).
    #[serde(default)]
    pub server: Option<String>,
    /// The database.
    #[serde(default)]
    pub database: Option<String>,
    /// The URL (web, OData, SharePoint, ...).
    #[serde(default)]
    pub url: Option<String>,
    /// The path (files, folders).
    #[serde(default)]
    pub path: Option<String>,
    /// The connector kind (extension data sources).
    #[serde(default)]
    pub kind: Option<String>,
    /// The account (Azure Storage).
    #[serde(default)]
    pub account: Option<String>,
    /// The domain (Azure Storage).
    #[serde(default)]
    pub domain: Option<String>,
}

#[derive(Deserialize)]
struct Datasources {
    value: Vec<Datasource>,
}

/// One entry of a semantic model's refresh history.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Refresh {
    /// `Unknown` (running), `Completed`, `Failed`, `Disabled`, as the service says.
    #[serde(default)]
    pub status: Option<String>,
    /// How it was started (`ViaApi`, `Scheduled`, ...).
    #[serde(default)]
    pub refresh_type: Option<String>,
    /// When it started (ISO 8601, as given).
    #[serde(default)]
    pub start_time: Option<String>,
    /// When it ended, if it did.
    #[serde(default)]
    pub end_time: Option<String>,
    /// The refresh's request id.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The error, as a JSON text, when it failed.
    #[serde(default)]
    pub service_exception_json: Option<String>,
}

#[derive(Deserialize)]
struct Refreshes {
    value: Vec<Refresh>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    notify_option: &'static str,
}

impl DatasetHandle<'_> {
    /// Sets the semantic model's parameters
    /// (`POST .../datasets/{id}/Default.UpdateParameters`, body
    /// `{"updateDetails": [{"name", "newValue"}]}`). Refresh the model afterwards for the new
    /// values to reach its data.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `updateDetails` (none, or more than 100) or
    /// `updateDetails[i].name` (blank) before any request; service errors as for
    /// [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn update_parameters<K, V>(self, parameters: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let parameters: Vec<(K, V)> = parameters.into_iter().collect();
        if parameters.is_empty() || parameters.len() > MAX_PARAMETERS {
            return Err(Error::invalid("updateDetails", format!("needs 1 to {MAX_PARAMETERS} parameters")));
        }
        let mut update_details = Vec::with_capacity(parameters.len());
        for (i, (name, value)) in parameters.iter().enumerate() {
            if name.as_ref().trim().is_empty() {
                return Err(Error::invalid(format!("updateDetails[{i}].name"), "must not be empty"));
            }
            update_details.push(ParameterDetail { name: name.as_ref(), new_value: value.as_ref() });
        }
        let request = ApiRequest::new(Method::POST, self.path("/Default.UpdateParameters"))
            .json(&UpdateParameters { update_details })?;
        self.workspace().view().send(request).await.map(drop)
    }

    /// The semantic model's data sources (`GET .../datasets/{id}/datasources`), with the
    /// gateway and data source ids that credentials are set on.
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn list_datasources(self) -> Result<Vec<Datasource>> {
        let request = ApiRequest::new(Method::GET, self.path("/datasources"));
        self.workspace().view().send_json::<Datasources>(request, "datasource list").await.map(|d| d.value)
    }

    /// Makes the calling identity the semantic model's owner (`POST .../Default.TakeOver`),
    /// which setting credentials needs.
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn take_over(self) -> Result<()> {
        self.workspace().view().send(ApiRequest::new(Method::POST, self.path("/Default.TakeOver"))).await.map(drop)
    }

    /// Starts a refresh (`POST .../refreshes`, `notifyOption: NoNotification`, the only option
    /// a service principal may use). Follow it with [`list_refreshes`](Self::list_refreshes).
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn refresh(self) -> Result<()> {
        let request = ApiRequest::new(Method::POST, self.path("/refreshes"))
            .json(&RefreshBody { notify_option: "NoNotification" })?;
        self.workspace().view().send(request).await.map(drop)
    }

    /// The refresh history, newest first (`GET .../refreshes?$top=..`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `top` when it is 0; otherwise as
    /// [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn list_refreshes(self, top: u32) -> Result<Vec<Refresh>> {
        if top == 0 {
            return Err(Error::invalid("top", "must be at least 1"));
        }
        let request = ApiRequest::new(Method::GET, self.path("/refreshes")).query("$top", top.to_string());
        self.workspace().view().send_json::<Refreshes>(request, "refresh history").await.map(|r| r.value)
    }

    fn path(self, rest: &str) -> String {
        self.workspace().path(&format!("/datasets/{}{rest}", self.id()))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RebindBody {
    dataset_id: DatasetId,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloneBody<'n> {
    name: &'n str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_workspace_id: Option<WorkspaceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_model_id: Option<DatasetId>,
}

impl<'a> ReportHandle<'a> {
    /// Points the report at another semantic model (`POST .../reports/{id}/Rebind`, body
    /// `{"datasetId"}`). With the lookup cache on, the report's cached lookup is dropped, here and in
    /// the shared store, so the next config reads the new dataset.
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn rebind(self, dataset: DatasetId) -> Result<()> {
        let request = ApiRequest::new(Method::POST, self.path("/Rebind")).json(&RebindBody { dataset_id: dataset })?;
        let view = self.workspace().view();
        view.send(request).await?;
        // A cached lookup of the report still names the old dataset, which RLS from the data
        // and report creation would read: the next config looks the report up again.
        view.forget_report(self.workspace().id(), self.id()).await;
        Ok(())
    }

    /// Copies the report as `name` (`POST .../reports/{id}/Clone`).
    pub fn clone_to(self, name: impl Into<String>) -> CloneReportBuilder<'a> {
        CloneReportBuilder { report: self, name: name.into(), target_workspace: None, target_model: None }
    }

    fn path(self, rest: &str) -> String {
        self.workspace().path(&format!("/reports/{}{rest}", self.id()))
    }
}

/// A report copy, from [`ReportHandle::clone_to`].
#[derive(Debug, Clone)]
#[must_use = "call .send().await"]
pub struct CloneReportBuilder<'a> {
    report: ReportHandle<'a>,
    name: String,
    target_workspace: Option<WorkspaceId>,
    target_model: Option<DatasetId>,
}

impl CloneReportBuilder<'_> {
    /// Into another workspace (`targetWorkspaceId`); default: the report's own.
    pub fn target_workspace(mut self, workspace: WorkspaceId) -> Self {
        self.target_workspace = Some(workspace);
        self
    }

    /// Bound to another semantic model (`targetModelId`); default: the report's.
    pub fn target_model(mut self, dataset: DatasetId) -> Self {
        self.target_model = Some(dataset);
        self
    }

    /// Makes the copy and returns it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `name` before any request; otherwise as
    /// [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn send(self) -> Result<Report> {
        let name = check_name("name", &self.name, 256)?;
        let body = CloneBody { name, target_workspace_id: self.target_workspace, target_model_id: self.target_model };
        let request = ApiRequest::new(Method::POST, self.report.path("/Clone")).json(&body)?;
        self.report.workspace().view().send_json(request, "report").await
    }
}

impl<'a> PowerBiView<'a> {
    /// The gateway `id` (or the cloud connection a [`Datasource`] names as its gateway).
    pub fn gateway(self, id: GatewayId) -> GatewayHandle<'a> {
        GatewayHandle { view: self, id }
    }
}

/// A gateway, from [`PowerBiView::gateway`].
#[derive(Debug, Clone, Copy)]
pub struct GatewayHandle<'a> {
    view: PowerBiView<'a>,
    id: GatewayId,
}

impl<'a> GatewayHandle<'a> {
    /// The gateway id.
    pub fn id(self) -> GatewayId {
        self.id
    }

    /// One of its data sources.
    pub fn datasource(self, id: DatasourceId) -> DatasourceHandle<'a> {
        DatasourceHandle { gateway: self, id }
    }
}

/// A data source of a gateway, from [`GatewayHandle::datasource`].
#[derive(Debug, Clone, Copy)]
pub struct DatasourceHandle<'a> {
    gateway: GatewayHandle<'a>,
    id: DatasourceId,
}

/// Credentials for a cloud data source. The secret parts are [`Secret`]s: `Debug` shows none of
/// them, and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatasourceCredentials {
    /// User name and password (`credentialType: Basic`).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An account key (`credentialType: Key`), e.g. for Azure Storage.
    Key(Secret),
    /// An OAuth 2.0 access token (`credentialType: OAuth2`).
    OAuth2(Secret),
}

impl fmt::Debug for DatasourceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasourceCredentials::Basic { username, password } => {
                f.debug_struct("Basic").field("username", username).field("password", password).finish()
            }
            DatasourceCredentials::Key(key) => f.debug_tuple("Key").field(key).finish(),
            DatasourceCredentials::OAuth2(token) => f.debug_tuple("OAuth2").field(token).finish(),
        }
    }
}

/// The privacy level of a data source (`privacyLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[non_exhaustive]
pub enum PrivacyLevel {
    /// None set.
    None,
    /// Public data.
    Public,
    /// The organization's data (the default here).
    #[default]
    Organizational,
    /// Private data.
    Private,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateDatasource {
    credential_details: CredentialDetails,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialDetails {
    credential_type: &'static str,
    /// A JSON text, as the service wants it: `{"credentialData": [{"name", "value"}]}`.
    credentials: String,
    encrypted_connection: &'static str,
    encryption_algorithm: &'static str,
    privacy_level: PrivacyLevel,
}

impl DatasourceCredentials {
    fn details(&self, privacy_level: PrivacyLevel) -> Result<CredentialDetails> {
        let pair = |name: &str, value: &str| serde_json::json!({"name": name, "value": value});
        let (credential_type, data) = match self {
            DatasourceCredentials::Basic { username, password } => {
                if username.trim().is_empty() {
                    return Err(Error::invalid("username", "must not be empty"));
                }
                ("Basic", vec![pair("username", username), pair("password", password.expose_secret())])
            }
            DatasourceCredentials::Key(key) => ("Key", vec![pair("key", key.expose_secret())]),
            DatasourceCredentials::OAuth2(token) => ("OAuth2", vec![pair("accessToken", token.expose_secret())]),
        };
        let secret_field = match self {
            DatasourceCredentials::Basic { .. } => "password",
            DatasourceCredentials::Key(_) => "key",
            DatasourceCredentials::OAuth2(_) => "accessToken",
        };
        if data.iter().any(|p| p["name"] == secret_field && p["value"].as_str().is_none_or(str::is_empty)) {
            return Err(Error::invalid(secret_field, "must not be empty"));
        }
        let credentials = serde_json::json!({ "credentialData": data }).to_string();
        Ok(CredentialDetails {
            credential_type,
            credentials,
            encrypted_connection: "Encrypted",
            encryption_algorithm: "None",
            privacy_level,
        })
    }
}

impl DatasourceHandle<'_> {
    /// The data source id.
    pub fn id(self) -> DatasourceId {
        self.id
    }

    /// Sets the credentials of a cloud data source
    /// (`PATCH /v1.0/myorg/gateways/{gatewayId}/datasources/{datasourceId}`): encrypted
    /// connection, not encrypted with a gateway key (`encryptionAlgorithm: None`, which cloud
    /// data sources take), privacy level `privacy`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `username`, `password`, `key` or `accessToken` when one
    /// is empty, before any request; otherwise as
    /// [`WorkspaceHandle::get`](crate::WorkspaceHandle::get). No error and no log line holds a
    /// credential.
    pub async fn update_credentials(self, credentials: &DatasourceCredentials, privacy: PrivacyLevel) -> Result<()> {
        let body = UpdateDatasource { credential_details: credentials.details(privacy)? };
        let path = format!("v1.0/myorg/gateways/{}/datasources/{}", self.gateway.id, self.id);
        let request = ApiRequest::new(Method::PATCH, path).json(&body)?;
        self.gateway.view.send(request).await.map(drop)
    }
}
