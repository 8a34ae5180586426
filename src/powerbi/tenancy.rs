//! Onboarding and offboarding a customer, for apps that embed for many customers with one
//! service principal profile and one workspace per customer (Microsoft's workspace-based
//! isolation). Written only with the public handles; each step is traced and, on failure,
//! named in an [`OnboardingError`], and every step first looks for what an earlier run made, so
//! running the same call again after a crash finishes the job without duplicates.

use std::future::Future;
use std::time::Duration;

use tracing::Instrument;

use crate::error::{Error, Result};
use crate::ids::{CapacityId, DatasetId, ProfileId, ReportId, WorkspaceId};
use crate::powerbi::client::PowerBiClient;
use crate::powerbi::failure::{OnboardingError, OnboardingStep};
use crate::powerbi::handles::import::PbixSource;
use crate::powerbi::handles::profile::{check_name, MAX_PROFILE_NAME};
use crate::powerbi::handles::provision::MAX_WORKSPACE_NAME;
use crate::powerbi::models::Workspace;

/// What [`PowerBiClient::onboard_customer`] made (or found): what embedding for the customer
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Onboarded {
    /// The customer's stable key (the profile's name).
    pub key: String,
    /// The customer's profile: embed with [`PowerBiClient::as_profile`].
    pub profile: ProfileId,
    /// The customer's workspace.
    pub workspace: WorkspaceId,
    /// The imported report, when a `.pbix` was given.
    pub report: Option<ReportId>,
    /// Its semantic model, when a `.pbix` was given.
    pub dataset: Option<DatasetId>,
}

/// What [`PowerBiClient::offboard_customer`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Offboarded {
    /// The profile deleted; `None` when there was none for the key (nothing to do).
    pub profile: Option<ProfileId>,
    /// The workspaces deleted.
    pub workspaces: Vec<WorkspaceId>,
}

/// Onboards one customer, from [`PowerBiClient::onboard_customer`].
#[derive(Debug, Clone)]
#[must_use = "call .send().await"]
pub struct OnboardCustomer<'a> {
    client: &'a PowerBiClient,
    name: String,
    key: Option<String>,
    capacity: Option<CapacityId>,
    pbix: Option<PbixSource>,
    report_name: Option<String>,
    parameters: Vec<(String, String)>,
    poll_interval: Option<Duration>,
    timeout: Option<Duration>,
}

impl PowerBiClient {
    /// Onboards the customer `name`: finds or creates its profile (named by the customer's
    /// key), as that profile finds or creates the workspace `name`, assigns it to the capacity,
    /// imports the `.pbix` and sets the semantic model's parameters. Safe to run again: a second
    /// run finds what the first made and does only what is missing.
    ///
    /// ```no_run
    /// # use powerbi_embed::{CapacityId, PbixSource, PowerBiClient};
    /// # async fn run(client: &PowerBiClient, capacity: CapacityId) -> powerbi_embed::Result<()> {
    /// let done = client
    ///     .onboard_customer("Contoso")
    ///     .key("customer-42")
    ///     .capacity(capacity)
    ///     .pbix(PbixSource::path("reports/sales.pbix"))
    ///     .parameter("Server", "sql.contoso.com")
    ///     .send()
    ///     .await?;
    /// let embed_as = client.as_profile(done.profile).workspace(done.workspace);
    /// # let _ = embed_as; Ok(()) }
    /// ```
    pub fn onboard_customer(&self, name: impl Into<String>) -> OnboardCustomer<'_> {
        OnboardCustomer {
            client: self,
            name: name.into(),
            key: None,
            capacity: None,
            pbix: None,
            report_name: None,
            parameters: Vec::new(),
            poll_interval: None,
            timeout: None,
        }
    }

    /// Removes the customer whose stable key is `key`: as its profile, deletes every workspace
    /// the profile can see, then deletes the profile. Safe to run again; a key without a
    /// profile is nothing to do.
    ///
    /// # Errors
    /// [`Error::Onboarding`] naming the step (`find-profile`, `find-workspace`,
    /// `delete-workspace`, `delete-profile`) and holding the cause; [`Error::InvalidInput`]
    /// naming `key` for a blank or over-long key, before any request.
    pub async fn offboard_customer(&self, key: &str) -> Result<Offboarded> {
        let key = check_name("key", key, MAX_PROFILE_NAME)?;
        let span = tracing::info_span!("offboard_customer", key);
        async move {
            let found = step(key, OnboardingStep::FindProfile, self.profiles().find(key)).await?;
            let Some(profile) = found else {
                tracing::info!("no profile for this key: nothing to remove");
                return Ok(Offboarded { profile: None, workspaces: Vec::new() });
            };
            let customer = self.as_profile(profile.id);
            let workspaces = step(key, OnboardingStep::FindWorkspace, customer.workspaces().list()).await?;
            let mut deleted = Vec::new();
            for workspace in workspaces {
                let delete = ignore_not_found(customer.workspace(workspace.id).delete());
                step(key, OnboardingStep::DeleteWorkspace, delete).await?;
                deleted.push(workspace.id);
            }
            step(key, OnboardingStep::DeleteProfile, ignore_not_found(self.profile(profile.id).delete())).await?;
            Ok(Offboarded { profile: Some(profile.id), workspaces: deleted })
        }
        .instrument(span)
        .await
    }
}

impl OnboardCustomer<'_> {
    /// The customer's stable key, which names its profile (default: the customer's name). Use
    /// your own customer id when display names may change or repeat.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The capacity the workspace is assigned to (embedding for customers needs one).
    pub fn capacity(mut self, capacity: CapacityId) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// The `.pbix` to import into the workspace.
    pub fn pbix(mut self, source: PbixSource) -> Self {
        self.pbix = Some(source);
        self
    }

    /// The name of the imported report and semantic model (default: the file's stem; required
    /// for [`PbixSource::Bytes`]).
    pub fn report_name(mut self, name: impl Into<String>) -> Self {
        self.report_name = Some(name.into());
        self
    }

    /// A semantic model parameter to set after the import (`Default.UpdateParameters`).
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// The wait between polls of the capacity assignment and the import (default 2 s), on the
    /// client's clock.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// How long the capacity assignment and the import may each take (defaults: 5 and 10
    /// minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the steps that are still missing, in order, and returns the customer's ids.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `name`, `key`, `report_name`, `pbix` (no such file) or
    /// `parameter` before any request; otherwise [`Error::Onboarding`] naming the failed step and holding the cause.
    /// What was done before the failure stays, and the next run continues from there.
    pub async fn send(self) -> Result<Onboarded> {
        let name = check_name("name", &self.name, MAX_WORKSPACE_NAME)?.to_owned();
        let key = check_name("key", self.key.as_deref().unwrap_or(&name), MAX_PROFILE_NAME)?.to_owned();
        let report_name = match (&self.pbix, &self.report_name) {
            (None, _) => None,
            (Some(_), Some(given)) => Some(check_name("report_name", given, 256)?.to_owned()),
            (Some(source), None) => match source.stem() {
                Some(stem) => Some(check_name("report_name", &stem, 256)?.to_owned()),
                None => return Err(Error::invalid("report_name", "is required for a pbix given as bytes")),
            },
        };
        if let Some(PbixSource::Path(path)) = &self.pbix {
            // Read at the import step; a file that is not there is bad input, found before any
            // request rather than after the profile and workspace were made.
            if !path.is_file() {
                return Err(Error::invalid("pbix", format!("{} is not a readable file", path.display())));
            }
        }
        if let Some(i) = self.parameters.iter().position(|(n, _)| n.trim().is_empty()) {
            return Err(Error::invalid(format!("parameter[{i}]"), "the name must not be empty"));
        }
        if !self.parameters.is_empty() && self.pbix.is_none() {
            return Err(Error::invalid("parameter", "parameters need a pbix to import"));
        }
        let span = tracing::info_span!("onboard_customer", key = key.as_str(), name = name.as_str());
        self.run(name, key, report_name).instrument(span).await
    }

    async fn run(self, name: String, key: String, report_name: Option<String>) -> Result<Onboarded> {
        let client = self.client;
        let key = key.as_str();
        // 1. The profile, found by the key or made.
        let profile = match step(key, OnboardingStep::FindProfile, client.profiles().find(key)).await? {
            Some(found) => found,
            None => step(key, OnboardingStep::CreateProfile, client.profiles().create(key)).await?,
        };
        let customer = client.as_profile(profile.id);
        // 2. The workspace the profile owns, found by name or made as the profile.
        let found = step(key, OnboardingStep::FindWorkspace, customer.workspaces().find(&name)).await?;
        let workspace: Workspace = match found.into_iter().next() {
            Some(found) => found,
            None => step(key, OnboardingStep::CreateWorkspace, customer.workspaces().create(&name)).await?,
        };
        let ws = customer.workspace(workspace.id);
        // 3. The capacity, unless the workspace is on it already.
        if let Some(capacity) = self.capacity {
            if workspace.capacity_id == Some(capacity) {
                tracing::info!(step = %OnboardingStep::AssignCapacity, "already on the capacity");
            } else {
                let mut assign = ws.assign_to_capacity(capacity);
                if let Some(interval) = self.poll_interval {
                    assign = assign.poll_interval(interval);
                }
                if let Some(timeout) = self.timeout {
                    assign = assign.timeout(timeout);
                }
                step(key, OnboardingStep::AssignCapacity, assign.send()).await?;
            }
        }
        // 4. The report, unless an earlier run imported it.
        let (mut report, mut dataset) = (None, None);
        if let (Some(source), Some(report_name)) = (self.pbix, report_name) {
            let reports = step(key, OnboardingStep::FindReport, ws.list_reports()).await?;
            let earlier = reports.into_iter().find(|r| r.name == report_name && r.dataset_id.is_some());
            let (r, d) = match earlier {
                Some(found) => {
                    tracing::info!(step = %OnboardingStep::Import, report = %found.id, "imported earlier");
                    (found.id, found.dataset_id.unwrap_or_else(|| unreachable!("filtered on is_some")))
                }
                None => {
                    let mut import = ws.import_pbix(report_name, source);
                    if let Some(interval) = self.poll_interval {
                        import = import.poll_interval(interval);
                    }
                    if let Some(timeout) = self.timeout {
                        import = import.timeout(timeout);
                    }
                    let imported = step(key, OnboardingStep::Import, import.send()).await?;
                    (imported.report, imported.dataset)
                }
            };
            // 5. The parameters, every run (setting a value twice is harmless).
            if !self.parameters.is_empty() {
                let update = ws.dataset(d).update_parameters(self.parameters.iter().map(|(n, v)| (n, v)));
                step(key, OnboardingStep::UpdateParameters, update).await?;
            }
            (report, dataset) = (Some(r), Some(d));
        }
        tracing::info!(profile = %profile.id, workspace = %workspace.id, "customer onboarded");
        Ok(Onboarded { key: key.to_owned(), profile: profile.id, workspace: workspace.id, report, dataset })
    }
}

/// Runs one step, traced, and names it in the error.
async fn step<T>(key: &str, step: OnboardingStep, work: impl Future<Output = Result<T>>) -> Result<T> {
    let span = tracing::info_span!("onboarding_step", step = step.name());
    match work.instrument(span).await {
        Ok(value) => {
            tracing::info!(step = step.name(), "step done");
            Ok(value)
        }
        Err(error) => {
            tracing::warn!(step = step.name(), error = %error, "step failed");
            Err(OnboardingError::wrap(key, step, error))
        }
    }
}

/// A delete of something already gone (404) is a delete done.
async fn ignore_not_found(work: impl Future<Output = Result<()>>) -> Result<()> {
    match work.await {
        Err(Error::PowerBi(e)) if e.status == 404 => Ok(()),
        outcome => outcome,
    }
}
