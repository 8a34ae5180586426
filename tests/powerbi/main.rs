//! The Power BI API: the client, views and handles against strict fakes (exact paths, headers
//! and bodies), the request builders and their rules, request bodies against Microsoft's
//! published schema, parsers against recorded live answers, error hints, and the built-in fake.

#[path = "../support/mod.rs"]
mod support;

mod client;
mod hints;
mod live_corpus;
mod request_builders;
mod request_schema;
mod scenarios;
mod tenancy;
mod testing_fake;
mod views;
