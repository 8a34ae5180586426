//! Servers that misbehave below HTTP, for the fault tests: a port nobody listens on, a server
//! that accepts and never answers, and one that cuts its answer short. Each counts the
//! connections it accepted, which is the attempt count a test asserts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The timeout of the HTTP client in the tests that need one to fire.
pub const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

/// How long any fault test may take before it counts as hung.
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// A base URL on loopback where nothing listens: bound once to get a free port, then released.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// An HTTP client like the crate's default (no redirects) but with a short overall timeout.
pub fn short_timeout_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(SHORT_TIMEOUT)
        .build()
        .expect("test HTTP client")
}

/// A raw TCP server on loopback.
pub struct RawServer {
    pub url: String,
    accepted: Arc<AtomicUsize>,
}

impl RawServer {
    /// Accepts connections and holds them open without ever writing a byte.
    pub async fn never_answers() -> Self {
        Self::start(|socket| async move {
            // Keep the socket alive for longer than any test; the runtime drops it at the end.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(socket);
        })
        .await
    }

    /// Reads each request, answers `200` with JSON headers that announce a body of
    /// `declared_len` bytes, writes only `partial`, and closes the connection.
    pub async fn cuts_the_body(declared_len: usize, partial: &'static str) -> Self {
        assert!(partial.len() < declared_len, "the body must be cut short");
        Self::start(move |mut socket| async move {
            read_request(&mut socket).await;
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared_len}\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(partial.as_bytes()).await;
            let _ = socket.flush().await;
            let _ = socket.shutdown().await;
        })
        .await
    }

    async fn start<F, Fut>(handle: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(handle(socket));
            }
        });
        Self { url, accepted }
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Reads one request (head and `Content-Length` body), so that closing the socket afterwards
/// sends a clean FIN rather than a reset for unread data.
pub async fn read_request(socket: &mut TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let body_len = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + body_len {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}
