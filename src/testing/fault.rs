//! Setup faults the fake can be told to have, each answered as the live service answers it, so
//! a diagnosis (`examples/doctor.rs`, or an application's own) can be tested without Azure.

use std::fmt;

/// A setup fault of the tenant, the workspace, the dataset, the capacity or the app
/// registration, for [`FakeServicesBuilder::fault`](super::FakeServicesBuilder::fault).
///
/// The answers follow the recorded live answers in `tests/fixtures/live/` (sources in its
/// `SOURCES.md`), except where a variant says none was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FakeFault {
    /// The tenant setting "Service principals can use Fabric APIs" is off for this app: every
    /// Power BI call answers 401 with an empty body and
    /// `X-PowerBI-Error-Info: ServicePrincipalIsNotAllowedByTenantAdminSwitch`.
    TenantSwitchOff,
    /// The identity is not a member of the workspace: every call into it answers 401 with an
    /// empty body and `X-PowerBI-Error-Info: GroupNotAccessible`.
    NotAMember,
    /// The report's dataset uses row-level security: it says `isEffectiveIdentityRequired:
    /// true`, and a `GenerateToken` without an identity answers 400 `InvalidRequest`
    /// "Creating embed token for accessing dataset `<id>` requires effective identity to be
    /// provided".
    RlsRequired,
    /// As [`RlsRequired`](Self::RlsRequired), and the dataset's rules need roles
    /// (`isEffectiveIdentityRolesRequired: true`): an identity without roles answers 400
    /// "... requires roles to be included in provided effective identity".
    RlsRolesRequired,
    /// The workspace's capacity is paused: lookups work and the capacity list shows it with
    /// `"state": "Suspended"`, `GenerateToken` answers 403 with an empty body and
    /// `X-PowerBI-Error-Info: CapacityNotActive`. No recording of the 403 was found: Learn's
    /// troubleshooting page lists a paused capacity among the 403s of `GenerateToken`; the
    /// header-only shape is the one the other refusals use.
    CapacityPaused,
    /// The workspace is on shared capacity, not a dedicated one (which embedding for customers
    /// needs): "Groups - Get Group" says `isOnDedicatedCapacity: false` and has no
    /// `capacityId`, as Microsoft's sample response for a shared workspace.
    NoCapacity,
    /// Entra issues an access token for another resource (`aud` is Microsoft Graph, not Power
    /// BI), as when an app asks for the wrong scope; Power BI refuses it with 403 and
    /// `X-PowerBI-Error-Info: InvalidToken`, as any token it cannot use.
    WrongAudience,
    /// The client secret has expired: Entra answers 401 `invalid_client`, `AADSTS7000222`.
    ExpiredSecret,
}

impl FakeFault {
    /// Every fault, in the order a setup meets them.
    pub const ALL: [FakeFault; 8] = [
        FakeFault::ExpiredSecret,
        FakeFault::WrongAudience,
        FakeFault::TenantSwitchOff,
        FakeFault::NotAMember,
        FakeFault::NoCapacity,
        FakeFault::CapacityPaused,
        FakeFault::RlsRequired,
        FakeFault::RlsRolesRequired,
    ];

    /// Its kebab-case name, e.g. `tenant-switch-off` (what `POWERBI_FAKE_FAULT` takes).
    pub fn name(self) -> &'static str {
        match self {
            FakeFault::TenantSwitchOff => "tenant-switch-off",
            FakeFault::NotAMember => "not-a-member",
            FakeFault::RlsRequired => "rls-required",
            FakeFault::RlsRolesRequired => "rls-roles-required",
            FakeFault::CapacityPaused => "capacity-paused",
            FakeFault::ExpiredSecret => "expired-secret",
            FakeFault::NoCapacity => "no-capacity",
            FakeFault::WrongAudience => "wrong-audience",
        }
    }

    /// The fault of a [`name`](Self::name) (case-insensitive), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|fault| fault.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for FakeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for fault in FakeFault::ALL {
            assert_eq!(FakeFault::from_name(fault.name()), Some(fault));
        }
        assert_eq!(FakeFault::from_name(" Capacity-Paused "), Some(FakeFault::CapacityPaused));
        assert_eq!(FakeFault::from_name("nope"), None);
    }
}
