//! Property tests: the request builders against an independent model of the documented rules,
//! and the parsers (GUIDs, Entra token responses, GenerateToken responses, Power BI errors, item
//! lookups, Retry-After) against arbitrary and almost-right input.
//!
//! Case counts (each overridable with the environment variable `PROPTEST_CASES`):
//! - builders (V1, V2) and `Guid` parsing: 256 cases per property;
//! - parsers behind HTTP (Entra success and error bodies, GenerateToken replies, lookups, retry
//!   sequences): 64 cases per property, since every case is a round trip to a wiremock server;
//! - the generator check samples 400 V1 and 400 V2 inputs (not a property: it proves the
//!   builder properties see valid and invalid inputs and every rule broken).
//!
//! Inputs that once failed are kept as named tests beside their property (`..._is_ignored`,
//! `..._reaches_power_bi`, `..._ends_the_retries`), so they are checked on every run whatever
//! the random seed.

#[path = "../support/mod.rs"]
mod support;

mod builders;
mod entra;
mod generate_token;
mod guids;
mod limits;
mod lookups;
mod model;
mod replies;
mod strategies;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use powerbi_embed::{
    AadClient, ClientSecretCredential, Clock, DashboardId, DatasetId, DatasourceIdentity, DatasourceSelector,
    EffectiveIdentity, Error, GenerateTokenRequest, GenerateTokenRequestBuilder, GenerateTokenRequestV2, Guid,
    ManualClock, PowerBiClient, ProfileId, ReportId, RetryPolicy, StaticTokenCredential, TileId, TokenKind,
    WorkspaceId, XmlaPermissions,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use support::schema::*;
use support::*;
use time::macros::datetime;
use time::OffsetDateTime;
use wiremock::matchers::{any as any_request, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use entra::*;
use generate_token::*;
use model::*;
use replies::*;
use strategies::*;

/// Cases per property: `PROPTEST_CASES` if set, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub(crate) fn config(default_cases: u32) -> Config {
    // No regression files: a failure prints the minimal input, which goes into a named test.
    Config { cases: cases(default_cases), failure_persistence: None, ..Config::default() }
}

pub(crate) const BUILDER_CASES: u32 = 256;
pub(crate) const HTTP_CASES: u32 = 64;
