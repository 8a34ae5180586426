//! Real `redis-server` processes for the Redis tests: each test starts its own on a free
//! loopback port, with no persistence, in a scratch directory, and the guard kills it on drop.
//! TLS servers get a CA and certificates made at run time ([`TestPki`]); they listen on a plain
//! port too, which only the tests' own inspection uses.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// One `redis-server` on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    /// The TLS port, for servers started with [`start_tls`](Self::start_tls).
    pub tls_port: Option<u16>,
    child: Option<Child>,
    dir: PathBuf,
    extra: Vec<String>,
}

impl RedisServer {
    /// A standalone server on a free port.
    pub fn start() -> Self {
        Self::start_with(free_port(), &[])
    }

    /// A server on `port` with extra arguments (e.g. cluster mode).
    pub fn start_with(port: u16, extra: &[&str]) -> Self {
        let mut server = Self::stopped(port, extra);
        server.restart();
        server
    }

    /// A server on `port` that is not running yet: [`restart`](Self::restart) starts it.
    pub fn stopped(port: u16, extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("powerbi-embed-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory for redis-server");
        Self { port, tls_port: None, child: None, dir, extra: extra.iter().map(|s| s.to_string()).collect() }
    }

    /// A server with TLS on a second free port, presenting `leaf` (made by `pki`), asking no
    /// client certificate unless `extra` says `--tls-auth-clients yes`.
    pub fn start_tls(pki: &TestPki, leaf: &Leaf, extra: &[&str]) -> Self {
        let tls_port = free_port();
        let mut args: Vec<String> = vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            leaf.cert_path.display().to_string(),
            "--tls-key-file".into(),
            leaf.key_path.display().to_string(),
            "--tls-ca-cert-file".into(),
            pki.ca_path().display().to_string(),
        ];
        if !extra.contains(&"--tls-auth-clients") {
            args.extend(["--tls-auth-clients".into(), "no".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = Self::stopped(free_port(), &args);
        server.tls_port = Some(tls_port);
        server.restart();
        server
    }

    /// `rediss://<host>:<tls port>`.
    pub fn tls_url(&self, host: &str) -> String {
        format!("rediss://{host}:{}", self.tls_port.expect("a TLS server"))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL: no goodbye to its clients) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted) and waits for
    /// `PING` to answer.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server could not start ({e}); these tests need it: apt-get install redis-server")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer PING within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        // A server with a password answers `-NOAUTH`: it is up all the same.
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && (&reply == b"+PONG\r\n" || &reply == b"-NOAUTH")
    }

    /// A plain synchronous client, independent of the crate's store.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).and_then(|c| c.get_connection()).expect("a plain redis connection")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every key on a server with its raw value (`SCAN` + `GET`; only string keys are expected).
pub fn dump(connection: &mut redis::Connection) -> Vec<(String, Vec<u8>)> {
    let mut cursor = 0u64;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(1000).query(connection).expect("SCAN");
        for key in keys {
            let value: Vec<u8> = redis::cmd("GET").arg(&key).query(connection).expect("GET");
            out.push((key, value));
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    out.sort();
    out
}

/// A CA made at run time, and the leaf certificates it signs, as files in a scratch directory.
pub struct TestPki {
    dir: PathBuf,
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, as PEM and as files.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl TestPki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "powerbi-embed-pki-{}-{}-{name}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory for the test CA");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("powerbi-embed test CA {name}"));
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let issuer = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), issuer.pem()).unwrap();
        Self { dir, issuer }
    }

    /// The CA certificate's file.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (host names, or IP addresses for IP SANs), saved as
    /// `<label>.pem` and `<label>.key`.
    pub fn leaf(&self, label: &str, names: &[&str]) -> Leaf {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names.first().copied().unwrap_or(label));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (self.dir.join(format!("{label}.pem")), self.dir.join(format!("{label}.key")));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), cert_path, key_path }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three cluster-mode servers over TLS presenting `leaf` (`--tls-cluster yes`: clients and the
/// cluster bus on the TLS ports, which is what `CLUSTER SLOTS` announces to a TLS client),
/// joined into one cluster over their plain ports (`CLUSTER ADDSLOTSRANGE`, `CLUSTER MEET`),
/// waiting until every node reports `cluster_state:ok`.
pub fn start_tls_cluster(pki: &TestPki, leaf: &Leaf) -> Vec<RedisServer> {
    let nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            RedisServer::start_tls(
                pki,
                leaf,
                &[
                    "--tls-cluster",
                    "yes",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ],
            )
        })
        .collect();
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    for (node, (first, last)) in nodes.iter().zip(ranges) {
        let _: () = redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(first)
            .arg(last)
            .query(&mut node.client())
            .expect("ADDSLOTSRANGE");
    }
    let mut first = nodes[0].client();
    for node in &nodes[1..] {
        let _: () = redis::cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(node.tls_port.unwrap())
            .query(&mut first)
            .expect("CLUSTER MEET");
    }
    wait_cluster_ok(&nodes);
    nodes
}

fn wait_cluster_ok(nodes: &[RedisServer]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in nodes {
        let mut connection = node.client();
        loop {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut connection).expect("CLUSTER INFO");
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok within 30 s: {info}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Three cluster-mode servers joined into one cluster (`redis-cli --cluster create`), waiting
/// until every node reports `cluster_state:ok`.
pub fn start_cluster() -> Vec<RedisServer> {
    let nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            RedisServer::start_with(
                free_port(),
                &["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"],
            )
        })
        .collect();
    let output = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    assert!(output.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&output.stdout));
    wait_cluster_ok(&nodes);
    nodes
}

/// `MONITOR` on a server, from a thread of its own: which client addresses sent `AUTH` (or
/// `HELLO ... AUTH`) and when this process read the line. Stops when the server goes away or
/// the monitor is dropped.
pub struct Monitor {
    auths: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    /// Monitors the server on `port` (plain TCP), authenticating as `user`/`password`.
    pub fn start(port: u16, user: &str, password: &str) -> Self {
        use std::io::{BufRead, BufReader};
        use std::sync::atomic::Ordering;
        let auths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("a monitor connection");
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        write!(stream, "AUTH {user} {password}\r\nMONITOR\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        for _ in 0..2 {
            line.clear();
            reader.read_line(&mut line).expect("AUTH and MONITOR answer");
            assert_eq!(line, "+OK\r\n", "monitor set-up");
        }
        let (seen, stopped) = (auths.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut line = String::new();
            while !stopped.load(Ordering::Relaxed) {
                match reader.read_line(&mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if line.contains("\"AUTH\"") {
                            if let Some(addr) =
                                line.split_once(" [").and_then(|(_, r)| r.split_once(']')).map(|(a, _)| a)
                            {
                                let addr = addr.split_once(' ').map_or(addr, |(_, a)| a).to_owned();
                                seen.lock().unwrap().push((Instant::now(), addr));
                            }
                        }
                        line.clear();
                    }
                    // Read time-outs: look at the stop flag again (a partial line stays in `line`).
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
        });
        Self { auths, stop, thread: Some(thread) }
    }

    /// The client addresses that authenticated after `since`.
    pub fn auths_since(&self, since: Instant) -> Vec<String> {
        self.auths.lock().unwrap().iter().filter(|(at, _)| *at > since).map(|(_, addr)| addr.clone()).collect()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `addr` and `user` of every client connection (`CLIENT LIST`), but the caller's own.
pub fn clients(connection: &mut redis::Connection) -> Vec<(String, String)> {
    let me: i64 = redis::cmd("CLIENT").arg("ID").query(connection).unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(connection).unwrap();
    list.lines()
        .filter(|line| !line.starts_with(&format!("id={me} ")))
        .filter(|line| !line.contains(" cmd=monitor "))
        .map(|line| {
            let field = |name: &str| {
                line.split(' ').find_map(|f| f.strip_prefix(&format!("{name}="))).unwrap_or_default().to_owned()
            };
            (field("addr"), field("user"))
        })
        .collect()
}

/// One Redis Sentinel process (`redis-server <conf> --sentinel`) watching `master` on
/// 127.0.0.1 as `mymaster`, killed when dropped.
pub struct SentinelProcess {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl SentinelProcess {
    pub fn start(master_port: u16) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("powerbi-embed-sentinel-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\n\
                 sentinel parallel-syncs mymaster 1\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "sentinel on port {port} did not answer PING within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child, dir }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).and_then(|c| c.get_connection()).expect("a sentinel connection")
    }

    /// The port of the master this Sentinel names now.
    pub fn master_port(&self) -> u16 {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg("mymaster")
            .query(&mut self.client())
            .expect("SENTINEL GET-MASTER-ADDR-BY-NAME");
        port
    }
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
