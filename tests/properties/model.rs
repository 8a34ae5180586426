//! The model: what the documentation says, written independently of the crate.

use super::*;

/// A GUID as the crate documents it: 8-4-4-4-12 hexadecimal digits, either case, optionally in
/// braces; item ids may carry surrounding whitespace. The canonical (sent) form, if valid.
pub(crate) fn model_guid(text: &str, trim: bool) -> Option<String> {
    let text = if trim { text.trim() } else { text };
    let inner = match text.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) {
        Some(inner) => inner,
        None => text,
    };
    let groups: Vec<&str> = inner.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    (lengths == [8, 4, 4, 4, 12] && hex).then(|| inner.to_ascii_lowercase())
}

#[derive(Debug, Clone)]
pub(crate) struct IdentityInput {
    pub(crate) username: String,
    pub(crate) roles: Vec<String>,
    pub(crate) datasets: Vec<u128>,
    pub(crate) reports: Vec<u128>,
    pub(crate) custom_data: Option<String>,
    pub(crate) blob: Option<String>,
    pub(crate) auditable_context: Option<String>,
}

impl IdentityInput {
    pub(crate) fn build(&self) -> EffectiveIdentity {
        let mut identity = EffectiveIdentity::new(self.username.clone())
            .roles(self.roles.clone())
            .datasets(self.datasets.iter().map(|&id| DatasetId::from_u128(id)))
            .reports(self.reports.iter().map(|&id| ReportId::from_u128(id)));
        if let Some(custom_data) = &self.custom_data {
            identity = identity.custom_data(custom_data.clone());
        }
        if let Some(blob) = &self.blob {
            identity = identity.identity_blob(blob.clone());
        }
        if let Some(context) = &self.auditable_context {
            identity = identity.auditable_context(context.clone());
        }
        identity
    }

    /// The documented rules this identity breaks, as field names. A role of only whitespace
    /// counts as empty.
    pub(crate) fn violations(&self, at: usize) -> Vec<String> {
        let field = |name: String| format!("identities[{at}].{name}");
        let mut broken = Vec::new();
        let name = &self.username;
        // Spaces are refused unless the identity is for paginated reports only (issue 17).
        let report_scoped = self.datasets.is_empty() && !self.reports.is_empty();
        let spaced = !report_scoped && name.chars().any(char::is_whitespace);
        if name.is_empty() || name.chars().count() > 256 || spaced {
            broken.push(field("username".into()));
        }
        if self.roles.len() > 50 {
            broken.push(field("roles".into()));
        }
        for (i, role) in self.roles.iter().enumerate() {
            if role.trim().is_empty() || role.chars().count() > 50 || role.contains(',') {
                broken.push(field(format!("roles[{i}]")));
            }
        }
        if self.blob.as_deref() == Some("") {
            broken.push(field("identityBlob".into()));
        }
        if self.datasets.is_empty() && self.reports.is_empty() {
            broken.push(field("datasets".into()));
        }
        broken
    }

    /// The JSON Power BI should receive for a valid identity.
    pub(crate) fn expected_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("username".into(), json!(self.username));
        let ids = |ids: &[u128]| -> Value { ids.iter().map(|&id| json!(canonical(id))).collect() };
        if !self.roles.is_empty() {
            object.insert("roles".into(), json!(self.roles));
        }
        if !self.datasets.is_empty() {
            object.insert("datasets".into(), ids(&self.datasets));
        }
        if !self.reports.is_empty() {
            object.insert("reports".into(), ids(&self.reports));
        }
        if let Some(custom_data) = &self.custom_data {
            object.insert("customData".into(), json!(custom_data));
        }
        if let Some(blob) = &self.blob {
            object.insert("identityBlob".into(), json!({"value": blob}));
        }
        if let Some(context) = &self.auditable_context {
            object.insert("auditableContext".into(), json!(context));
        }
        Value::Object(object)
    }
}

pub(crate) fn lifetime_violation(lifetime: Option<i64>) -> bool {
    lifetime.is_some_and(|m| m <= 0 || m > i64::from(u32::MAX))
}

pub(crate) fn identity_violations(identities: &[IdentityInput]) -> Vec<String> {
    identities.iter().enumerate().flat_map(|(i, identity)| identity.violations(i)).collect()
}

/// Checks the outcome of a build against the violations the model found: `Ok` exactly when
/// there are none, otherwise `InvalidInput` naming one of them. Returns the body on `Ok`.
pub(crate) fn check_verdict<T: std::fmt::Debug>(
    outcome: Result<T, Error>,
    violations: &[String],
    json: impl Fn(&T) -> String,
) -> Result<Option<Value>, TestCaseError> {
    match outcome {
        Ok(request) => {
            prop_assert!(violations.is_empty(), "accepted although it breaks {violations:?}: {request:?}");
            let text = json(&request);
            let body: Value =
                serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
            Ok(Some(body))
        }
        Err(Error::InvalidInput { field, reason }) => {
            prop_assert!(!violations.is_empty(), "refused ({field}: {reason}) although no rule is broken");
            prop_assert!(
                violations.iter().any(|v| *v == field),
                "refused naming {field}, but the broken rules are {violations:?}"
            );
            Ok(None)
        }
        Err(other) => Err(TestCaseError::fail(format!("a build can only fail with InvalidInput, got {other:?}"))),
    }
}
