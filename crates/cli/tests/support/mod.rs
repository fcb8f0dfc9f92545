//! Test support: runs the real `berth` binary on a free loopback port with its own data
//! directory, waits until it answers, and stops it (gracefully or with SIGKILL) on demand.
//!
//! Every integration test talks to a real server process over HTTP, the way clients do.
//! Authentication is on unless a test passes `--auth none`: the server creates the
//! principal `owner` at first start, and [`Server::credentials`] reads its password from
//! the data directory so that tests act as the registry owner.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `berth serve` process.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub data_dir: PathBuf,
    extra_args: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server with a fresh temporary data directory.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with a fresh temporary data directory and extra `berth serve`
    /// arguments.
    pub fn start_with(extra_args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut server = Server::start_in(tmp.path(), extra_args);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on `data_dir` with extra `berth serve` arguments.
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> Server {
        let mut server = Server {
            child: None,
            addr: free_addr(),
            base: String::new(),
            data_dir: data_dir.to_path_buf(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            _tmp: None,
        };
        server.spawn();
        server
    }

    fn tls(&self) -> bool {
        self.extra_args.iter().any(|arg| arg == "--tls-cert")
    }

    fn spawn(&mut self) {
        let scheme = if self.tls() { "https" } else { "http" };
        self.base = format!("{scheme}://{}", self.addr);
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.addr.to_string())
            .args(&self.extra_args)
            .env("BERTH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn berth");
        self.child = Some(child);
        self.wait_ready();
    }

    /// The server's log so far (stderr), for assertions and failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Inside the data directory, so it goes away with it; appended across restarts.
    fn log_path(&self) -> PathBuf {
        self.data_dir.join("server.log")
    }

    /// `127.0.0.1:PORT`, the form container clients use as a registry host.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Where the server writes the owner's password at first start.
    pub fn owner_password_path(&self) -> PathBuf {
        self.data_dir.join("owner-password")
    }

    /// The password of the principal `owner`; panics when the server wrote none.
    pub fn owner_password(&self) -> String {
        let path = self.owner_password_path();
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.log()))
            .trim()
            .to_string()
    }

    /// `("owner", password)` when authentication is on, `None` with `--auth none`.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.owner_password_path()
            .exists()
            .then(|| ("owner".to_string(), self.owner_password()))
    }

    /// The owner's `Authorization` header value, `None` with `--auth none`.
    pub fn authorization(&self) -> Option<String> {
        self.credentials()
            .map(|(user, password)| basic_authorization(&user, &password))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("berth exited early with {status}:\n{}", self.log());
            }
            // Over TLS the listener accepting connections is the readiness signal; the
            // test itself then speaks HTTPS with a real client.
            // `/v2/` answers 200 without authentication and 401 with it; either means
            // the server is up.
            let ready = if self.tls() {
                TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            } else {
                matches!(http_status(self.addr, "/v2/"), Some(200 | 401))
            };
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("berth did not become ready in 30 s:\n{}", self.log());
    }

    /// SIGKILL: the process dies at whatever instant it is at.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a graceful exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the server again on the same data directory and a new port.
    pub fn restart(&mut self) {
        self.kill9();
        self.addr = free_addr();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `Basic base64(user:password)`, an `Authorization` header value.
pub fn basic_authorization(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Minimal blocking GET that returns the status code, for readiness polling.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}
