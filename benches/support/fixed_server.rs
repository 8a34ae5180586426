//! A minimal HTTP/1.1 server on loopback that answers every request with one fixed response.
//!
//! The benches measure the client, so the fake must cost as little as possible: wiremock
//! matches, records and logs each request, which costs more than the SDK itself. This server
//! reads a request (head plus `Content-Length` body), optionally sleeps, writes pre-rendered
//! bytes and keeps the connection open for the next request. It runs on its own thread and
//! runtime so its work and allocations never mix with the client's under measurement.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A running fixed-response server; stopped when dropped.
pub struct FixedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    /// The complete response: status line, headers and body.
    response: Vec<u8>,
    /// How long to wait before answering, to stand in for a real service's latency.
    delay: Duration,
    requests: AtomicUsize,
    /// While set, the raw bytes of each request are kept (to prove two clients send the same).
    recording: AtomicBool,
    recorded: Mutex<Vec<Vec<u8>>>,
}

impl FixedServer {
    /// Serves `200 OK` with the JSON `body` (and a `RequestId` header, as Power BI sends) on
    /// an ephemeral loopback port, after `delay`.
    pub fn start(body: &str, delay: Duration) -> Self {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("bound address");
        let shared = Arc::new(Shared {
            response: render_response(body),
            delay,
            requests: AtomicUsize::new(0),
            recording: AtomicBool::new(false),
            recorded: Mutex::new(Vec::new()),
        });
        let (shutdown, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("fixed-server".into())
            .spawn({
                let shared = shared.clone();
                move || run(listener, shared, stopped)
            })
            .expect("spawn the server thread");
        Self { addr, shared, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests have been answered or are being answered.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Starts keeping the raw bytes of every request.
    pub fn start_recording(&self) {
        self.shared.recording.store(true, Ordering::SeqCst);
    }

    /// Stops recording and returns what was recorded.
    pub fn take_recorded(&self) -> Vec<Vec<u8>> {
        self.shared.recording.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.shared.recorded.lock().unwrap())
    }
}

impl Drop for FixedServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn render_response(body: &str) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n\
         requestid: 8c5c7d3e-0000-4000-8000-000000000001\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body.as_bytes()].concat()
}

/// The server thread: one single-threaded runtime accepting until told to stop. Dropping the
/// runtime at the end cancels the connection tasks.
fn run(listener: StdListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("server runtime");
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    tokio::spawn(serve(stream, shared.clone()));
                }
            }
        }
    });
}

/// Answers the requests of one keep-alive connection until the client closes it.
async fn serve(mut stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let len = loop {
            if let Some(len) = complete_request_len(&buf)? {
                break len;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        shared.requests.fetch_add(1, Ordering::SeqCst);
        if shared.recording.load(Ordering::Relaxed) {
            shared.recorded.lock().unwrap().push(buf[..len].to_vec());
        }
        buf.drain(..len);
        if !shared.delay.is_zero() {
            tokio::time::sleep(shared.delay).await;
        }
        stream.write_all(&shared.response).await?;
    }
}

/// The length of the first request in `buf` once all of it has arrived: the head plus a
/// `Content-Length` body (every client here sends in-memory bodies, which reqwest always sends
/// with a length, never chunked). A malformed request ends the connection.
fn complete_request_len(buf: &[u8]) -> io::Result<Option<usize>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let body_len = match request.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")) {
        Some(header) => std::str::from_utf8(header.value)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?,
        None => 0,
    };
    let total = head_len + body_len;
    Ok((buf.len() >= total).then_some(total))
}
