//! A real S3-compatible server on loopback for the tests: moto's server
//! (PyPI `moto[server]`, which `.ci/run` installs), one per test, stopped
//! when the test ends. Its REST API answers as S3 does; requests are read
//! back with plain HTTP (moto does not check signatures unless asked).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY_ID: &str = "AKIALIFEBOATTEST";
pub const SECRET: &str = "s3cr3t-Lifeboat-Test-Key/1234567890";

/// Ports for the tests' servers: 55500-55599, taken while free.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let start = (std::process::id() % 100) as u16;
    for _ in 0..100 {
        let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = 55500 + (start + i) % 100;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 55500-55599");
}

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// Starts a server; `auth` makes it check credentials (and know none).
    pub fn start(auth: bool) -> Moto {
        let port = free_port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        // SAFETY: prctl only asks the kernel to kill the server when the
        // test thread that started it is gone, even after a panic.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("moto_server runs (python3 -m pip install --user 'moto[server]'; .ci/run installs it)");
        let moto = Moto { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP request; the status line and headers, and the body.
    /// It carries an Authorization header that moto takes without checking
    /// (it refuses anonymous reads of objects).
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (String, Vec<u8>) {
        let auth = format!(
            "Authorization: AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\n"
        );
        http_with(self.port, method, path, &auth, body)
    }

    pub fn create_bucket(&self, bucket: &str) {
        let (head, _) = self.request("PUT", &format!("/{bucket}"), b"");
        assert!(head.starts_with("HTTP/1.1 200"), "creating bucket {bucket}: {head}");
    }

    /// Every key in a bucket, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let (_, body) = self.request("GET", &format!("/{bucket}?list-type=2"), b"");
        let body = String::from_utf8_lossy(&body);
        let mut keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect();
        keys.sort();
        keys
    }

    /// A header of an object, as HEAD answers it.
    pub fn header(&self, bucket_key: &str, name: &str) -> Option<String> {
        let (head, _) = self.request("HEAD", &format!("/{bucket_key}"), b"");
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"').to_string())
        })
    }

    pub fn put_file(&self, bucket_key: &str, file: &Path) {
        let (head, _) = self.request("PUT", &format!("/{bucket_key}"), &std::fs::read(file).unwrap());
        assert!(head.starts_with("HTTP/1.1 200"), "uploading {bucket_key}: {head}");
    }

    /// The environment lifeboat needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to a loopback port, read to its end.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (String, Vec<u8>) {
    http_with(port, method, path, "", body)
}

/// The same, with extra header lines (each ending in CRLF).
pub fn http_with(port: u16, method: &str, path: &str, headers: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(all.len());
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    (head, all[split..].to_vec())
}

/// A TCP relay that passes at most `bytes_per_second` from the client to
/// the server: an upload through it takes long enough to be interrupted.
pub fn slow_relay(to_port: u16, bytes_per_second: usize) -> u16 {
    let port = free_port();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(("127.0.0.1", to_port)) else {
                continue;
            };
            let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; bytes_per_second / 10];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}
