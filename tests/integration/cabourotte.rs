//! A faithful stand-in for Cabourotte's result API (std only), built from its behaviour
//! at v1.19 and v2.3: both route layouts, the exact result JSON, both 404 bodies, and
//! faults a test can set per check. It counts requests per check, and can record when
//! each one came (for the benchmarks' inter-poll gaps).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// 2.x: /api/v1/result/<name>
    V2,
    /// 1.x: /result/<name>
    V1,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    Success,
    Failure(String),
    /// No result: 404 "result not found for healthcheck <name>".
    Absent,
    /// 500 Internal error.
    Error500,
    Garbage,
    /// Answer only after this long.
    Slow(Duration),
    /// A successful result whose timestamp is this many seconds old.
    Stale(u64),
    /// A 200 with a body of this many bytes.
    Huge(usize),
}

struct Shared {
    api: Api,
    checks: HashMap<String, Behavior>,
    counts: HashMap<String, u32>,
    /// Requests for a check's result, all checks together.
    requests: u64,
    /// When the first of them came.
    first: Option<Instant>,
    /// While set: when each request for a check's result came, per check.
    record: bool,
    times: HashMap<String, Vec<Instant>>,
    /// TCP connections accepted.
    connections: u64,
}

pub struct Cabourotte {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cabourotte {
    pub fn start(api: Api) -> Cabourotte {
        Self::start_on(api, 0)
    }

    /// Start on a given port (0: any free one), e.g. to come back after `stop`.
    pub fn start_on(api: Api, port: u16) -> Cabourotte {
        let shared = Arc::new(Mutex::new(Shared {
            api,
            checks: HashMap::new(),
            counts: HashMap::new(),
            requests: 0,
            first: None,
            record: false,
            times: HashMap::new(),
            connections: 0,
        }));
        Self::serve(shared, port)
    }

    fn serve(shared: Arc<Mutex<Shared>>, port: u16) -> Cabourotte {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port}: {e}"));
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (Arc::clone(&shared), Arc::clone(&stop));
        // A blocking accept (thousands of new connections a second in the benchmarks);
        // `stop` wakes it with a connection of its own.
        let handle = thread::spawn(move || {
            while !st2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        if st2.load(Ordering::SeqCst) {
                            break;
                        }
                        lock(&s2).connections += 1;
                        let (s3, st3) = (Arc::clone(&s2), Arc::clone(&st2));
                        thread::spawn(move || connection(conn, s3, st3));
                    }
                    // E.g. out of file descriptors: don't spin.
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Cabourotte {
            port,
            shared,
            stop,
            handle: Some(handle),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, name: &str, b: Behavior) {
        lock(&self.shared).checks.insert(name.to_string(), b);
    }

    pub fn count(&self, name: &str) -> u32 {
        lock(&self.shared).counts.get(name).copied().unwrap_or(0)
    }

    /// Requests for a check's result so far, all checks together.
    pub fn requests(&self) -> u64 {
        lock(&self.shared).requests
    }

    /// When the first request for a check's result came.
    pub fn first_request(&self) -> Option<Instant> {
        lock(&self.shared).first
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        lock(&self.shared).connections
    }

    /// Start (or stop) recording when each request for a check's result comes.
    pub fn record_times(&self, on: bool) {
        lock(&self.shared).record = on;
    }

    /// What [`Cabourotte::record_times`] recorded, per check, in order.
    pub fn times(&self) -> HashMap<String, Vec<Instant>> {
        lock(&self.shared).times.clone()
    }

    /// Forget what was recorded.
    pub fn clear_times(&self) {
        lock(&self.shared).times.clear();
    }

    /// Stop listening (connection refused from now on); open connections are closed at
    /// their next request.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            // Wake the blocking accept (again, should a connection of someone else's have
            // taken the first wake-up's place).
            let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
            while !h.is_finished() {
                let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(500));
                for _ in 0..50 {
                    if h.is_finished() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
            }
            let _ = h.join();
        }
    }

    /// Come back on the same port with the same settings, like a restarted Cabourotte
    /// (which has no results until its checks ran: set them again).
    pub fn restart(&mut self) {
        self.stop();
        let shared = Arc::clone(&self.shared);
        *self = Self::serve(shared, self.port);
    }
}

impl Drop for Cabourotte {
    fn drop(&mut self) {
        self.stop();
    }
}

fn connection(conn: TcpStream, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut out = conn;
    loop {
        // Read one request head (keep-alive: several per connection).
        let mut request_line = String::new();
        loop {
            if stop.load(Ordering::SeqCst) {
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            match reader.read_line(&mut request_line) {
                Ok(0) => return,
                Ok(_) => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(_) => return,
            }
        }
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) => return,
                Ok(_) if h == "\r\n" || h == "\n" => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(_) => return,
            }
        }
        let at = Instant::now();
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let (status, body, delay) = respond(&method, &path, &shared, at);
        if let Some(d) = delay {
            thread::sleep(d);
        }
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // One write, like Go's net/http: a head and body written separately would meet
        // Nagle's algorithm and the client's delayed ACK (a 40 ms stall per request).
        let mut response = head.into_bytes();
        response.extend_from_slice(&body);
        if out.write_all(&response).is_err() {
            return;
        }
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn not_found() -> (u16, Vec<u8>, Option<Duration>) {
    (404, b"{\"messages\":[\"Not found\"]}\n".to_vec(), None)
}

fn respond(
    method: &str,
    path: &str,
    shared: &Mutex<Shared>,
    at: Instant,
) -> (u16, Vec<u8>, Option<Duration>) {
    let mut s = lock(shared);
    let prefix = match s.api {
        Api::V2 => "/api/v1/result/",
        Api::V1 => "/result/",
    };
    let Some(raw) = path.strip_prefix(prefix) else {
        return not_found();
    };
    if raw.is_empty() || raw.contains('/') {
        return not_found();
    }
    if method != "GET" {
        return (500, b"{\"messages\":[\"Internal error\"]}\n".to_vec(), None);
    }
    let name = decode(raw);
    *s.counts.entry(name.clone()).or_default() += 1;
    s.requests += 1;
    s.first.get_or_insert(at);
    if s.record {
        s.times.entry(name.clone()).or_default().push(at);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let result = |success: bool, message: &str, ts: u64| {
        let v = serde_json::json!({
            "name": name,
            "summary": format!("command healthcheck {name}"),
            "success": success,
            "healthcheck-timestamp": ts,
            "message": message,
            "duration": 3,
            "source": "configuration",
        });
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        b
    };
    match s.checks.get(&name).cloned() {
        None | Some(Behavior::Absent) => (
            404,
            format!("{{\"messages\":[\"result not found for healthcheck {name}\"]}}\n")
                .into_bytes(),
            None,
        ),
        Some(Behavior::Success) => (200, result(true, "success", now), None),
        Some(Behavior::Failure(m)) => (200, result(false, &m, now), None),
        Some(Behavior::Error500) => (500, b"{\"messages\":[\"Internal error\"]}\n".to_vec(), None),
        Some(Behavior::Garbage) => (200, b"{\"name\": \"garb".to_vec(), None),
        Some(Behavior::Slow(d)) => (200, result(true, "success", now), Some(d)),
        Some(Behavior::Stale(age)) => (200, result(true, "success", now.saturating_sub(age)), None),
        Some(Behavior::Huge(n)) => (200, vec![b' '; n], None),
    }
}
