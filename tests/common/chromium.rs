//! Headless Chromium for browser tests: a small Chrome DevTools Protocol (CDP) client.
//!
//! `meshc report` writes one self-contained HTML file. Proving that it renders, that it works
//! from the keyboard and that it never reaches the network takes a real browser; this module
//! starts Debian's Chromium ([`Browser::launch`]), opens a file in a tab ([`Browser::open`])
//! and drives it ([`Page`]): evaluate JavaScript, press keys, emulate dark mode or print,
//! take screenshots, measure the first render.
//!
//! Why it looks like this:
//! - CDP runs over `--remote-debugging-pipe` (the browser reads NUL-terminated JSON on fd 3
//!   and writes on fd 4), not a WebSocket: no port to pick, nothing listening, no HTTP or
//!   WebSocket client to write, and Chromium exits by itself when the test binary dies and
//!   its end of the pipe closes.
//! - Every request a page makes is intercepted (`Fetch.enable`): the page's own `file://`
//!   URL continues, anything else is recorded ([`Page::requests`]) and failed
//!   (`BlockedByClient`), so nothing leaves the machine even when a report is wrong. Fetch
//!   does not see WebSocket handshakes (nor preconnects): for those, Chromium's resolver is
//!   told that no host exists (`--host-resolver-rules`), IP literals included.
//! - Every wait has a deadline ([`COMMAND_TIMEOUT`], [`LOAD_TIMEOUT`], or the caller's), the
//!   browser runs in its own process group that is killed on drop, and its profile lives in
//!   a temporary directory.
//!
//! Chromium comes from `scripts/chromium.sh` (Debian's `chromium` package); `scripts/test.sh`
//! passes its path as `MESHC_CHROMIUM`. Locally, a test that cannot find it is skipped with a
//! note (`let Some(browser) = Browser::launch() else { return };`); under `CI=true` that is a
//! panic instead.

use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long one CDP command may take. Generous: the machine may be busy compiling.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long Chromium may take to start, and a page to load.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Where Debian's `chromium` package puts its launcher.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// The viewport every page gets: wide enough for a desktop layout.
pub const VIEWPORT: (u32, u32) = (1400, 900);
/// How often polling waits ([`Page::wait_for`], [`Page::navigate_and_measure`]) look again.
const POLL: Duration = Duration::from_millis(10);
/// The tallest full-page screenshot (in CSS pixels): a runaway page must not make a huge PNG.
const MAX_SCREENSHOT_HEIGHT: f64 = 16384.0;

/// Flags that keep a headless Chromium offline and quiet: without the networking ones it
/// tries Google hosts (component updates, sync, field trials) and fails on a machine
/// without internet. The resolver rule is the backstop for connections that `Fetch` does
/// not intercept: a page's `new WebSocket("ws://127.0.0.1:…")` connected without it.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
];

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Print a note that shows even though libtest captures the output of passing tests
/// (it captures `print!`/`eprint!`, not direct writes to stderr).
fn note(text: &str) {
    let _ = writeln!(io::stderr(), "note: {text}");
}

/// The Chromium binary: `MESHC_CHROMIUM`, else [`DEFAULT_CHROMIUM`]; `None` (after a note)
/// when it is missing outside CI.
///
/// Panics when `MESHC_CHROMIUM` names a missing file, and under `CI=true` when Chromium is
/// missing: CI must never skip the browser tests silently.
pub fn chromium() -> Option<PathBuf> {
    if let Some(given) = std::env::var_os("MESHC_CHROMIUM").filter(|v| !v.is_empty()) {
        let given = PathBuf::from(given);
        if given.is_file() {
            return Some(given);
        }
        panic!(
            "MESHC_CHROMIUM={} does not exist: unset it, or set it to the path scripts/chromium.sh prints",
            given.display()
        );
    }
    let default = PathBuf::from(DEFAULT_CHROMIUM);
    if default.is_file() {
        return Some(default);
    }
    if in_ci() {
        panic!(
            "Chromium is required in CI (CI=true) but was not found: MESHC_CHROMIUM is not set and \
             {DEFAULT_CHROMIUM} does not exist. Run the tests through scripts/test.sh, which installs it \
             with scripts/chromium.sh"
        );
    }
    note(&format!(
        "Chromium not found (MESHC_CHROMIUM unset, no {DEFAULT_CHROMIUM}): skipping the browser tests; \
         run scripts/chromium.sh (or scripts/test.sh) to install it"
    ));
    None
}

/// The directory where `test` keeps files worth looking at after the run (screenshots):
/// `$MESHC_ARTIFACTS/<test>`, else `<CARGO_TARGET_DIR or target>/artifacts/<test>`. Created.
pub fn artifacts_dir(test: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = match std::env::var_os("MESHC_ARTIFACTS").filter(|v| !v.is_empty()) {
        Some(dir) => root.join(dir),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty());
            root.join(target.unwrap_or_else(|| "target".into())).join("artifacts")
        }
    };
    let dir = base.join(test);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A headless Chromium, killed (with every helper process it started) when dropped.
pub struct Browser {
    child: Child,
    conn: Arc<Conn>,
    /// Holds the profile (`--user-data-dir`) and `chromium.log`; removed after the kill.
    dir: tempfile::TempDir,
}

impl Browser {
    /// Start Chromium ([`chromium`] finds it): `None` when it is not installed and the
    /// tests are not in CI. Panics when an installed Chromium does not start: that is a
    /// broken machine, not a reason to skip.
    pub fn launch() -> Option<Browser> {
        let binary = chromium()?;
        Some(Browser::launch_with(&binary).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Start `binary` and wait (at most [`LOAD_TIMEOUT`]) until it answers over the pipe.
    pub fn launch_with(binary: &Path) -> Result<Browser, String> {
        let dir = tempfile::Builder::new()
            .prefix("meshc-chromium-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory for Chromium's profile: {e}"))?;
        let (child, to_browser, from_browser) = spawn(binary, dir.path())?;
        // From here on, Drop kills the browser on every return path.
        let browser = Browser { child, conn: Arc::new(Conn::new(to_browser)), dir };
        let reader = Arc::clone(&browser.conn);
        thread::Builder::new()
            .name("cdp-reader".into())
            .spawn(move || reader.read_loop(from_browser))
            .map_err(|e| format!("cannot start the thread that reads from Chromium: {e}"))?;
        browser
            .conn
            .call(None, "Browser.getVersion", json!({}), LOAD_TIMEOUT)
            .map_err(|e| format!("Chromium ({}) did not start: {e}\n{}", binary.display(), browser.log_tail()))?;
        Ok(browser)
    }

    /// The product and version, e.g. `HeadlessChrome/148.0.7778.167`.
    pub fn version(&self) -> Result<String, String> {
        let version = self.conn.call(None, "Browser.getVersion", json!({}), COMMAND_TIMEOUT)?;
        Ok(version["product"].as_str().unwrap_or_default().to_string())
    }

    /// Open `path` (an HTML file) in a new tab with a [`VIEWPORT`]-sized viewport, every
    /// request but the file's own intercepted and failed, and wait until it has loaded.
    pub fn open(&self, path: &Path) -> Result<Page<'_>, String> {
        let page = self.new_page()?;
        page.navigate(path)?;
        Ok(page)
    }

    /// A new tab on `about:blank`, attached (flat session) with the domains the [`Page`]
    /// methods rely on enabled.
    fn new_page(&self) -> Result<Page<'_>, String> {
        let created = self.conn.call(None, "Target.createTarget", json!({"url": "about:blank"}), COMMAND_TIMEOUT)?;
        let target = created["targetId"].as_str().ok_or("Target.createTarget returned no targetId")?.to_string();
        let attach = json!({"targetId": target, "flatten": true});
        let attached = self.conn.call(None, "Target.attachToTarget", attach, COMMAND_TIMEOUT)?;
        let session = attached["sessionId"].as_str().ok_or("Target.attachToTarget returned no sessionId")?.to_string();
        self.conn.state().sessions.insert(session.clone(), SessionLog::default());
        let page = Page { browser: self, session, target, media: Mutex::new(Media::default()) };
        for domain in ["Page.enable", "Runtime.enable", "Network.enable"] {
            page.call(domain, json!({}))?;
        }
        page.call("Fetch.enable", json!({"patterns": [{"urlPattern": "*"}]}))?;
        let (width, height) = VIEWPORT;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        Ok(page)
    }

    /// The end of Chromium's output (stdout and stderr), for error messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("chromium.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!("Chromium's log ends with:\n{}", lines[lines.len().saturating_sub(20)..].join("\n"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The launcher script execs Chromium, so the child leads the process group that
        // `spawn` created: kill the whole group, renderers and utility processes included.
        // The child is not reaped before this point, so its id cannot name anyone else.
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `binary` with the CDP pipe on fds 3 and 4, its stdout and stderr in
/// `dir/chromium.log`, and `dir/profile` as a fresh profile.
fn spawn(binary: &Path, dir: &Path) -> Result<(Child, io::PipeWriter, io::PipeReader), String> {
    let pipe_error = |e| format!("cannot create a pipe for Chromium: {e}");
    let (browser_reads, to_browser) = io::pipe().map_err(pipe_error)?;
    let (from_browser, browser_writes) = io::pipe().map_err(pipe_error)?;
    let log_path = dir.join("chromium.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let mut cmd = Command::new(binary);
    cmd.args(FLAGS)
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let (read_fd, write_fd) = (browser_reads.as_raw_fd(), browser_writes.as_raw_fd());
    // SAFETY: `place_pipe` only calls async-signal-safe functions (fcntl, dup2, setpgid) and
    // neither allocates nor takes locks, as required between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || place_pipe(read_fd, write_fd));
    }
    let child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    // The browser's ends now live in the child; closing ours lets the reader see EOF when
    // the browser exits.
    drop((browser_reads, browser_writes));
    Ok((child, to_browser, from_browser))
}

/// In the forked child: put the browser's read end on fd 3 and its write end on fd 4 (what
/// `--remote-debugging-pipe` expects) and start a new process group for [`Browser`]'s drop.
fn place_pipe(read_fd: i32, write_fd: i32) -> io::Result<()> {
    let check = |ret: i32| if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) };
    // SAFETY: plain fd syscalls on fds this process owns.
    unsafe {
        // Move both above 3 and 4 first: either may already sit on 3 or 4, and a dup2 onto
        // it would close it. The copies are close-on-exec; dup2's targets are not.
        let read_fd = check(libc::fcntl(read_fd, libc::F_DUPFD_CLOEXEC, 10))?;
        let write_fd = check(libc::fcntl(write_fd, libc::F_DUPFD_CLOEXEC, 10))?;
        check(libc::dup2(read_fd, 3))?;
        check(libc::dup2(write_fd, 4))?;
        check(libc::setpgid(0, 0))?;
    }
    Ok(())
}

/// One CDP connection: commands go out on the pipe, and a reader thread files the answers
/// and events in [`State`].
struct Conn {
    writer: Mutex<io::PipeWriter>,
    next_id: AtomicU64,
    state: Mutex<State>,
    changed: Condvar,
}

/// What the reader thread has seen.
#[derive(Default)]
struct State {
    /// Commands whose caller waits for the answer (others' answers are dropped).
    waiting: HashSet<u64>,
    answers: HashMap<u64, Result<Value, String>>,
    sessions: HashMap<String, SessionLog>,
    /// Why the connection ended (the browser exited or the pipe broke), once it has.
    closed: Option<String>,
}

/// What one page did, filed by the reader thread.
#[derive(Default)]
struct SessionLog {
    /// The page's own document (`file://…`, no fragment): the one URL allowed to load.
    own_url: String,
    /// Every other URL the page tried, in order, once each.
    requests: Vec<String>,
    /// Uncaught exceptions and `console.error` calls.
    errors: Vec<String>,
    /// How many `Page.loadEventFired` events arrived.
    loads: u64,
}

impl Conn {
    fn new(writer: io::PipeWriter) -> Conn {
        Conn {
            writer: Mutex::new(writer),
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Send a command without waiting for its answer (the reader drops it).
    fn send(&self, session: Option<&str>, method: &str, params: Value) -> Result<u64, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.write(id, session, method, params)?;
        Ok(id)
    }

    fn write(&self, id: u64, session: Option<&str>, method: &str, params: Value) -> Result<(), String> {
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        let mut writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        writer.write_all(&bytes).map_err(|e| format!("cannot send {method} to Chromium: {e}"))
    }

    /// Send a command and wait (at most `timeout`) for its result; `Err` carries CDP's error.
    fn call(&self, session: Option<&str>, method: &str, params: Value, timeout: Duration) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Registered before sending: the answer may arrive before `write` returns.
        self.state().waiting.insert(id);
        let answer = self
            .write(id, session, method, params)
            .and_then(|()| self.wait(timeout, &format!("the answer to {method}"), |s| s.answers.remove(&id)));
        self.state().waiting.remove(&id);
        answer?.map_err(|e| format!("{method}: {e}"))
    }

    /// Wait until `ready` finds what it looks for, the connection closes, or `timeout` passes.
    fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        loop {
            if let Some(found) = ready(&mut state) {
                return Ok(found);
            }
            if let Some(why) = &state.closed {
                return Err(format!("Chromium went away while waiting for {what}: {why}"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no {what} within {timeout:?}"));
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    }

    /// The reader thread: split the pipe into NUL-terminated messages and file each, until
    /// the browser closes its end.
    fn read_loop(&self, pipe: io::PipeReader) {
        let mut pipe = BufReader::new(pipe);
        let mut buf = Vec::new();
        let why = loop {
            buf.clear();
            match pipe.read_until(0, &mut buf) {
                Ok(0) => break "the pipe closed (Chromium exited)".to_string(),
                Ok(_) => {}
                Err(e) => break format!("cannot read from Chromium: {e}"),
            }
            if buf.last() == Some(&0) {
                buf.pop();
            }
            match serde_json::from_slice::<Value>(&buf) {
                Ok(message) => self.dispatch(message),
                Err(e) => note(&format!("Chromium sent a message that is not JSON ({e}); ignored")),
            }
        };
        self.state().closed = Some(why);
        self.changed.notify_all();
    }

    fn dispatch(&self, message: Value) {
        if let Some(id) = message["id"].as_u64() {
            let mut state = self.state();
            if state.waiting.contains(&id) {
                let answer = match message.get("error") {
                    Some(error) => Err(cdp_error(error)),
                    None => Ok(message["result"].clone()),
                };
                state.answers.insert(id, answer);
            }
        } else if let (Some(method), Some(session)) = (message["method"].as_str(), message["sessionId"].as_str()) {
            self.page_event(session, method, &message["params"]);
        }
        self.changed.notify_all();
    }

    /// File one event of a page's session; answer paused requests.
    fn page_event(&self, session: &str, method: &str, params: &Value) {
        if method == "Fetch.requestPaused" {
            return self.decide(session, params);
        }
        let mut state = self.state();
        let Some(log) = state.sessions.get_mut(session) else { return };
        match method {
            "Network.requestWillBeSent" => log.saw(params["request"]["url"].as_str().unwrap_or_default()),
            "Network.webSocketCreated" => log.saw(params["url"].as_str().unwrap_or_default()),
            "Page.loadEventFired" => log.loads += 1,
            "Runtime.exceptionThrown" => log.errors.push(exception_text(&params["exceptionDetails"])),
            "Runtime.consoleAPICalled" if params["type"] == "error" => log.errors.push(console_text(params)),
            "Inspector.targetCrashed" => log.errors.push("the page crashed (Inspector.targetCrashed)".into()),
            _ => {}
        }
    }

    /// Let the page's own document through; record and fail every other request.
    fn decide(&self, session: &str, params: &Value) {
        let url = params["request"]["url"].as_str().unwrap_or_default();
        let own = {
            let mut state = self.state();
            let Some(log) = state.sessions.get_mut(session) else { return };
            log.saw(url);
            without_fragment(url) == log.own_url
        };
        let request = json!(params["requestId"]);
        let sent = if own {
            self.send(Some(session), "Fetch.continueRequest", json!({"requestId": request}))
        } else {
            self.send(
                Some(session),
                "Fetch.failRequest",
                json!({"requestId": request, "errorReason": "BlockedByClient"}),
            )
        };
        if let Err(e) = sent {
            note(&e);
        }
    }
}

impl SessionLog {
    /// Record `url` if it is neither the page's own document nor inline (`data:`, `blob:`,
    /// `about:`), once.
    fn saw(&mut self, url: &str) {
        let url = without_fragment(url);
        let inline = ["data:", "blob:", "about:"].iter().any(|scheme| url.starts_with(scheme));
        if !url.is_empty() && !inline && url != self.own_url && !self.requests.iter().any(|seen| seen == url) {
            self.requests.push(url.to_string());
        }
    }
}

fn without_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(before, _)| before)
}

fn cdp_error(error: &Value) -> String {
    let message = error["message"].as_str().unwrap_or("unknown error");
    match error["data"].as_str() {
        Some(data) => format!("{message} ({data})"),
        None => message.to_string(),
    }
}

/// The readable part of a CDP `ExceptionDetails`: the exception's description (message and
/// stack) when there is one, else its text.
fn exception_text(details: &Value) -> String {
    let description = details["exception"]["description"].as_str();
    let value = details["exception"]["value"].as_str();
    let text = details["text"].as_str().unwrap_or("exception");
    description.or(value).unwrap_or(text).to_string()
}

fn console_text(params: &Value) -> String {
    let args = params["args"].as_array().map(Vec::as_slice).unwrap_or_default();
    let parts: Vec<String> = args
        .iter()
        .map(|arg| match (&arg["value"], arg["description"].as_str()) {
            (Value::String(s), _) => s.clone(),
            (Value::Null, Some(description)) => description.to_string(),
            (value, _) => value.to_string(),
        })
        .collect();
    format!("console.error: {}", parts.join(" "))
}

/// The emulated media, kept because `Emulation.setEmulatedMedia` replaces both at once.
#[derive(Default)]
struct Media {
    media: String,
    dark: Option<bool>,
}

/// One tab, closed when dropped.
pub struct Page<'b> {
    browser: &'b Browser,
    session: String,
    target: String,
    media: Mutex<Media>,
}

impl Page<'_> {
    fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.browser.conn.call(Some(&self.session), method, params, COMMAND_TIMEOUT)
    }

    fn log<T>(&self, read: impl FnOnce(&SessionLog) -> T) -> T {
        let state = self.browser.conn.state();
        read(state.sessions.get(&self.session).unwrap_or(&SessionLog::default()))
    }

    /// Every URL the page tried to load besides its own document (and inline `data:` and
    /// `blob:` URLs), in order: all of them were failed. A self-contained report has none.
    pub fn requests(&self) -> Vec<String> {
        self.log(|log| log.requests.clone())
    }

    /// Uncaught exceptions and `console.error` messages, in order.
    pub fn errors(&self) -> Vec<String> {
        self.log(|log| log.errors.clone())
    }

    /// Load `path` in this tab and wait (at most [`LOAD_TIMEOUT`]) for its load event.
    pub fn navigate(&self, path: &Path) -> Result<(), String> {
        let loads = self.log(|log| log.loads);
        let url = self.start_navigation(path)?;
        let what = format!("load event of {}", path.display());
        let conn = &self.browser.conn;
        conn.wait(LOAD_TIMEOUT, &what, |state| {
            state.sessions.get(&self.session).filter(|l| l.loads > loads).map(|_| ())
        })?;
        // A load event of the previous document may arrive late: make sure it is this one.
        self.wait_for(&fresh_document(&url, "document.readyState === 'complete'"), LOAD_TIMEOUT)
    }

    /// Load `path` and measure how long it takes from `Page.navigate` until `ready_js`
    /// (an expression) is true in the new document, checked every 10 ms: the first render.
    pub fn navigate_and_measure(&self, path: &Path, ready_js: &str) -> Result<Duration, String> {
        let started = Instant::now();
        let url = self.start_navigation(path)?;
        self.wait_for(&fresh_document(&url, ready_js), LOAD_TIMEOUT)?;
        Ok(started.elapsed())
    }

    /// Mark the current document, allow `path`'s URL and send `Page.navigate`; the file URL.
    fn start_navigation(&self, path: &Path) -> Result<String, String> {
        let url = file_url(path)?;
        if let Some(log) = self.browser.conn.state().sessions.get_mut(&self.session) {
            log.own_url = url.clone();
        }
        // Lets `fresh_document` tell the old document from the new one with the same URL.
        self.eval("window.__meshcOldDocument = true")?;
        let navigated = self.call("Page.navigate", json!({"url": url}))?;
        match navigated["errorText"].as_str().filter(|e| !e.is_empty()) {
            Some(error) => Err(format!("cannot open {} in Chromium: {error}", path.display())),
            None => Ok(url),
        }
    }

    /// Evaluate `js` (an expression; a promise is awaited) and return its value as JSON
    /// (`null` for `undefined` and for values JSON cannot hold). `Err` holds the exception.
    pub fn eval(&self, js: &str) -> Result<Value, String> {
        let evaluated =
            self.call("Runtime.evaluate", json!({"expression": js, "returnByValue": true, "awaitPromise": true}))?;
        if let Some(details) = evaluated.get("exceptionDetails") {
            return Err(format!("JavaScript threw: {}", exception_text(details)));
        }
        Ok(evaluated["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Wait until the expression `condition` is truthy, evaluating it every 10 ms for at most
    /// `timeout`. Exceptions count as "not yet" (the document may be changing); `Err` ends
    /// with the last one.
    pub fn wait_for(&self, condition: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let check = format!("!!(\n{condition}\n)");
        loop {
            let last = match self.eval(&check) {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => "it was false".to_string(),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!("`{condition}` was not true within {timeout:?} ({last})"));
            }
            thread::sleep(POLL);
        }
    }

    /// Press and release a key: `Tab`, `Shift+Tab`, `Enter`, `Escape`, `Space`, `Backspace`,
    /// `Delete`, `ArrowUp`/`Down`/`Left`/`Right`, `Home`, `End`, `PageUp`, `PageDown`, or one
    /// printable character (`/`, `g`, `G`, `?`). Prefixes `Shift+`, `Ctrl+`, `Alt+`, `Meta+`
    /// add modifiers.
    pub fn press(&self, key: &str) -> Result<(), String> {
        let key = Key::parse(key)?;
        let mut event = json!({
            "key": key.key,
            "code": key.code,
            "windowsVirtualKeyCode": key.virtual_code,
            "nativeVirtualKeyCode": key.virtual_code,
            "modifiers": key.modifiers,
        });
        // A key that types something is a `keyDown` with its text (keypress and input
        // follow); one that does not is a `rawKeyDown`, as Chromium's own input does.
        event["type"] = json!(if key.text.is_empty() { "rawKeyDown" } else { "keyDown" });
        if !key.text.is_empty() {
            event["text"] = json!(key.text);
            event["unmodifiedText"] = json!(key.text);
        }
        self.call("Input.dispatchKeyEvent", event.clone())?;
        event["type"] = json!("keyUp");
        self.call("Input.dispatchKeyEvent", event).map(drop)
    }

    /// Click the first element matching the CSS `selector` (`element.click()`); `Err` when
    /// nothing matches.
    pub fn click(&self, selector: &str) -> Result<(), String> {
        let selector = json!(selector);
        self.eval(&format!(
            "(() => {{ const el = document.querySelector({selector}); \
             if (!el) throw new Error('nothing matches ' + {selector}); el.click(); }})()"
        ))
        .map(drop)
    }

    /// Type `text` into the focused element (`Input.insertText`: no key events, like an IME).
    pub fn type_text(&self, text: &str) -> Result<(), String> {
        self.call("Input.insertText", json!({"text": text})).map(drop)
    }

    /// Emulate `prefers-color-scheme: dark` (or `light`).
    pub fn set_color_scheme(&self, dark: bool) -> Result<(), String> {
        let mut media = self.media.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        media.dark = Some(dark);
        self.emulate(&media)
    }

    /// Emulate a CSS media type: `"print"`, `"screen"`, or `""` for none.
    pub fn set_media(&self, media_type: &str) -> Result<(), String> {
        let mut media = self.media.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        media.media = media_type.to_string();
        self.emulate(&media)
    }

    fn emulate(&self, media: &Media) -> Result<(), String> {
        let features = match media.dark {
            Some(dark) => json!([{"name": "prefers-color-scheme", "value": if dark { "dark" } else { "light" }}]),
            None => json!([]),
        };
        self.call("Emulation.setEmulatedMedia", json!({"media": media.media, "features": features})).map(drop)
    }

    /// Write a PNG of the viewport to `path` (parent directories are created).
    pub fn screenshot(&self, path: &Path) -> Result<(), String> {
        self.capture(path, json!({"format": "png"}))
    }

    /// Write a PNG of the whole page, beyond the viewport (at most 16384 CSS pixels tall).
    pub fn screenshot_full(&self, path: &Path) -> Result<(), String> {
        let metrics = self.call("Page.getLayoutMetrics", json!({}))?;
        let size = &metrics["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(f64::from(VIEWPORT.0)).ceil();
        let height = size["height"].as_f64().unwrap_or(f64::from(VIEWPORT.1)).ceil().min(MAX_SCREENSHOT_HEIGHT);
        let clip = json!({"x": 0, "y": 0, "width": width, "height": height, "scale": 1});
        self.capture(path, json!({"format": "png", "captureBeyondViewport": true, "clip": clip}))
    }

    fn capture(&self, path: &Path, params: Value) -> Result<(), String> {
        let png = decode_base64(self.call("Page.captureScreenshot", params)?["data"].as_str().unwrap_or_default())?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// The page printed to PDF (`Page.printToPDF`, backgrounds included): the bytes.
    pub fn pdf(&self) -> Result<Vec<u8>, String> {
        let printed = self.call("Page.printToPDF", json!({"printBackground": true}))?;
        decode_base64(printed["data"].as_str().unwrap_or_default())
    }
}

impl Drop for Page<'_> {
    fn drop(&mut self) {
        let conn = &self.browser.conn;
        let _ = conn.send(None, "Target.closeTarget", json!({"targetId": self.target}));
        conn.state().sessions.remove(&self.session);
    }
}

/// `condition`, evaluated only in the document loaded from `url` after the last
/// `start_navigation` (the old one carries `__meshcOldDocument`).
fn fresh_document(url: &str, condition: &str) -> String {
    format!("!window.__meshcOldDocument && location.href === {} && (\n{condition}\n)", json!(url))
}

/// The `file://` URL of `path` (made absolute), as Chromium spells it: bytes outside the
/// characters a URL path keeps as they are are percent-encoded.
pub fn file_url(path: &Path) -> Result<String, String> {
    use std::os::unix::ffi::OsStrExt;
    let absolute = std::fs::canonicalize(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut url = String::from("file://");
    for &byte in absolute.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(url)
}

/// Standard base64 (CDP's encoding for binary data), without a crate for one function.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let digits = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut bits = 0u32;
        for &c in chunk {
            bits = bits << 6 | value(c).ok_or_else(|| format!("Chromium sent invalid base64 (byte {c:#04x})"))?;
        }
        // 2, 3 or 4 digits carry 1, 2 or 3 bytes; the rest of the bits are padding.
        let bytes = chunk.len() * 6 / 8;
        bits <<= 6 * (4 - chunk.len());
        out.extend_from_slice(&bits.to_be_bytes()[1..=bytes]);
    }
    Ok(out)
}

/// One key for `Input.dispatchKeyEvent`: DOM `key` and `code`, the Windows virtual key code
/// (which Chromium uses for default actions such as Tab's focus move), the text it types.
struct Key {
    key: String,
    code: String,
    virtual_code: u32,
    text: String,
    modifiers: u32,
}

impl Key {
    fn parse(spec: &str) -> Result<Key, String> {
        let (mut name, mut modifiers) = (spec, 0);
        for (prefix, bit) in [("Alt+", 1), ("Ctrl+", 2), ("Control+", 2), ("Meta+", 4), ("Shift+", 8)] {
            if let Some(rest) = name.strip_prefix(prefix).filter(|rest| !rest.is_empty()) {
                (name, modifiers) = (rest, modifiers | bit);
            }
        }
        fn named(key: &str, virtual_code: u32, text: &'static str) -> (String, String, u32, &'static str) {
            (key.to_string(), key.to_string(), virtual_code, text)
        }
        let (key, code, virtual_code, text) = match name {
            "Tab" => named("Tab", 9, ""),
            "Enter" => named("Enter", 13, "\r"),
            "Escape" => named("Escape", 27, ""),
            "Backspace" => named("Backspace", 8, ""),
            "Delete" => named("Delete", 46, ""),
            "Space" | " " => (" ".into(), "Space".into(), 32, " "),
            "ArrowLeft" => named("ArrowLeft", 37, ""),
            "ArrowUp" => named("ArrowUp", 38, ""),
            "ArrowRight" => named("ArrowRight", 39, ""),
            "ArrowDown" => named("ArrowDown", 40, ""),
            "Home" => named("Home", 36, ""),
            "End" => named("End", 35, ""),
            "PageUp" => named("PageUp", 33, ""),
            "PageDown" => named("PageDown", 34, ""),
            _ => return Key::printable(spec, name, modifiers),
        };
        Ok(Key { key, code, virtual_code, text: text.to_string(), modifiers })
    }

    /// A key that types one character on a US layout.
    fn printable(spec: &str, name: &str, modifiers: u32) -> Result<Key, String> {
        let mut chars = name.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(format!("unknown key {spec:?}: use a key name such as Tab or ArrowDown, or one character"));
        };
        let (code, virtual_code, shifted) = match c {
            'a'..='z' => (format!("Key{}", c.to_ascii_uppercase()), u32::from(c.to_ascii_uppercase()), false),
            'A'..='Z' => (format!("Key{c}"), u32::from(c), true),
            '0'..='9' => (format!("Digit{c}"), u32::from(c), false),
            _ => {
                let (code, virtual_code, shifted) = punctuation(c);
                (code.to_string(), virtual_code, shifted)
            }
        };
        let modifiers = if shifted { modifiers | 8 } else { modifiers };
        // With Ctrl, Alt or Meta held a key is a shortcut, not typing.
        let text = if modifiers & 7 == 0 { c.to_string() } else { String::new() };
        Ok(Key { key: c.to_string(), code, virtual_code, text, modifiers })
    }
}

/// DOM `code`, Windows virtual key code and whether Shift is needed, for punctuation on a
/// US layout; other characters get no code (they are typed through their text only).
fn punctuation(c: char) -> (&'static str, u32, bool) {
    match c {
        '/' => ("Slash", 191, false),
        '?' => ("Slash", 191, true),
        '.' => ("Period", 190, false),
        ',' => ("Comma", 188, false),
        '-' => ("Minus", 189, false),
        '=' => ("Equal", 187, false),
        ';' => ("Semicolon", 186, false),
        '\'' => ("Quote", 222, false),
        '[' => ("BracketLeft", 219, false),
        ']' => ("BracketRight", 221, false),
        '\\' => ("Backslash", 220, false),
        '`' => ("Backquote", 192, false),
        _ => ("", 0, false),
    }
}
