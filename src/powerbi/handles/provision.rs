//! Workspace provisioning: [`WorkspacesHandle`] (create, list by name) and, on
//! [`WorkspaceHandle`], delete, capacity assignment and membership. Made through a view, so a
//! view acting as a profile provisions as that profile.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, TransportError};
use crate::ids::CapacityId;
use crate::powerbi::call::ApiRequest;
use crate::powerbi::failure::OperationFailed;
use crate::powerbi::handles::profile::check_name;
use crate::powerbi::handles::WorkspaceHandle;
use crate::powerbi::models::{Workspace, SERVICE};
use crate::powerbi::view::PowerBiView;

/// The longest workspace name this crate sends (the REST reference gives no limit).
pub const MAX_WORKSPACE_NAME: usize = 256;
/// Default wait between two polls of a background operation.
pub(crate) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Default time a capacity assignment may take before [`AssignToCapacityBuilder::send`] gives up.
const DEFAULT_ASSIGN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

impl<'a> PowerBiView<'a> {
    /// The workspaces this view's identity (the service principal, or the profile it acts as)
    /// can reach: create one, find one by name.
    pub fn workspaces(self) -> WorkspacesHandle<'a> {
        WorkspacesHandle { view: self }
    }
}

impl crate::powerbi::client::PowerBiClient {
    /// [`PowerBiView::workspaces`] as the service principal itself.
    pub fn workspaces(&self) -> WorkspacesHandle<'_> {
        self.view().workspaces()
    }
}

/// The workspaces of an identity, from [`PowerBiView::workspaces`].
#[derive(Debug, Clone, Copy)]
pub struct WorkspacesHandle<'a> {
    view: PowerBiView<'a>,
}

#[derive(Serialize)]
struct CreateBody<'n> {
    name: &'n str,
}

#[derive(Deserialize)]
struct Groups {
    value: Vec<Workspace>,
}

impl<'a> WorkspacesHandle<'a> {
    /// Creates a workspace (`POST /v1.0/myorg/groups?workspaceV2=True`, body `{"name"}`),
    /// owned by the view's identity. The service answers with the one new workspace.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `name` (blank, over [`MAX_WORKSPACE_NAME`] characters,
    /// control characters) before any request; [`Error::PowerBi`] 400 with code
    /// `PowerBIEntityAlreadyExists` when the name is taken; other service errors as for
    /// [`WorkspaceHandle::get`].
    pub async fn create(self, name: &str) -> Result<Workspace> {
        let name = check_name("name", name, MAX_WORKSPACE_NAME)?;
        let request = ApiRequest::new(Method::POST, "v1.0/myorg/groups".into())
            .query("workspaceV2", "True")
            .json(&CreateBody { name })?;
        self.view.send_json(request, "workspace").await
    }

    /// The workspaces this identity is a member of (`GET /v1.0/myorg/groups`).
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`].
    pub async fn list(self) -> Result<Vec<Workspace>> {
        let request = ApiRequest::new(Method::GET, "v1.0/myorg/groups".into());
        self.view.send_json::<Groups>(request, "workspace list").await.map(|g| g.value)
    }

    /// The workspaces named exactly `name` (`GET /v1.0/myorg/groups?$filter=name eq '..'`).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub async fn find(self, name: &str) -> Result<Vec<Workspace>> {
        let name = check_name("name", name, MAX_WORKSPACE_NAME)?;
        let filter = format!("name eq '{}'", name.replace('\'', "''"));
        let request = ApiRequest::new(Method::GET, "v1.0/myorg/groups".into()).query("$filter", filter);
        let found = self.view.send_json::<Groups>(request, "workspace list").await?.value;
        // The filter is the service's; keep only exact matches whatever it did with case.
        Ok(found.into_iter().filter(|w| w.name == name).collect())
    }
}

/// A role in a workspace (`groupUserAccessRight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum WorkspaceRole {
    /// Everything, membership included.
    Admin,
    /// Read, reshare, explore and publish content, add members with lower roles.
    Member,
    /// Create and change content.
    Contributor,
    /// Read only.
    Viewer,
}

/// Who is added to a workspace: a user by e-mail address, an Entra group or a service principal
/// (an app) by object id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// A user, by e-mail address (`principalType: User`).
    User(String),
    /// An Entra security group, by object id (`principalType: Group`).
    Group(String),
    /// A service principal, by its object id in Entra (`principalType: App`).
    App(String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupUserBody<'p> {
    #[serde(skip_serializing_if = "Option::is_none")]
    email_address: Option<&'p str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identifier: Option<&'p str>,
    group_user_access_right: WorkspaceRole,
    principal_type: &'static str,
}

impl Principal {
    fn body(&self, role: WorkspaceRole) -> Result<GroupUserBody<'_>> {
        let (email_address, identifier, principal_type, field) = match self {
            Principal::User(email) => (Some(email.as_str()), None, "User", "emailAddress"),
            Principal::Group(id) => (None, Some(id.as_str()), "Group", "identifier"),
            Principal::App(id) => (None, Some(id.as_str()), "App", "identifier"),
        };
        let value = email_address.or(identifier).unwrap_or_default();
        if value.trim().is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if field == "emailAddress" && !value.contains('@') {
            return Err(Error::invalid(field, "is not an e-mail address"));
        }
        if field == "identifier" && value.parse::<crate::ids::Guid>().is_err() {
            return Err(Error::invalid(field, "must be an object id (a GUID)"));
        }
        Ok(GroupUserBody { email_address, identifier, group_user_access_right: role, principal_type })
    }
}

/// The state `CapacityAssignmentStatus` reports.
#[derive(Deserialize)]
struct AssignmentStatus {
    status: String,
    #[serde(default)]
    #[allow(dead_code)]
    capacity_id: Option<String>,
}

impl<'a> WorkspaceHandle<'a> {
    /// Deletes the workspace (`DELETE /v1.0/myorg/groups/{groupId}`) and everything in it.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub async fn delete(self) -> Result<()> {
        self.view().send(ApiRequest::new(Method::DELETE, self.path(""))).await.map(drop)
    }

    /// Gives `principal` the role `role` in this workspace (`POST .../groups/{groupId}/users`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `emailAddress` or `identifier` for a blank address or a
    /// non-GUID object id, before any request; service errors as for [`get`](Self::get).
    pub async fn add_member(self, principal: &Principal, role: WorkspaceRole) -> Result<()> {
        let request = ApiRequest::new(Method::POST, self.path("/users")).json(&principal.body(role)?)?;
        self.view().send(request).await.map(drop)
    }

    /// Assigns the workspace to `capacity` (`POST .../AssignToCapacity`), and by default waits
    /// until `CapacityAssignmentStatus` says it is done.
    pub fn assign_to_capacity(self, capacity: CapacityId) -> AssignToCapacityBuilder<'a> {
        AssignToCapacityBuilder {
            workspace: self,
            capacity,
            wait: true,
            poll_interval: DEFAULT_POLL_INTERVAL,
            timeout: DEFAULT_ASSIGN_TIMEOUT,
        }
    }
}

/// A capacity assignment, from [`WorkspaceHandle::assign_to_capacity`].
#[derive(Debug, Clone, Copy)]
#[must_use = "call .send().await"]
pub struct AssignToCapacityBuilder<'a> {
    workspace: WorkspaceHandle<'a>,
    capacity: CapacityId,
    wait: bool,
    poll_interval: Duration,
    timeout: Duration,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssignBody {
    capacity_id: CapacityId,
}

impl AssignToCapacityBuilder<'_> {
    /// Whether `send` waits for the assignment to finish (default `true`).
    pub fn wait(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    /// The wait between two status polls (default 2 s), on the client's clock.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long the assignment may take in all, polls included (default 5 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the assignment, then polls `GET .../CapacityAssignmentStatus` until it says
    /// `CompletedSuccessfully`.
    ///
    /// # Errors
    /// [`Error::OperationFailed`] when the status says `AssignmentFailed`;
    /// [`Error::Transport`] of kind [`Deadline`](crate::TransportErrorKind::Deadline) when it is
    /// not done within the timeout; service errors as for [`WorkspaceHandle::get`].
    pub async fn send(self) -> Result<()> {
        let view = self.workspace.view();
        let request = ApiRequest::new(Method::POST, self.workspace.path("/AssignToCapacity"))
            .json(&AssignBody { capacity_id: self.capacity })?;
        view.send(request).await?;
        if !self.wait {
            return Ok(());
        }
        let status_path = self.workspace.path("/CapacityAssignmentStatus");
        let id = self.workspace.id();
        poll(view, self.poll_interval, self.timeout, || async {
            let status: AssignmentStatus =
                view.send_json(ApiRequest::new(Method::GET, status_path.clone()), "capacity assignment status").await?;
            match status.status.as_str() {
                "CompletedSuccessfully" => Ok(Some(())),
                "AssignmentFailed" => {
                    Err(OperationFailed::error("capacity assignment", id.to_string(), status.status, None))
                }
                _ => Ok(None),
            }
        })
        .await
    }
}

/// Calls `check` until it gives a value, waiting `interval` (on the client's clock) between
/// calls, for at most `timeout` in all (saturating).
pub(crate) async fn poll<T, F, Fut>(
    view: PowerBiView<'_>,
    interval: Duration,
    timeout: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let clock = &view.inner.http.clock;
    let until = clock.now().saturating_add(crate::clock::saturating_time(timeout));
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        let now = clock.now();
        if now.saturating_add(crate::clock::saturating_time(interval)) > until {
            return Err(Error::Transport(std::sync::Arc::new(TransportError::deadline(SERVICE, timeout))));
        }
        tracing::debug!(?interval, "not done yet; polling again");
        clock.sleep(interval).await;
    }
}
