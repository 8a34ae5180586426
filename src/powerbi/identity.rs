//! Row-level security: the effective identity an embed token carries.

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::{DatasetId, ReportId};
use crate::secret::Secret;

/// Longest username Power BI accepts.
const MAX_USERNAME_CHARS: usize = 256;
/// Most roles one identity may carry.
const MAX_ROLES: usize = 50;
/// Longest role name.
const MAX_ROLE_CHARS: usize = 50;

/// The end user an embed token acts for, under row-level security (RLS).
///
/// A consuming builder; the rules (username required, at most 256 characters and, unless the
/// identity is for paginated reports only, no spaces; at
/// most 50 roles, each at most 50 characters and without `,`; at least one dataset or paginated
/// report) are checked when the request that carries it is built, so one `?` covers everything. An identity with neither [`datasets`](Self::datasets)
/// nor [`reports`](Self::reports) is refused naming `identities[i].datasets`: Power BI refuses
/// it too ("DatasetId is required for any EffectiveIdentity"), but only after a round trip.
///
/// ```
/// use powerbi_embed::{DatasetId, EffectiveIdentity, GenerateTokenRequest};
/// let sales: DatasetId = "cfafbeb1-8037-4d0c-896e-a46fb27ff229".parse().unwrap();
/// let request = GenerateTokenRequest::report_view()
///     .identity(
///         EffectiveIdentity::new("customer-42@contoso.com")
///             .roles(["Customer", "EU"])
///             .datasets([sales])
///             .custom_data("tier=gold"),
///     )
///     .build()
///     .unwrap();
/// # let _ = request;
///
/// let no_dataset = GenerateTokenRequest::report_view().identity(EffectiveIdentity::new("customer-42")).build();
/// assert_eq!(no_dataset.unwrap_err().field(), Some("identities[0].datasets"));
/// ```
#[derive(Clone, Default)]
pub struct EffectiveIdentity {
    username: String,
    roles: Vec<String>,
    datasets: Vec<DatasetId>,
    reports: Vec<ReportId>,
    custom_data: Option<String>,
    identity_blob: Option<Secret>,
    auditable_context: Option<String>,
}

impl EffectiveIdentity {
    /// An identity for `username` (the value `USERNAME()` / `USERPRINCIPALNAME()` return in the
    /// model's RLS rules).
    pub fn new(username: impl Into<String>) -> Self {
        Self { username: username.into(), ..Self::default() }
    }

    /// Adds one RLS role.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// Adds RLS roles.
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// The datasets this identity applies to.
    pub fn datasets(mut self, datasets: impl IntoIterator<Item = DatasetId>) -> Self {
        self.datasets.extend(datasets);
        self
    }

    /// The paginated reports this identity applies to.
    pub fn reports(mut self, reports: impl IntoIterator<Item = ReportId>) -> Self {
        self.reports.extend(reports);
        self
    }

    /// `customData`, read by `CUSTOMDATA()` in RLS rules (Azure Analysis Services live
    /// connections and cloud models).
    pub fn custom_data(mut self, custom_data: impl Into<String>) -> Self {
        self.custom_data = Some(custom_data.into());
        self
    }

    /// `identityBlob`: an OAuth access token for Azure SQL, for DirectQuery single sign-on. It
    /// is a secret and is kept redacted.
    pub fn identity_blob(mut self, access_token: impl Into<Secret>) -> Self {
        self.identity_blob = Some(access_token.into());
        self
    }

    /// `auditableContext`: when set, the identity is recorded in the GenerateToken audit log.
    pub fn auditable_context(mut self, context: impl Into<String>) -> Self {
        self.auditable_context = Some(context.into());
        self
    }

    /// Checks the documented rules. `at` is the identity's place in its request, for the field
    /// name (`identities[0].username`).
    pub(crate) fn validate(&self, at: usize) -> Result<()> {
        self.validate_before_lookup(at)?;
        // Power BI refuses such an identity after a round trip ("DatasetId is required for any
        // EffectiveIdentity"), so say it here, before any request.
        if self.datasets.is_empty() && self.reports.is_empty() {
            return Err(Error::invalid(
                format!("identities[{at}].datasets"),
                "is empty, and so is reports: name the dataset (or paginated report) the identity applies to",
            ));
        }
        Ok(())
    }

    /// Every rule but the one a dataset lookup can satisfy (naming a dataset or report).
    pub(crate) fn validate_before_lookup(&self, at: usize) -> Result<()> {
        let field = |name: &str| format!("identities[{at}].{name}");
        let username = &self.username;
        if username.is_empty() {
            return Err(Error::invalid(field("username"), "is empty; RLS needs the end user's name"));
        }
        if username.chars().count() > MAX_USERNAME_CHARS {
            return Err(Error::invalid(field("username"), format!("is longer than {MAX_USERNAME_CHARS} characters")));
        }
        // The no-spaces rule is the semantic model's (its RLS compares the name with
        // USERNAME()/USERPRINCIPALNAME()). An identity for paginated reports only is something
        // else: Microsoft's "Implementing row-level security in embedded paginated reports" passes
        // it to the report as the built-in UserID field, any filter value, and the Generate Token
        // reference's own example of such an identity is "John Smith". So it may hold spaces.
        let report_scoped = self.datasets.is_empty() && !self.reports.is_empty();
        if !report_scoped && username.chars().any(char::is_whitespace) {
            return Err(Error::invalid(field("username"), "must not contain spaces"));
        }
        if self.roles.len() > MAX_ROLES {
            return Err(Error::invalid(
                field("roles"),
                format!("has {} roles; at most {MAX_ROLES} are allowed", self.roles.len()),
            ));
        }
        for (i, role) in self.roles.iter().enumerate() {
            let role_field = || field(&format!("roles[{i}]"));
            if role.trim().is_empty() {
                return Err(Error::invalid(role_field(), "is empty"));
            }
            if role.chars().count() > MAX_ROLE_CHARS {
                return Err(Error::invalid(role_field(), format!("is longer than {MAX_ROLE_CHARS} characters")));
            }
            if role.contains(',') {
                return Err(Error::invalid(role_field(), "must not contain ','"));
            }
        }
        if self.identity_blob.as_ref().is_some_and(Secret::is_empty) {
            return Err(Error::invalid(field("identityBlob"), "is empty"));
        }
        Ok(())
    }

    /// Whether it names a dataset or a paginated report.
    pub(crate) fn has_target(&self) -> bool {
        !self.datasets.is_empty() || !self.reports.is_empty()
    }

    /// Whether it carries at least one role.
    pub(crate) fn has_roles(&self) -> bool {
        !self.roles.is_empty()
    }

    /// The wire form, borrowing from `self`. Call after [`validate`](Self::validate).
    pub(crate) fn wire(&self) -> WireIdentity<'_> {
        WireIdentity {
            username: &self.username,
            roles: &self.roles,
            datasets: &self.datasets,
            reports: &self.reports,
            custom_data: self.custom_data.as_deref(),
            identity_blob: self.identity_blob.as_ref().map(|b| WireBlob { value: b.expose_secret() }),
            auditable_context: self.auditable_context.as_deref(),
        }
    }
}

impl fmt::Debug for EffectiveIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EffectiveIdentity")
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("datasets", &self.datasets)
            .field("reports", &self.reports)
            .field("custom_data", &self.custom_data)
            .field("identity_blob", &self.identity_blob)
            .field("auditable_context", &self.auditable_context)
            .finish()
    }
}

/// `EffectiveIdentity` as the schema names it; empty lists and unset fields are omitted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireIdentity<'a> {
    username: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    roles: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    datasets: &'a [DatasetId],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    reports: &'a [ReportId],
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_blob: Option<WireBlob<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auditable_context: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct WireBlob<'a> {
    value: &'a str,
}
