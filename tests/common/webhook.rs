//! A loopback webhook receiver: answers the statuses it is given and keeps
//! every JSON body it gets, for the alert tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The secret part of the receiver's URL, as a Slack webhook carries one.
pub const TOKEN: &str = "XOXB-SECRET-TOKEN-55";

/// A receiver that answers the statuses given, in order (then 200), and
/// keeps every body it got.
pub struct Receiver {
    pub port: u16,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    pub fn start(statuses: &[u16]) -> Receiver {
        let port = super::s3::free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let mut statuses: Vec<u16> = statuses.to_vec();
        statuses.reverse();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                kept.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                let status = statuses.pop().unwrap_or(200);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { port, bodies }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/services/T0/B0/{TOKEN}", self.port)
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}
