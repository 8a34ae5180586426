//! ClientAssertionCredential against a fake Entra: callback and file sources, re-reading the
//! file when it changes, refused input, and Entra's assertion errors.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::support::{
    aad_client, clock, entra_error_body, form_is, strict_server, token_body, CLIENT, POWERBI_SCOPE, TENANT, TOKEN_PATH,
};
use powerbi_embed::{ClientAssertionCredential, CredentialErrorKind, Error, Guid, Secret};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The assertion grant's form, exactly.
fn assertion_form(assertion: &str) -> crate::support::FormIs {
    form_is(&[
        ("client_id", CLIENT),
        ("grant_type", "client_credentials"),
        ("scope", POWERBI_SCOPE),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ])
}

async fn mount_token_for(server: &MockServer, assertion: &str, token: &str) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(assertion_form(assertion))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(token, 3600)))
        .expect(1)
        .named(format!("token for assertion {assertion}"))
        .mount(server)
        .await;
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn with(contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("powerbi-embed-assertion-{}", Guid::new_random()));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }

    fn rewrite(&self, contents: &str) {
        std::fs::write(&self.0, contents).unwrap();
    }

    fn modified(&self) -> SystemTime {
        std::fs::metadata(&self.0).unwrap().modified().unwrap()
    }

    fn set_modified(&self, time: SystemTime) {
        std::fs::File::options().write(true).open(&self.0).unwrap().set_modified(time).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn a_callback_assertion_is_sent_with_the_exact_form_fields() {
    let server = strict_server().await;
    mount_token_for(&server, "assertion-from-callback", "at-callback").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let credential = ClientAssertionCredential::from_callback(TENANT, CLIENT, move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(Secret::new("assertion-from-callback"))
    })
    .unwrap();
    let token = aad_client(&server, credential, &clock()).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "at-callback");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_async_callback_is_awaited_for_each_request() {
    let server = strict_server().await;
    mount_token_for(&server, "assertion-1", "at-1").await;
    mount_token_for(&server, "assertion-2", "at-2").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let credential = ClientAssertionCredential::from_async_callback(TENANT, CLIENT, move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            tokio::task::yield_now().await;
            Ok(Secret::new(format!("assertion-{n}")))
        }
    })
    .unwrap();
    let clock = clock();
    let aad = aad_client(&server, credential, &clock);
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "at-1");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "at-2");
}

#[tokio::test]
async fn a_callback_error_is_returned_and_nothing_is_sent() {
    let server = strict_server().await;
    let credential = ClientAssertionCredential::from_callback(TENANT, CLIENT, || {
        Err(Error::credential_failure("oidc", CredentialErrorKind::Other, "issuer unreachable"))
    })
    .unwrap();
    let err = aad_client(&server, credential, &clock()).token().await.unwrap_err();
    assert!(matches!(err, Error::Credential { credential: "oidc", kind: CredentialErrorKind::Other, .. }), "{err:?}");
    assert_eq!(err.to_string(), "oidc credential: issuer unreachable");
}

#[tokio::test]
async fn an_empty_callback_assertion_names_client_assertion_and_nothing_is_sent() {
    let server = strict_server().await;
    let credential = ClientAssertionCredential::from_callback(TENANT, CLIENT, || Ok(Secret::new("  "))).unwrap();
    let err = aad_client(&server, credential, &clock()).token().await.unwrap_err();
    assert_eq!(err.field(), Some("client_assertion"), "{err}");
}

#[tokio::test]
async fn a_token_file_is_read_and_its_assertion_sent() {
    let server = strict_server().await;
    mount_token_for(&server, "assertion-from-file", "at-file").await;
    let file = TempFile::with("assertion-from-file\n"); // the trailing newline is not part of it
    let credential = ClientAssertionCredential::from_file(TENANT, CLIENT, &file.0).unwrap();
    let token = aad_client(&server, credential, &clock()).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "at-file");
}

#[tokio::test]
async fn a_rewritten_token_file_is_read_again() {
    let server = strict_server().await;
    mount_token_for(&server, "first-assertion", "at-1").await;
    mount_token_for(&server, "second-assertion-rotated", "at-2").await;
    let file = TempFile::with("first-assertion");
    let clock = clock();
    let aad = aad_client(&server, ClientAssertionCredential::from_file(TENANT, CLIENT, &file.0).unwrap(), &clock);
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "at-1");

    file.rewrite("second-assertion-rotated");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "at-2");
}

#[tokio::test]
async fn a_same_length_rewrite_is_seen_through_its_new_modification_time() {
    let server = strict_server().await;
    mount_token_for(&server, "assertion-AAAA", "at-1").await;
    mount_token_for(&server, "assertion-BBBB", "at-2").await;
    let file = TempFile::with("assertion-AAAA");
    let first_modified = file.modified();
    let clock = clock();
    let aad = aad_client(&server, ClientAssertionCredential::from_file(TENANT, CLIENT, &file.0).unwrap(), &clock);
    aad.token().await.unwrap();

    file.rewrite("assertion-BBBB");
    file.set_modified(first_modified + Duration::from_secs(5));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "at-2");
}

#[tokio::test]
async fn an_unchanged_token_file_is_not_read_again() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(assertion_form("assertion-AAAA"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("at", 3600)))
        .expect(2)
        .mount(&server)
        .await;
    let file = TempFile::with("assertion-AAAA");
    let clock = clock();
    let aad = aad_client(&server, ClientAssertionCredential::from_file(TENANT, CLIENT, &file.0).unwrap(), &clock);
    aad.token().await.unwrap();

    // Same length and, restored, the same modification time: the cached assertion is used, so
    // the new contents are not seen (this is the cost of not reading the file every time).
    let modified = file.modified();
    file.rewrite("assertion-BBBB");
    file.set_modified(modified);
    clock.advance(Duration::from_secs(3600));
    aad.token().await.unwrap();
}

#[tokio::test]
async fn an_empty_or_missing_token_file_names_token_file_and_nothing_is_sent() {
    let server = strict_server().await;
    let clock = clock();
    for contents in ["", " \n"] {
        let file = TempFile::with(contents);
        let credential = ClientAssertionCredential::from_file(TENANT, CLIENT, &file.0).unwrap();
        let err = aad_client(&server, credential, &clock).token().await.unwrap_err();
        assert_eq!(err.field(), Some("token_file"), "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
    }
    let missing = std::env::temp_dir().join(format!("powerbi-embed-missing-{}", Guid::new_random()));
    let credential = ClientAssertionCredential::from_file(TENANT, CLIENT, &missing).unwrap();
    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();
    assert_eq!(err.field(), Some("token_file"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[test]
fn bad_ids_and_an_empty_path_are_refused_when_building() {
    let ok = || Ok(Secret::new("a"));
    assert_eq!(ClientAssertionCredential::from_callback("common", CLIENT, ok).unwrap_err().field(), Some("tenant_id"));
    assert_eq!(ClientAssertionCredential::from_callback(TENANT, "app", ok).unwrap_err().field(), Some("client_id"));
    assert_eq!(ClientAssertionCredential::from_file(TENANT, CLIENT, "").unwrap_err().field(), Some("token_file"));
}

#[tokio::test]
async fn an_assertion_outside_its_time_window_is_a_typed_entra_error_with_a_hint() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(assertion_form("stale-assertion"))
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body("invalid_client", 700024)))
        .expect(1)
        .mount(&server)
        .await;
    let credential =
        ClientAssertionCredential::from_callback(TENANT, CLIENT, || Ok(Secret::new("stale-assertion"))).unwrap();
    let err = aad_client(&server, credential, &clock()).token().await.unwrap_err();
    let entra = err.as_entra().expect("an Entra error");
    assert_eq!(entra.error_codes, [700024]);
    assert_eq!(entra.error, "invalid_client");
    assert!(err.hint().unwrap().contains("clock"), "{err}");
    assert!(!format!("{err:?} {err}").contains("stale-assertion"));
}

#[tokio::test]
async fn debug_shows_neither_the_callback_assertion_nor_the_file_contents() {
    let file = TempFile::with("file-assertion-value");
    let from_file = ClientAssertionCredential::from_file(TENANT, CLIENT, &file.0).unwrap();
    let from_callback =
        ClientAssertionCredential::from_callback(TENANT, CLIENT, || Ok(Secret::new("callback-assertion-value")))
            .unwrap();

    // After a request the file's assertion is cached inside the credential: still not printed.
    let server = strict_server().await;
    mount_token_for(&server, "file-assertion-value", "at").await;
    let aad = aad_client(&server, from_file, &clock());
    aad.token().await.unwrap();

    let debug = format!("{aad:?} {aad:#?} {from_callback:?} {from_callback:#?}");
    assert!(!debug.contains("assertion-value"), "{debug}");
    assert!(debug.contains("ClientAssertionCredential") && debug.contains(CLIENT), "{debug}");
}
