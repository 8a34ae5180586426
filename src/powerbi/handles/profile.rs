//! Service principal profiles (`/v1.0/myorg/profiles`): [`ProfilesHandle`] for the collection,
//! [`ProfileHandle`] for one. Reached from [`PowerBiClient`] only: the service takes these calls
//! from the service principal itself, never from a profile, so they never carry
//! `X-PowerBI-Profile-Id`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::ProfileId;
use crate::powerbi::call::ApiRequest;
use crate::powerbi::client::PowerBiClient;
use crate::powerbi::view::PowerBiView;

/// The longest profile name this crate sends. The REST reference gives no limit; this one
/// keeps names to what a database column for a customer key usually holds.
pub const MAX_PROFILE_NAME: usize = 256;
/// The page size of [`ProfileListBuilder::send_all`].
const PAGE: u32 = 100;

/// A service principal profile, as the service answers `GET /v1.0/myorg/profiles/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Profile {
    /// The profile id, to pass to [`PowerBiClient::as_profile`].
    pub id: ProfileId,
    /// Its name (unique per service principal).
    #[serde(default)]
    pub display_name: String,
}

/// The `{"displayName": ..}` body of create and rename (the live service takes nothing else).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileBody<'n> {
    display_name: &'n str,
}

/// `@odata` list envelope.
#[derive(Deserialize)]
struct Page {
    value: Vec<Profile>,
}

/// Checks a profile name before any request: not blank, at most [`MAX_PROFILE_NAME`]
/// characters, no control characters. The error names the body field, `displayName`.
pub(crate) fn check_profile_name(name: &str) -> Result<&str> {
    check_name("displayName", name, MAX_PROFILE_NAME)
}

/// The shared name rule of profiles and workspaces.
pub(crate) fn check_name<'n>(field: &'static str, name: &'n str, max: usize) -> Result<&'n str> {
    if name.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if name.chars().count() > max {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(name)
}

impl PowerBiClient {
    /// The service principal's profiles: create and list them.
    pub fn profiles(&self) -> ProfilesHandle<'_> {
        ProfilesHandle { view: self.view() }
    }

    /// The profile `id`: get, rename or delete it. To act *as* the profile, use
    /// [`as_profile`](Self::as_profile).
    pub fn profile(&self, id: ProfileId) -> ProfileHandle<'_> {
        ProfileHandle { view: self.view(), id }
    }
}

/// The profiles of the service principal, from [`PowerBiClient::profiles`].
#[derive(Debug, Clone, Copy)]
pub struct ProfilesHandle<'a> {
    view: PowerBiView<'a>,
}

impl<'a> ProfilesHandle<'a> {
    /// Creates a profile (`POST /v1.0/myorg/profiles`, body `{"displayName"}`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `displayName` for a blank, over-long or control-character
    /// name, before any request; [`Error::PowerBi`] with code `PowerBIEntityAlreadyExists` (400)
    /// when the service principal already has a profile of that name; the other service
    /// errors as for [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn create(self, display_name: &str) -> Result<Profile> {
        let display_name = check_profile_name(display_name)?;
        let request =
            ApiRequest::new(Method::POST, "v1.0/myorg/profiles".into()).json(&ProfileBody { display_name })?;
        self.view.send_json(request, "profile").await
    }

    /// Lists profiles, one page (`GET /v1.0/myorg/profiles?$top=..&$skip=..`) or all of them.
    pub fn list(self) -> ProfileListBuilder<'a> {
        ProfileListBuilder { view: self.view, top: None, skip: None }
    }

    /// The profile whose name is exactly `display_name`, if there is one (pages through the
    /// list: the service has no lookup by name).
    ///
    /// # Errors
    /// As [`list`](Self::list).
    pub async fn find(self, display_name: &str) -> Result<Option<Profile>> {
        let display_name = check_profile_name(display_name)?;
        let all = self.list().send_all().await?;
        Ok(all.into_iter().find(|p| p.display_name == display_name))
    }
}

/// A page of profiles, from [`ProfilesHandle::list`].
#[derive(Debug, Clone, Copy)]
#[must_use = "call .send().await or .send_all().await"]
pub struct ProfileListBuilder<'a> {
    view: PowerBiView<'a>,
    top: Option<u32>,
    skip: Option<u32>,
}

impl ProfileListBuilder<'_> {
    /// At most `top` profiles (`$top`).
    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    /// Skips the first `skip` profiles (`$skip`).
    pub fn skip(mut self, skip: u32) -> Self {
        self.skip = Some(skip);
        self
    }

    /// One page, as asked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `top` when it is 0; service errors as for
    /// [`ProfilesHandle::create`].
    pub async fn send(self) -> Result<Vec<Profile>> {
        let mut request = ApiRequest::new(Method::GET, "v1.0/myorg/profiles".into());
        if let Some(top) = self.top {
            if top == 0 {
                return Err(Error::invalid("top", "must be at least 1"));
            }
            request = request.query("$top", top.to_string());
        }
        if let Some(skip) = self.skip {
            request = request.query("$skip", skip.to_string());
        }
        self.view.send_json::<Page>(request, "profile list").await.map(|p| p.value)
    }

    /// Every profile from `skip` on, page by page (`top`, or 100, at a time) until a page comes
    /// back short.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_all(self) -> Result<Vec<Profile>> {
        let page = self.top.unwrap_or(PAGE);
        let mut skip = self.skip.unwrap_or(0);
        let mut all: Vec<Profile> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let got = self.top(page).skip(skip).send().await?;
            let short = got.len() < page as usize;
            skip = skip.saturating_add(page);
            let before = all.len();
            all.extend(got.into_iter().filter(|p| seen.insert(p.id)));
            // A service that ignored `$skip` would repeat a page forever: stop when one brings
            // nothing new.
            if short || all.len() == before || skip == u32::MAX {
                return Ok(all);
            }
        }
    }
}

/// One profile, from [`PowerBiClient::profile`].
#[derive(Debug, Clone, Copy)]
pub struct ProfileHandle<'a> {
    view: PowerBiView<'a>,
    id: ProfileId,
}

impl ProfileHandle<'_> {
    /// The profile id.
    pub fn id(self) -> ProfileId {
        self.id
    }

    /// The profile (`GET /v1.0/myorg/profiles/{id}`).
    ///
    /// # Errors
    /// [`Error::PowerBi`] 404 for an unknown profile; service errors as for
    /// [`ProfilesHandle::create`].
    pub async fn get(self) -> Result<Profile> {
        self.view.send_json(ApiRequest::new(Method::GET, self.path()), "profile").await
    }

    /// Renames the profile (`PUT /v1.0/myorg/profiles/{id}`, body `{"displayName"}`).
    ///
    /// # Errors
    /// As [`ProfilesHandle::create`].
    pub async fn rename(self, display_name: &str) -> Result<()> {
        let display_name = check_profile_name(display_name)?;
        let request = ApiRequest::new(Method::PUT, self.path()).json(&ProfileBody { display_name })?;
        self.view.send(request).await.map(drop)
    }

    /// Deletes the profile (`DELETE /v1.0/myorg/profiles/{id}`). To remove a customer's
    /// workspaces as well, delete them first, as the profile
    /// ([`PowerBiClient::offboard_customer`] does).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub async fn delete(self) -> Result<()> {
        self.view.send(ApiRequest::new(Method::DELETE, self.path())).await.map(drop)
    }

    fn path(self) -> String {
        format!("v1.0/myorg/profiles/{}", self.id)
    }
}
