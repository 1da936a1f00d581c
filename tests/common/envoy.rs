//! End-to-end harness: real Envoy processes, upstream servers and a small HTTP client.
//!
//! meshc's promise is that the configuration it compiles is one Envoy 1.40 accepts and that
//! it routes traffic as the mesh resources say. Proving that takes a real Envoy: this module
//! finds it ([`envoy`]), asks it to check a configuration ([`validate`]), runs it ([`Envoy`])
//! in front of upstreams started in-process ([`HttpEcho`], [`TcpEcho`]) and talks to it
//! ([`http_get`], [`http_request`], [`tcp_roundtrip`]), all on 127.0.0.1 and every wait
//! bounded in time.
//!
//! Envoy is installed by `scripts/envoy.sh`; `scripts/test.sh` passes its path as
//! `MESHC_ENVOY`. Locally, a test that needs Envoy and cannot find it is skipped with a note
//! (`let Some(_) = envoy() else { return };`); under `CI=true` that is a panic instead.
//!
//! Processes never outlive the test binary: [`Envoy`] kills its process on drop (also while
//! a test unwinds from a panic), and every Envoy is started with the kernel told to kill it
//! when the test binary dies (`PR_SET_PDEATHSIG`), which covers a binary killed by a timeout
//! and an [`Envoy`] kept in a `static`.

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long `envoy --mode validate` may take (a large config validates in about a second).
pub const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a started Envoy may take to answer `GET /ready` with `LIVE`: generous, because
/// the machine running the tests may be busy building other code.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an upstream server waits for the next request on an idle connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Limits that keep a misbehaving peer from exhausting memory.
const MAX_HEAD: u64 = 64 * 1024;
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// Response headers as `(lowercase name, value)`, in the order received.
pub type Headers = Vec<(String, String)>;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Print a note that shows even though libtest captures the output of passing tests
/// (it captures `print!`/`eprint!`, not direct writes to stderr).
fn note(text: &str) {
    let _ = writeln!(io::stderr(), "note: {text}");
}

/// The Envoy binary for the tests, or `None` (after a one-time note) when it is not installed
/// and the tests are not running in CI.
///
/// Looks at `MESHC_ENVOY` (set by `scripts/test.sh`), then at the virtualenv that
/// `scripts/envoy.sh` installs, `target/test-tools/envoy-venv/bin/envoy`. Panics when
/// `MESHC_ENVOY` names a missing file, and under `CI=true` when Envoy is missing: CI must
/// never skip these tests silently.
pub fn envoy() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    // A panic inside leaves the cell empty, so every test that asks panics with the message.
    FOUND.get_or_init(find_envoy).clone()
}

fn find_envoy() -> Option<PathBuf> {
    if let Some(given) = std::env::var_os("MESHC_ENVOY").filter(|v| !v.is_empty()) {
        let given = PathBuf::from(given);
        if given.is_file() {
            return Some(given);
        }
        panic!(
            "MESHC_ENVOY={} does not exist: unset it, or set it to the path scripts/envoy.sh prints",
            given.display()
        );
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/envoy-venv/bin/envoy");
    if local.is_file() {
        return Some(local);
    }
    if in_ci() {
        panic!(
            "Envoy is required in CI (CI=true) but was not found: MESHC_ENVOY is not set and {} does not exist. \
             Run the tests through scripts/test.sh, which installs Envoy with scripts/envoy.sh",
            local.display()
        );
    }
    note(&format!(
        "Envoy not found (MESHC_ENVOY unset, no {}): skipping the tests that need it; \
         run scripts/envoy.sh (or scripts/test.sh) to install it",
        local.display()
    ));
    None
}

/// Spawn a child that the kernel kills when the test binary dies.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, not the process,
/// and libtest runs every test on its own thread. So every child is forked by one spawner
/// thread that lives as long as the test binary: an Envoy kept in a `static` and shared by
/// several tests is not killed when the test that started it returns.
fn spawn_tied(cmd: Command) -> io::Result<Child> {
    type Request = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        let started = thread::Builder::new().name("envoy-spawner".into()).spawn(move || {
            for (mut cmd, reply) in rx {
                die_with_parent(&mut cmd);
                let _ = reply.send(cmd.spawn());
            }
        });
        if let Err(e) = started {
            panic!("cannot start the thread that spawns Envoy: {e}");
        }
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((cmd, reply))
        .map_err(|_| io::Error::other("the Envoy spawner thread is gone"))?;
    answer.recv().map_err(|_| io::Error::other("the Envoy spawner thread did not answer"))?
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::ffi::{c_int, c_ulong};
    use std::os::unix::process::CommandExt;
    unsafe extern "C" {
        fn prctl(option: c_int, ...) -> c_int;
    }
    const PR_SET_PDEATHSIG: c_int = 1;
    const SIGKILL: c_ulong = 9;
    // SAFETY: runs in the forked child before exec; prctl is async-signal-safe and the
    // closure neither allocates nor takes locks.
    unsafe {
        cmd.pre_exec(|| {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Open `path` for appending, twice: for a child's stdout and stderr (appending, so the two
/// do not overwrite each other).
fn log_stdio(path: &Path) -> io::Result<(Stdio, Stdio)> {
    let open = || OpenOptions::new().create(true).append(true).open(path);
    Ok((Stdio::from(open()?), Stdio::from(open()?)))
}

/// Wait for `child` at most `limit`; kill it when the time is up. `Ok(None)` means killed.
fn wait_bounded(child: &mut Child, limit: Duration) -> io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Check a configuration with `envoy --mode validate -c config`, run in `cwd` (relative
/// paths in the configuration, and `config` itself when relative, are relative to `cwd`).
///
/// `Err` holds Envoy's error lines (`critical: error initializing configuration '…': …`), or
/// the end of its output when it printed none, or why Envoy could not be run. Bounded by
/// [`VALIDATE_TIMEOUT`].
pub fn validate(config: &Path, cwd: &Path) -> Result<(), String> {
    let bin = envoy().ok_or("Envoy is not installed: run scripts/envoy.sh")?;
    let log = tempfile::NamedTempFile::new().map_err(|e| format!("cannot create a temporary file: {e}"))?;
    let (out, err) = log_stdio(log.path()).map_err(|e| format!("cannot open {}: {e}", log.path().display()))?;
    let mut cmd = Command::new(&bin);
    cmd.current_dir(cwd)
        .args(["--mode", "validate", "--log-format", "%l: %v", "-c"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let mut child = spawn_tied(cmd).map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let status = wait_bounded(&mut child, VALIDATE_TIMEOUT).map_err(|e| format!("waiting for Envoy: {e}"))?;
    let output = std::fs::read_to_string(log.path()).unwrap_or_default();
    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) => {
            let errors: Vec<&str> =
                output.lines().filter(|l| l.starts_with("critical: ") || l.starts_with("error: ")).collect();
            if errors.is_empty() {
                Err(format!("envoy --mode validate exited with {status}:\n{}", tail(&output, 30)))
            } else {
                Err(errors.join("\n"))
            }
        }
        None => Err(format!(
            "envoy --mode validate did not finish within {VALIDATE_TIMEOUT:?} (killed):\n{}",
            tail(&output, 30)
        )),
    }
}

/// A running Envoy (`envoy -c CONFIG --concurrency 1 -l warning --disable-hot-restart`),
/// killed when dropped.
///
/// Several may run at once: hot restart is disabled (no shared memory, no domain socket) and
/// each gets its own `--base-id` as well. Its stdout and stderr go to [`Envoy::log_path`].
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    admin: SocketAddr,
    log: PathBuf,
}

impl Envoy {
    /// Start Envoy on `config` in `cwd` and wait (at most [`READY_TIMEOUT`]) until its admin
    /// endpoint, which the configuration must put on `127.0.0.1:admin_port`, answers
    /// `GET /ready` with `LIVE`.
    ///
    /// The log is `cwd/envoy-<base id>.log`. `LIVE` means the configuration loaded; a
    /// listener may still take a moment to accept on the worker, so first requests should be
    /// retried ([`eventually`]). `Err` says why (Envoy exited, or never became ready) and
    /// ends with the log; the process is killed.
    pub fn start(config: &Path, cwd: &Path, admin_port: u16) -> Result<Envoy, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bin = envoy().ok_or("Envoy is not installed: run scripts/envoy.sh")?;
        // Unique across live test binaries (pids are below 2^22) and within one.
        let base_id = std::process::id().wrapping_mul(1000).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) % 1000);
        let log = cwd.join(format!("envoy-{base_id}.log"));
        let (out, err) = log_stdio(&log).map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let mut cmd = Command::new(&bin);
        cmd.current_dir(cwd)
            .arg("-c")
            .arg(config)
            .args(["--concurrency", "1", "-l", "warning", "--disable-hot-restart", "--base-id"])
            .arg(base_id.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = spawn_tied(cmd).map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        // From here on, Drop kills the process on every return path.
        let mut envoy = Envoy { child, admin: SocketAddr::from(([127, 0, 0, 1], admin_port)), log };
        envoy.wait_ready()?;
        Ok(envoy)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("Envoy exited with {status} before it was ready; its log:\n{}", self.log_tail()));
            }
            let last = match http_get(self.admin, "localhost", "/ready", Duration::from_secs(2)) {
                Ok((200, _, body)) if body.trim() == "LIVE" => return Ok(()),
                Ok((status, _, body)) => format!("{status} {}", body.trim()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "Envoy was not ready within {READY_TIMEOUT:?} (admin {}: {last}); its log:\n{}",
                    self.admin,
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The admin endpoint, `127.0.0.1:<admin_port>`.
    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    /// `GET path` on the admin endpoint (`/stats`, `/clusters`, `/config_dump`, …): the
    /// body, or `Err` unless the status is 200.
    pub fn admin_get(&self, path: &str) -> Result<String, String> {
        match http_get(self.admin, "localhost", path, Duration::from_secs(10))? {
            (200, _, body) => Ok(body),
            (status, _, body) => Err(format!("admin {path}: {status} {}", body.trim())),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Where Envoy's stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Envoy's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        tail(&self.log(), 40)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// Binds port 0, reads the port the kernel chose and closes the socket, so there is a small
/// race: another process may take the port before Envoy binds it. Ports handed out by this
/// process are never handed out twice. Wrap the start in [`retry_port_clash`] to retry with
/// new ports when Envoy cannot bind.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..100 {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("cannot bind a port on 127.0.0.1: {e}"));
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no new free port on 127.0.0.1 after 100 tries");
}

/// Run `start` again (up to `attempts` times in all) while it fails because a port was
/// taken (`cannot bind`, `Address already in use`): the race [`free_port`] leaves open.
/// `start` should pick new ports with [`free_port`] on every call; any other error is
/// returned at once.
pub fn retry_port_clash<T>(attempts: usize, mut start: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        match start() {
            Err(e) if tries < attempts && (e.contains("cannot bind") || e.contains("Address already in use")) => {
                note(&format!("a port was taken, retrying with new ports: {}", e.lines().next().unwrap_or("")));
            }
            other => return other,
        }
    }
}

/// Retry `attempt` until it succeeds or `limit` has passed (pausing 100 ms between tries);
/// `Err` carries the last failure. For the first requests through a just-started Envoy.
pub fn eventually<T>(limit: Duration, mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        let last = match attempt() {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!("still failing after {limit:?}: {last}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the first header called `name` (any case).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 wire format, shared by the client and the echo server.

/// A stream whose reads fail with `TimedOut` once `deadline` has passed: bounds a whole
/// exchange, not just each read.
struct Deadline {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Read a message head (start line and headers, without the blank line). `Ok(None)` when the
/// peer closed the connection before sending anything.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    let mut used = 0u64;
    loop {
        let mut line = String::new();
        let n = r.by_ref().take(MAX_HEAD - used).read_line(&mut line)?;
        used += n as u64;
        if n == 0 {
            if lines.is_empty() && used == 0 {
                return Ok(None);
            }
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a message head"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // tolerate blank lines before a request (RFC 9112 §2.2)
            }
            return Ok(Some(lines));
        }
        lines.push(line);
        if used >= MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "message head too long"));
        }
    }
}

fn parse_headers(lines: &[String]) -> Headers {
    lines
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// Read a message body as its headers frame it: chunked, `content-length`, or (responses
/// only, `to_eof`) everything until the peer closes.
fn read_body(r: &mut impl BufRead, headers: &[(String, String)], to_eof: bool) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let chunked = header(headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let mut size = String::new();
            r.by_ref().take(1024).read_line(&mut size)?;
            let hex = size.trim().split(';').next().unwrap_or("").trim();
            let len = u64::from_str_radix(hex, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {hex:?}")))?;
            if len == 0 {
                // Trailers, up to the blank line.
                loop {
                    let mut trailer = String::new();
                    if r.by_ref().take(MAX_HEAD).read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            if body.len() as u64 + len > MAX_BODY {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
            }
            let start = body.len();
            body.resize(start + len as usize, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = String::new();
            r.by_ref().take(2).read_line(&mut crlf)?;
        }
    } else if let Some(len) = header(headers, "content-length") {
        let len: u64 = len
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad content-length {len:?}")))?;
        if len > MAX_BODY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        body.resize(len as usize, 0);
        r.read_exact(&mut body)?;
    } else if to_eof {
        r.take(MAX_BODY).read_to_end(&mut body)?;
    }
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Client.

/// `GET path` from `addr` with `Host: host` and `Connection: close`; the whole exchange
/// bounded by `timeout`. Returns `(status, headers, body)`, the body decoded as UTF-8
/// (lossily). 1xx interim responses are skipped.
pub fn http_get(addr: SocketAddr, host: &str, path: &str, timeout: Duration) -> Result<(u16, Headers, String), String> {
    http_request(addr, "GET", host, path, &[], b"", timeout)
}

/// Like [`http_get`] for any method, with extra request headers and a body (sent with a
/// `content-length` when not empty).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Headers, String), String> {
    let what = format!("{method} http://{host}{path} via {addr}");
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{what}: connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    let _ = stream.set_write_timeout(Some(timeout));
    (&stream).write_all(&bytes).map_err(|e| format!("{what}: send: {e}"))?;
    let mut reader = BufReader::new(Deadline { stream, deadline });
    loop {
        let head = read_head(&mut reader)
            .map_err(|e| format!("{what}: reading the response: {e}"))?
            .ok_or_else(|| format!("{what}: the connection closed without a response"))?;
        let status: u16 = head[0]
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{what}: bad status line {:?}", head[0]))?;
        let headers = parse_headers(&head[1..]);
        if (100..200).contains(&status) {
            continue;
        }
        let body = if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
            Vec::new()
        } else {
            read_body(&mut reader, &headers, true).map_err(|e| format!("{what}: reading the body: {e}"))?
        };
        return Ok((status, headers, String::from_utf8_lossy(&body).into_owned()));
    }
}

/// Connect to `addr`, send `data`, and read until as many bytes came back (or the peer
/// closed); all bounded by `timeout`. For checking a TCP path to a [`TcpEcho`].
pub fn tcp_roundtrip(addr: SocketAddr, data: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("tcp {addr}: connect: {e}"))?;
    let _ = stream.set_write_timeout(Some(timeout));
    (&stream).write_all(data).map_err(|e| format!("tcp {addr}: send: {e}"))?;
    let mut reader = Deadline { stream, deadline };
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < data.len() {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("tcp {addr}: read after {} bytes: {e}", got.len())),
        }
    }
    Ok(got)
}

// ---------------------------------------------------------------------------------------------
// Upstream servers.

/// What one server thread pool shares: the stop flag and the open connections (shut down
/// when the server is dropped, so Envoy sees the upstream go away at once).
struct Server {
    addr: SocketAddr,
    stop: AtomicBool,
    connections: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
}

impl Server {
    /// Bind 127.0.0.1:0 and accept on a thread, handing each connection to `serve` on its
    /// own thread.
    fn start(name: &str, serve: impl Fn(TcpStream) + Send + Sync + 'static) -> (Arc<Server>, Option<JoinHandle<()>>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap_or_else(|e| panic!("{name}: cannot bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{name}: no local address: {e}"));
        let server = Arc::new(Server {
            addr,
            stop: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
        });
        let serve = Arc::new(serve);
        let shared = Arc::clone(&server);
        let accept = thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                    if let Ok(copy) = stream.try_clone() {
                        shared.connections.lock().unwrap_or_else(|p| p.into_inner()).push(copy);
                    }
                    let serve = Arc::clone(&serve);
                    let _ = thread::Builder::new().spawn(move || serve(stream));
                }
            })
            .unwrap_or_else(|e| panic!("{name}: cannot start the accept thread: {e}"));
        (server, Some(accept))
    }

    fn stop(&self, accept: Option<JoinHandle<()>>) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop, which then sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = accept {
            let _ = accept.join();
        }
        for stream in self.connections.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// How an [`HttpEcho`] answers.
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// Names the server in the body (`server: NAME`) and in the `x-echo-server` response
    /// header, so a test can tell which upstream answered.
    pub name: String,
    /// The response status (a request header `x-echo-status: N` overrides it).
    pub status: u16,
    /// How long to wait before answering (a request header `x-echo-delay-ms: N` overrides it).
    pub delay: Duration,
    /// Which request headers the body echoes (lowercase names); `None` echoes all.
    pub echo_headers: Option<Vec<String>>,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig { name: "echo".into(), status: 200, delay: Duration::ZERO, echo_headers: None }
    }
}

/// A request as an [`HttpEcho`] received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// `(lowercase name, value)`, in the order received.
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A plain HTTP/1.1 upstream on 127.0.0.1 that answers every request with a body echoing it:
///
/// ```text
/// server: NAME
/// method: GET
/// path: /hello?x=1
/// host: example.com
/// x-custom: value
/// ```
///
/// (one `name: value` line per echoed request header, in the order received). Keeps
/// connections alive unless the request asks to close (or is HTTP/1.0 without keep-alive).
/// Stops, closing its connections, when dropped.
pub struct HttpEcho {
    server: Arc<Server>,
    accept: Option<JoinHandle<()>>,
    state: Arc<EchoState>,
}

struct EchoState {
    config: EchoConfig,
    received: Mutex<Vec<Received>>,
}

impl HttpEcho {
    /// Start a server answering as `config` says.
    pub fn start(config: EchoConfig) -> HttpEcho {
        let state = Arc::new(EchoState { config, received: Mutex::new(Vec::new()) });
        let shared = Arc::clone(&state);
        let (server, accept) = Server::start("http-echo", move |stream| echo_connection(stream, &shared));
        HttpEcho { server, accept, state }
    }

    /// Start a server that answers 200 at once and calls itself `name`.
    pub fn named(name: &str) -> HttpEcho {
        HttpEcho::start(EchoConfig { name: name.into(), ..EchoConfig::default() })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// How many requests it has read (counted before any delay, so a request Envoy gave up
    /// on still counts).
    pub fn requests(&self) -> usize {
        self.state.received.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The requests it has read, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.server.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for HttpEcho {
    fn drop(&mut self) {
        self.server.stop(self.accept.take());
    }
}

fn echo_connection(stream: TcpStream, state: &EchoState) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    while let Ok(Some(head)) = read_head(&mut reader) {
        let mut start = head[0].split_whitespace();
        let (Some(method), Some(path), Some(version)) = (start.next(), start.next(), start.next()) else {
            let _ = (&stream).write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            return;
        };
        let headers = parse_headers(&head[1..]);
        let Ok(body) = read_body(&mut reader, &headers, false) else { return };
        let connection = header(&headers, "connection").unwrap_or("").to_ascii_lowercase();
        let keep_alive =
            if version == "HTTP/1.0" { connection.contains("keep-alive") } else { !connection.contains("close") };
        let config = &state.config;
        let status = header(&headers, "x-echo-status").and_then(|s| s.parse().ok()).unwrap_or(config.status);
        let delay = header(&headers, "x-echo-delay-ms")
            .and_then(|s| s.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(config.delay);
        let mut text = format!("server: {}\nmethod: {method}\npath: {path}\n", config.name);
        for (name, value) in &headers {
            if config.echo_headers.as_ref().is_none_or(|only| only.iter().any(|o| o.eq_ignore_ascii_case(name))) {
                text.push_str(&format!("{name}: {value}\n"));
            }
        }
        state.received.lock().unwrap_or_else(|p| p.into_inner()).push(Received {
            method: method.to_string(),
            path: path.to_string(),
            headers,
            body,
        });
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        let mut response = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-echo-server: {}\r\n",
            reason(status),
            text.len(),
            config.name
        );
        if !keep_alive {
            response.push_str("connection: close\r\n");
        }
        response.push_str("\r\n");
        if !method.eq_ignore_ascii_case("HEAD") {
            response.push_str(&text);
        }
        if (&stream).write_all(response.as_bytes()).is_err() || !keep_alive {
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A TCP upstream on 127.0.0.1 that sends back every byte it receives. Stops, closing its
/// connections, when dropped.
pub struct TcpEcho {
    server: Arc<Server>,
    accept: Option<JoinHandle<()>>,
}

impl TcpEcho {
    pub fn start() -> TcpEcho {
        let (server, accept) = Server::start("tcp-echo", |stream| {
            let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
            let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
            let mut buf = [0u8; 16 * 1024];
            loop {
                match (&stream).read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if (&stream).write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = stream.shutdown(Shutdown::Both);
        });
        TcpEcho { server, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.server.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.server.stop(self.accept.take());
    }
}
