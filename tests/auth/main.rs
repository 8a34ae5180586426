//! Signing in to Microsoft Entra ID: every credential (client secret, certificate, assertion,
//! device code, managed identity and its sources, the environment) against strict fakes of
//! Entra and the managed identity endpoints, and the checks every token passes before use.

#[path = "../support/mod.rs"]
mod support;

mod assertion;
mod certificate;
mod client_secret;
mod device_code;
mod environment;
mod environment_once;
mod managed_identity;
mod managed_identity_sources;
mod token_checks;
