//! A cold stampede: 1,000 concurrent callers on a cold cache make exactly one Entra token
//! request and all get the same token. This is the scenario `benches/stampede.rs` times, run
//! against the same minimal fake (whose request counter is exact) with the same 2 ms delay.

// The benches' support files, shared so the test checks the very fake the bench times; this
// test uses only part of them.
#[allow(dead_code)]
#[path = "../../benches/support/fixed_server.rs"]
mod fixed_server;
#[allow(dead_code)]
#[path = "../../benches/support/fixtures.rs"]
mod fixtures;

use std::time::Duration;

use fixed_server::FixedServer;
use fixtures::{entra_token_body, long_token, CLIENT, TENANT};
use powerbi_embed::{AadClient, ClientSecretCredential};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_cold_callers_make_one_token_request_and_share_its_token() {
    let entra = FixedServer::start(&entra_token_body(), Duration::from_millis(2));
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "secret").unwrap())
        .authority_host(entra.uri())
        .build()
        .unwrap();

    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let aad = aad.clone();
            tokio::spawn(async move { aad.token().await })
        })
        .collect();
    let mut tokens = Vec::with_capacity(callers.len());
    for caller in callers {
        tokens.push(caller.await.unwrap().unwrap());
    }

    assert_eq!(entra.requests(), 1, "the Entra fake saw exactly one token request");
    let expected = long_token("entra");
    assert!(tokens.iter().all(|t| t.secret().expose_secret() == expected), "every caller got the same token");
}
