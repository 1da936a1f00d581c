//! Incremental output with real Envoys on file-based xDS: a policy change that
//! affects one proxy makes exactly that proxy's Envoy reload (its LDS/CDS
//! update counters move, the other Envoy's do not), by `meshc compile` into
//! the existing directory and by `meshc watch`; and `meshc watch` itself
//! (summary lines, errors keep the last good output, SIGTERM exits 0 with
//! nothing left behind).
//!
//! Envoy tests start with `if common::envoy().is_none() { return; }`, use
//! 127.0.0.1 only and bounded waits.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::Envoy;
use common::mesh::{Mtls, Ports, bootstrap_of, ports, world};

/// A MeshTimeout on client-01 only: its requests to `server` time out after `timeout`.
fn client_timeout(timeout: &str) -> String {
    format!(
        "---
type: MeshTimeout
name: client-timeout
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: client-01
  to:
    - targetRef:
        kind: MeshService
        name: server
      default:
        http:
          requestTimeout: {timeout}
"
    )
}

/// `meshc compile INPUT --out OUT --format xds` with absolute paths.
fn compile_args(input: &Path, out: &Path) -> Vec<String> {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    vec![s(input), "--out".into(), s(out), "--format".into(), "xds".into(), "--color".into(), "never".into()]
}

fn compile(input: &Path, out: &Path) -> String {
    let mut args = vec!["compile".to_string()];
    args.extend(compile_args(input, out));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "compile: {stderr}");
    stderr
}

/// LDS and CDS `update_success` of an Envoy.
fn updates(envoy: &Envoy) -> (u64, u64) {
    let stats = envoy
        .admin_get("/stats?filter=^(listener_manager\\.lds|cluster_manager\\.cds)\\.update_success$")
        .unwrap_or_default();
    let value = |name: &str| {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": ")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {stats}"))
    };
    (value("listener_manager.lds.update_success"), value("cluster_manager.cds.update_success"))
}

/// A 1.5 s request through the client: its status.
fn slow_request(addr: SocketAddr) -> Result<u16, String> {
    let delay = [("x-echo-delay-ms", "1500")];
    common::http_request(addr, "GET", "server", "/slow", &delay, b"", Duration::from_secs(10)).map(|r| r.0)
}

fn wait_status(addr: SocketAddr, want: u16, client: &Envoy) {
    common::eventually(Duration::from_secs(20), || match slow_request(addr)? {
        s if s == want => Ok(()),
        s => Err(format!("status {s}, want {want}")),
    })
    .unwrap_or_else(|e| panic!("{e}\nclient log:\n{}", client.log()));
}

struct World {
    _echo: common::HttpEcho,
    dir: tempfile::TempDir,
    ports: Ports,
    echo_port: u16,
    input: PathBuf,
    out: PathBuf,
    server: Envoy,
    client: Envoy,
}

impl World {
    fn write_input(&self, extra: &str) {
        std::fs::write(&self.input, world(&self.ports, self.echo_port, Mtls::Off, "http", extra)).unwrap();
    }

    /// Asserts that the client's Envoy reloads (LDS or CDS) and the server's does not.
    fn only_client_reloads(&self, before: ((u64, u64), (u64, u64)), what: &str) {
        let (client_before, server_before) = before;
        common::eventually(Duration::from_secs(15), || {
            let now = updates(&self.client);
            if now.0 > client_before.0 || now.1 > client_before.1 { Ok(()) } else { Err(format!("client {now:?}")) }
        })
        .unwrap_or_else(|e| panic!("{what}: the client's Envoy did not reload: {e}\n{}", self.client.log()));
        // Give a wrongly triggered reload time to show.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(updates(&self.server), server_before, "{what}: the server's Envoy reloaded");
    }
}

fn start() -> Result<World, String> {
    let echo = common::HttpEcho::named("server");
    let echo_port = echo.port();
    common::retry_port_clash(3, || {
        let ports = ports();
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input.yaml");
        let out = dir.path().join("out");
        std::fs::write(&input, world(&ports, echo_port, Mtls::Off, "http", "")).unwrap();
        compile(&input, &out);
        let server = Envoy::start(&bootstrap_of(&out, "server-01"), dir.path(), ports.server_admin)?;
        let client = Envoy::start(&bootstrap_of(&out, "client-01"), dir.path(), ports.client_admin)?;
        Ok((ports, dir, input, out, server, client))
    })
    .map(|(ports, dir, input, out, server, client)| World {
        _echo: echo,
        dir,
        ports,
        echo_port,
        input,
        out,
        server,
        client,
    })
}

fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
}

#[test]
fn compile_into_the_running_output_reloads_only_the_changed_envoy() {
    if common::envoy().is_none() {
        return;
    }
    let w = start().unwrap_or_else(|e| panic!("both Envoys start: {e}"));
    let addr = w.ports.client_outbound();
    wait_status(addr, 200, &w.client);
    let server_dir = bootstrap_of(&w.out, "server-01").parent().unwrap().to_path_buf();
    let server_files: Vec<u64> = ["lds.yaml", "cds.yaml", "."].iter().map(|f| inode(&server_dir.join(f))).collect();

    let before = (updates(&w.client), updates(&w.server));
    w.write_input(&client_timeout("500ms"));
    let stderr = compile(&w.input, &w.out);
    assert!(stderr.contains("unchanged"), "{stderr}");
    w.only_client_reloads(before, "compile");
    // The new config is live: a 1.5 s request now times out at the client.
    wait_status(addr, 504, &w.client);
    let after: Vec<u64> = ["lds.yaml", "cds.yaml", "."].iter().map(|f| inode(&server_dir.join(f))).collect();
    assert_eq!(after, server_files, "the server's files and directory were not touched");

    // And back: the policy removed.
    let before = (updates(&w.client), updates(&w.server));
    w.write_input("");
    compile(&w.input, &w.out);
    w.only_client_reloads(before, "compile back");
    wait_status(addr, 200, &w.client);
    assert!(std::fs::read_dir(&w.out).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
}

/// A running `meshc watch` with its stderr lines on a channel.
struct Watch {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    fn start(args: &[String]) -> Watch {
        let mut child = common::meshc()
            .arg("watch")
            .args(args)
            .args(["--debounce-ms", "100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("meshc watch starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines, seen: Vec::new() }
    }

    /// The next line containing `needle` (bounded wait).
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("meshc watch never printed {needle:?}; it printed:\n{}", self.seen.join("\n"));
    }

    /// SIGTERM, then the exit status (bounded wait).
    fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("meshc watch did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_reloads_only_the_changed_envoy() {
    if common::envoy().is_none() {
        return;
    }
    let w = start().unwrap_or_else(|e| panic!("both Envoys start: {e}"));
    let addr = w.ports.client_outbound();
    wait_status(addr, 200, &w.client);
    let mut watch = Watch::start(&compile_args(&w.input, &w.out));
    let first = watch.expect("[watch #1]");
    assert!(first.contains("0 changed, 0 added, 0 removed, 2 unchanged"), "{first}");
    watch.expect("waiting for changes");

    let before = (updates(&w.client), updates(&w.server));
    w.write_input(&client_timeout("500ms"));
    let second = watch.expect("[watch #2]");
    assert!(second.contains("1 changed, 0 added, 0 removed, 1 unchanged"), "{second}");
    w.only_client_reloads(before, "watch");
    wait_status(addr, 504, &w.client);

    // An error: the last good output stays, and the Envoys see nothing.
    let before = (updates(&w.client), updates(&w.server));
    let good = common::read_tree(&w.out);
    std::fs::write(&w.input, "type: Mesh\nname: e2e\nmtls: {enabledBackend: nope}\n").unwrap();
    let third = watch.expect("[watch #3]");
    assert!(third.contains("NOT updated"), "{third}");
    assert_eq!(common::read_tree(&w.out), good);

    w.write_input("");
    watch.expect("[watch #4]");
    w.only_client_reloads(before, "watch back");
    wait_status(addr, 200, &w.client);

    let status = watch.stop();
    assert!(status.success(), "meshc watch exits 0 on SIGTERM: {status:?}");
    let left: Vec<String> = std::fs::read_dir(&w.out)
        .unwrap()
        .chain(std::fs::read_dir(w.dir.path()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// No Envoy needed: `watch` refuses `--check`, and SIGTERM during a first
/// compile still exits 0 and leaves nothing behind.
#[test]
fn watch_stops_cleanly_and_refuses_check() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.yaml");
    let out = dir.path().join("out");
    std::fs::write(&input, world(&ports(), 9, Mtls::Off, "http", "")).unwrap();
    let refused = common::run(&["watch", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--check"]);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(!out.exists());

    let mut watch = Watch::start(&compile_args(&input, &out));
    let first = watch.expect("[watch #1]");
    assert!(first.contains("0 changed, 2 added"), "{first}");
    watch.expect("waiting for changes");
    // A change that leaves every proxy as it was: nothing is written.
    std::fs::write(&input, format!("{}\n# a comment\n", std::fs::read_to_string(&input).unwrap())).unwrap();
    let second = watch.expect("[watch #2]");
    assert!(second.contains("files 0 written"), "{second}");
    let status = watch.stop();
    assert!(status.success(), "{status:?}");
    let hidden: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .chain(std::fs::read_dir(dir.path()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}
