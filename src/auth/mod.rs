//! Signing in to Microsoft Entra ID: the [`TokenCredential`] trait, the providers that implement
//! it, and [`AadClient`], which caches their tokens.

pub(crate) mod assertion;
pub(crate) mod certificate;
pub(crate) mod client;
pub(crate) mod client_secret;
pub(crate) mod credential;
pub(crate) mod device_code;
pub(crate) mod entra;
pub(crate) mod environment;
pub(crate) mod jwt;
pub(crate) mod managed_identity;
pub(crate) mod refresh_token;
pub(crate) mod static_token;
pub(crate) mod token;
pub(crate) mod user_password;

pub use assertion::ClientAssertionCredential;
pub use certificate::{AssertionAlgorithm, ClientCertificateCredential};
pub use client::{AadClient, AadClientBuilder};
pub use client_secret::ClientSecretCredential;
pub use credential::{EntraEndpoint, TokenCredential, TokenRequestContext};
pub use device_code::{DeviceCodeCredential, DeviceCodePrompt};
pub use environment::{CloudSettings, EnvironmentCredential, EnvironmentCredentialKind};
pub use managed_identity::{ManagedIdentityCredential, ManagedIdentityId};
pub use static_token::StaticTokenCredential;
pub use token::AccessToken;
pub use user_password::UsernamePasswordCredential;
