//! The Entra token cache: single flight per key, refresh ahead of expiry, fallback to the
//! cached token when renewal fails, keys independent of each other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use async_trait::async_trait;
use powerbi_embed::{
    AadClient, AccessToken, ClientSecretCredential, Clock, Error, ManualClock, RefreshPolicy, TokenCredential,
    TokenRequestContext,
};
use tokio::sync::Notify;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn credential() -> ClientSecretCredential {
    ClientSecretCredential::new(TENANT, CLIENT, "secret").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_cold_callers_cause_one_token_request() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_body("shared", 3600)).set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let aad = aad_client(&server, credential(), &clock());
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let aad = aad.clone();
            tokio::spawn(async move { aad.token().await })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap().secret().expose_secret(), "shared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_waiting_on_a_failed_request_share_its_error() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(entra_error_body("invalid_client", 7000215))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let aad = aad_client(&server, credential(), &clock());
    let callers: Vec<_> = (0..200)
        .map(|_| {
            let aad = aad.clone();
            tokio::spawn(async move { aad.token().await })
        })
        .collect();
    for caller in callers {
        let err = caller.await.unwrap().unwrap_err();
        assert_eq!(err.as_entra().unwrap().error_codes, vec![7000215]);
    }
}

#[tokio::test]
async fn token_is_renewed_five_minutes_before_expiry_and_not_before() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("first", 3600)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = aad_client(&server, credential(), &clock);
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "first");

    clock.advance(Duration::from_secs(3600 - 301));
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "first", "not yet due");

    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("second", 3600)))
        .expect(1)
        .mount(&server)
        .await;
    clock.advance(Duration::from_secs(2));
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "second", "due: renewed");
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "second");
}

#[tokio::test]
async fn configured_margin_and_refresh_in_are_honoured() {
    let server = strict_server().await;
    let mut body = token_body("with-refresh-in", 3600);
    body["refresh_in"] = serde_json::json!(600);
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(2)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = AadClient::builder(credential())
        .authority_host(server.uri())
        .clock(Arc::new(clock.clone()))
        .refresh_policy(RefreshPolicy::with_margin(Duration::from_secs(60)))
        .build()
        .unwrap();
    aad.token().await.unwrap();
    clock.advance(Duration::from_secs(599));
    aad.token().await.unwrap(); // cached: refresh_in (600 s) not reached
    clock.advance(Duration::from_secs(1));
    aad.token().await.unwrap(); // due by refresh_in: the second request
}

#[tokio::test]
async fn long_lived_tokens_renew_at_half_life() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("long", 4 * 3600)))
        .expect(2)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = aad_client(&server, credential(), &clock);
    aad.token().await.unwrap();
    clock.advance(Duration::from_secs(2 * 3600 - 1));
    aad.token().await.unwrap();
    clock.advance(Duration::from_secs(1));
    aad.token().await.unwrap();
}

#[tokio::test]
async fn failed_renewal_serves_the_still_valid_token() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("still-good", 3600)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = aad_client(&server, credential(), &clock);
    aad.token().await.unwrap();
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body("invalid_client", 7000222)))
        .expect(2)
        .mount(&server)
        .await;
    clock.advance(Duration::from_secs(3600 - 120));
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "still-good");
    // The failed renewal is not retried on every call...
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "still-good");
    // ...but again after a pause, and once the token has expired the error surfaces.
    clock.advance(Duration::from_secs(30));
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "still-good");
    clock.advance(Duration::from_secs(120));
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body("invalid_client", 7000222)))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    let err = aad.token().await.unwrap_err();
    assert_eq!(err.as_entra().unwrap().error_codes, vec![7000222]);
}

#[tokio::test]
async fn token_valid_for_renews_a_token_that_would_expire_too_soon() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("short", 600)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = aad_client(&server, credential(), &clock);
    aad.token().await.unwrap();
    clock.advance(Duration::from_secs(240)); // 6 minutes left
    let stale = aad.token_valid_for(Duration::from_secs(60)).await.unwrap();
    assert_eq!(stale.secret().expose_secret(), "short", "6 minutes cover a 1-minute need");
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("fresh", 3600)))
        .expect(1)
        .mount(&server)
        .await;
    let token = aad.token_valid_for(Duration::from_secs(3600 - 60)).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "fresh");
    assert_eq!(token.expires_on(), clock.now() + Duration::from_secs(3600));
}

/// A credential whose requests for the scope `slow` wait until released.
#[derive(Debug)]
struct GatedCredential {
    release: Arc<Notify>,
    calls: AtomicUsize,
}

#[async_trait]
impl TokenCredential for GatedCredential {
    fn cache_identity(&self) -> String {
        "gated".into()
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> powerbi_embed::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if ctx.scopes() == ["slow"] {
            self.release.notified().await;
        }
        Ok(AccessToken::new(format!("token-for-{}", ctx.scopes().join("+")), ctx.now() + time::Duration::hours(1)))
    }
}

#[tokio::test]
async fn a_slow_miss_on_one_key_never_blocks_another_key() {
    let release = Arc::new(Notify::new());
    let clock = ManualClock::starting_now();
    let aad = AadClient::builder(GatedCredential { release: release.clone(), calls: AtomicUsize::new(0) })
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let slow = tokio::spawn({
        let aad = aad.clone();
        async move { aad.token_for_scopes(&["slow"]).await }
    });
    tokio::task::yield_now().await;
    // While `slow` is still in flight, other keys are served.
    let fast = aad.token_for_scopes(&["fast", "b"]).await.unwrap();
    assert_eq!(fast.secret().expose_secret(), "token-for-b+fast", "scopes are sorted");
    assert_eq!(aad.token_for_scopes(&["b", "fast"]).await.unwrap().secret().expose_secret(), "token-for-b+fast");
    assert!(!slow.is_finished());
    release.notify_one();
    assert_eq!(slow.await.unwrap().unwrap().secret().expose_secret(), "token-for-slow");
}

#[tokio::test]
async fn empty_scopes_are_refused_before_any_request() {
    let aad = AadClient::new(credential()).unwrap();
    let err = aad.token_for_scopes::<&str>(&[]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }));
    assert_eq!(err.field(), Some("scopes"));
}

/// Asking for more life than Entra ever grants must not renew on every call (that would be a
/// request loop, AADSTS50196): the need is capped at what a recent token has.
#[tokio::test]
async fn asking_for_more_life_than_tokens_have_renews_at_most_once_a_minute() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("hour", 3600)))
        .expect(2)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = aad_client(&server, credential(), &clock);
    for _ in 0..10 {
        aad.token_valid_for(Duration::from_secs(2 * 3600)).await.unwrap();
    }
    clock.advance(Duration::from_secs(59));
    aad.token_valid_for(Duration::from_secs(2 * 3600)).await.unwrap();
    clock.advance(Duration::from_secs(2));
    // Now a fresh token would live over a minute longer than the cached one: renew, once.
    for _ in 0..10 {
        aad.token_valid_for(Duration::from_secs(2 * 3600)).await.unwrap();
    }
}
