//! The errors of issue 19's long operations: a background operation that ended in failure
//! ([`OperationFailed`]) and a failed step of onboarding ([`OnboardingError`]).

use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// A background operation (an import, a capacity assignment) that the service reports as
/// failed. Inside [`Error::OperationFailed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationFailed {
    /// What it was: `import`, `capacity assignment`.
    pub operation: &'static str,
    /// The id of what it was about (the import id, the workspace id).
    pub id: String,
    /// The state the service reported (`Failed`, `AssignmentFailed`).
    pub state: String,
    /// The error code or text the service gave with it, if any.
    pub detail: Option<String>,
}

impl OperationFailed {
    pub(crate) fn error(operation: &'static str, id: String, state: String, detail: Option<String>) -> Error {
        Error::OperationFailed(Arc::new(Self { operation, id, state, detail }))
    }
}

impl fmt::Display for OperationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Power BI {} {} ended in state {}", self.operation, self.id, self.state)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OperationFailed {}

/// A step of [`PowerBiClient::onboard_customer`](crate::PowerBiClient::onboard_customer) or
/// [`offboard_customer`](crate::PowerBiClient::offboard_customer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnboardingStep {
    /// Checking the customer's input (name, key, pbix) before any request.
    Validate,
    /// Finding the customer's profile by its key.
    FindProfile,
    /// Creating the profile.
    CreateProfile,
    /// Finding the profile's workspace.
    FindWorkspace,
    /// Creating the workspace as the profile.
    CreateWorkspace,
    /// Assigning the workspace to the capacity and waiting for it.
    AssignCapacity,
    /// Looking for a report imported earlier.
    FindReport,
    /// Importing the `.pbix` and waiting for the import.
    Import,
    /// Updating the semantic model's parameters.
    UpdateParameters,
    /// Deleting a workspace of the profile (offboarding).
    DeleteWorkspace,
    /// Deleting the profile (offboarding).
    DeleteProfile,
}

impl OnboardingStep {
    /// Its name in logs and messages, e.g. `create-workspace`.
    pub fn name(self) -> &'static str {
        match self {
            OnboardingStep::Validate => "validate",
            OnboardingStep::FindProfile => "find-profile",
            OnboardingStep::CreateProfile => "create-profile",
            OnboardingStep::FindWorkspace => "find-workspace",
            OnboardingStep::CreateWorkspace => "create-workspace",
            OnboardingStep::AssignCapacity => "assign-capacity",
            OnboardingStep::FindReport => "find-report",
            OnboardingStep::Import => "import",
            OnboardingStep::UpdateParameters => "update-parameters",
            OnboardingStep::DeleteWorkspace => "delete-workspace",
            OnboardingStep::DeleteProfile => "delete-profile",
        }
    }
}

impl fmt::Display for OnboardingStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed onboarding or offboarding step, inside [`Error::Onboarding`]: which customer, which
/// step, and the cause. Running the same call again continues from where it stopped.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OnboardingError {
    /// The customer's stable key.
    pub key: String,
    /// The step that failed.
    pub step: OnboardingStep,
    cause: Error,
}

impl OnboardingError {
    pub(crate) fn wrap(key: &str, step: OnboardingStep, cause: Error) -> Error {
        Error::Onboarding(Arc::new(Self { key: key.to_owned(), step, cause }))
    }

    /// The error the step failed with.
    pub fn cause(&self) -> &Error {
        &self.cause
    }
}

impl fmt::Display for OnboardingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "customer {:?}: step {} failed: {}", self.key, self.step, self.cause)
    }
}

impl std::error::Error for OnboardingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}
