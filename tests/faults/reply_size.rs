//! The reply-size cap, measured in allocated bytes: a loopback server streams a 1 GiB reply (from
//! one static 64 KiB block, so the server itself holds almost nothing), and the process's
//! allocations may grow by no more than the cap plus a few MiB while the client reads it.
//!
//! This binary has its own counting global allocator, so its tests take turns (`SERIAL`): a test
//! allocating on another thread would blur the peak that the others read.

#[path = "../support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use powerbi_embed::{AadClient, ClientSecretCredential, Error, PowerBiClient, StaticTokenCredential};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use support::faults::read_request;
use support::ids::{CLIENT, REPORT, TENANT, WORKSPACE};

/// Counts the bytes currently allocated and the highest count since the last reset.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Counted as the new block arriving before the old one leaves, which is what a
            // moving realloc costs at its peak.
            let now = CURRENT.fetch_add(new_size, Ordering::SeqCst) + new_size;
            PEAK.fetch_max(now, Ordering::SeqCst);
            CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

const MIB: usize = 1024 * 1024;
const GIB: u64 = 1024 * 1024 * 1024;
/// The crate's default cap.
const DEFAULT_CAP: usize = 4 * MIB;
/// What the rest of one call may allocate on top of the body: the runtime, hyper's buffers, the
/// connection. Generous, and still far below the 1 GiB that arrives.
const SLACK: usize = 4 * MIB;

/// Runs `call` and returns its output and how far allocations rose above where they stood.
async fn peak_growth<T>(call: impl std::future::Future<Output = T>) -> (T, usize) {
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = call.await;
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(before))
}

/// How the server answers every request.
#[derive(Clone, Copy)]
enum Answer {
    /// `200`, JSON, chunked, 1 GiB of spaces: no length announced, so only reading can tell.
    ChunkedGib,
    /// `200`, JSON, `Content-Length: 1 GiB`, then the same stream.
    DeclaredGib,
    /// `200`, JSON, this exact body with a `Content-Length`.
    Body(&'static str),
}

/// A loopback server answering every request the same way; it counts connections and the
/// body bytes it managed to write.
struct Server {
    url: String,
    connections: Arc<AtomicUsize>,
    written: Arc<AtomicU64>,
}

static BLOCK: [u8; 64 * 1024] = [b' '; 64 * 1024];

impl Server {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let (count, bytes) = (connections.clone(), written.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket, answer, bytes.clone()));
            }
        });
        Self { url, connections, written }
    }
}

async fn serve(mut socket: TcpStream, answer: Answer, written: Arc<AtomicU64>) {
    read_request(&mut socket).await;
    let json = "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n";
    match answer {
        Answer::Body(body) => {
            let reply = format!("{json}Content-Length: {}\r\n\r\n{body}", body.len());
            let _ = socket.write_all(reply.as_bytes()).await;
        }
        Answer::ChunkedGib => {
            if socket.write_all(format!("{json}Transfer-Encoding: chunked\r\n\r\n").as_bytes()).await.is_err() {
                return;
            }
            let chunk_head = format!("{:x}\r\n", BLOCK.len());
            while written.load(Ordering::SeqCst) < GIB {
                let sent = async {
                    socket.write_all(chunk_head.as_bytes()).await?;
                    socket.write_all(&BLOCK).await?;
                    socket.write_all(b"\r\n").await
                };
                if sent.await.is_err() {
                    return; // the client hung up: exactly what it should do
                }
                written.fetch_add(BLOCK.len() as u64, Ordering::SeqCst);
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        }
        Answer::DeclaredGib => {
            if socket.write_all(format!("{json}Content-Length: {GIB}\r\n\r\n").as_bytes()).await.is_err() {
                return;
            }
            while written.load(Ordering::SeqCst) < GIB {
                if socket.write_all(&BLOCK).await.is_err() {
                    return;
                }
                written.fetch_add(BLOCK.len() as u64, Ordering::SeqCst);
            }
        }
    }
    let _ = socket.flush().await;
}

fn aad(authority: &str, cap: Option<usize>) -> AadClient {
    let builder = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "reply-size-secret").unwrap())
        .authority_host(authority);
    match cap {
        Some(cap) => builder.max_response_bytes(cap),
        None => builder,
    }
    .build()
    .unwrap()
}

fn too_large_reason(error: &Error, cap: usize) {
    let Error::UnexpectedResponse(e) = error else { panic!("expected UnexpectedResponse, got {error:?}") };
    assert_eq!(e.service, "Entra ID");
    assert_eq!(e.status, 200);
    assert_eq!(e.reason, format!("the reply body is larger than the {cap}-byte limit (max_response_bytes)"));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_chunked_gigabyte_token_reply_is_cut_off_at_the_default_cap() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    runtime().block_on(async {
        let server = Server::start(Answer::ChunkedGib).await;
        let aad = aad(&server.url, None);
        let (outcome, growth) = peak_growth(aad.token()).await;
        too_large_reason(&outcome.unwrap_err(), DEFAULT_CAP);
        assert!(growth <= DEFAULT_CAP + SLACK, "allocations rose by {} MiB", growth / MIB);
        // Refused once, not retried: the same request would get the same answer.
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
        // The client stopped reading: what the server got out is the cap plus what the socket
        // buffers took, nowhere near 1 GiB.
        let written = server.written.load(Ordering::SeqCst);
        assert!(written < (DEFAULT_CAP + 64 * MIB) as u64, "the server wrote {} MiB", written / MIB as u64);
    });
}

#[test]
fn a_smaller_configured_cap_bounds_allocations_lower() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    runtime().block_on(async {
        let server = Server::start(Answer::ChunkedGib).await;
        let cap = MIB;
        let aad = aad(&server.url, Some(cap));
        let (outcome, growth) = peak_growth(aad.token()).await;
        too_large_reason(&outcome.unwrap_err(), cap);
        assert!(growth <= cap + SLACK, "allocations rose by {} MiB", growth / MIB);
    });
}

#[test]
fn a_declared_gigabyte_is_refused_before_its_body_is_read() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    runtime().block_on(async {
        let server = Server::start(Answer::DeclaredGib).await;
        let aad = aad(&server.url, None);
        let (outcome, growth) = peak_growth(aad.token()).await;
        too_large_reason(&outcome.unwrap_err(), DEFAULT_CAP);
        assert!(growth <= SLACK, "allocations rose by {} MiB", growth / MIB);
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    });
}

/// A GenerateToken body padded with whitespace (valid JSON) to exactly `len` bytes.
fn embed_body(len: usize) -> &'static str {
    let body = r#"{"token":"H4sI-embed","tokenId":"49ae3742-54c0-4c29-af52-619ff93b5c80","expiration":"2099-01-01T00:00:00Z"}"#;
    assert!(body.len() <= len);
    Box::leak(format!("{body}{}", " ".repeat(len - body.len())).into_boxed_str())
}

#[test]
fn the_power_bi_cap_is_configurable_and_inclusive() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    runtime().block_on(async {
        let cap = 2048;
        let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
        let powerbi = |server: &Server| {
            let aad = AadClient::new(StaticTokenCredential::new("entra-token", expires)).unwrap();
            PowerBiClient::builder(aad).api_base(server.url.clone()).max_response_bytes(cap).build().unwrap()
        };
        let request = powerbi_embed::GenerateTokenRequest::report_view().build().unwrap();

        let at_cap = Server::start(Answer::Body(embed_body(cap))).await;
        let token = powerbi(&at_cap).workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
        assert_eq!(token.token_id().to_string(), "49ae3742-54c0-4c29-af52-619ff93b5c80");

        let over = Server::start(Answer::Body(embed_body(cap + 1))).await;
        let error = powerbi(&over).workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap_err();
        let Error::UnexpectedResponse(e) = &error else { panic!("{error:?}") };
        assert_eq!((e.service, e.status), ("Power BI", 200));
        assert_eq!(e.reason, "the reply body is larger than the 2048-byte limit (max_response_bytes)");
        assert!(!error.to_string().contains("H4sI"), "{error}");
        assert_eq!(over.connections.load(Ordering::SeqCst), 1, "an oversized answer is not retried");
    });
}
