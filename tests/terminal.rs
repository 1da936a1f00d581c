//! Terminal behaviour: colours and the compile progress bar appear on a terminal
//! (a pseudo-terminal here) and never when stderr is piped, in CI, with
//! `--quiet`, or (colours) with NO_COLOR, unless `--color always` says so.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{meshc, write};

const ESC: &str = "\x1b[";
/// The progress bar erases its line with this when it ends.
const CLEAR: &str = "\r\x1b[2K";

const BROKEN: &str = "type: MeshTimeout\nname: broken\nmesh: default\nspec:\n  to:\n    - targetRef:\n        kind: Mesh\n      default:\n        connectionTimeout: soon\n";

/// What meshc wrote to stderr when stderr was a pseudo-terminal.
struct PtyRun {
    stderr: String,
    status: i32,
}

/// Run meshc with stderr on a fresh pseudo-terminal (stdout to /dev/null), with
/// `CI` and `NO_COLOR` removed unless `env` sets them.
fn on_pty(args: &[&str], env: &[(&str, &str)]) -> PtyRun {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into the out-pointers; null
    // name/termios/winsize are allowed.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just returned by openpty and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = meshc();
    cmd.args(args).env_remove("CI").env_remove("NO_COLOR").env_remove("GITHUB_ACTIONS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(slave));
    let mut child = cmd.spawn().expect("meshc starts");
    drop(cmd); // closes our copy of the slave, so reading the master ends at exit
    let mut reader = std::fs::File::from(master);
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // Linux reports EIO on the master once every slave is closed: that is the end.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("meshc {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = String::from_utf8_lossy(&collector.join().expect("reader")).into_owned();
    PtyRun { stderr, status: status.code().unwrap_or(-1) }
}

/// Run meshc with stderr piped.
fn piped(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = meshc();
    cmd.args(args).env_remove("CI").env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = common::run_bounded(cmd, None, Duration::from_secs(120));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn colours_follow_the_terminal_no_color_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "broken.yaml", BROKEN);
    let f = file.to_str().unwrap();
    let pty = |flags: &[&str], env: &[(&str, &str)]| on_pty(&[&["validate"], flags, &[f]].concat(), env);

    let auto = pty(&[], &[]);
    assert_eq!(auto.status, 1);
    assert!(auto.stderr.contains(ESC), "auto on a terminal has colour:\n{}", auto.stderr);
    assert!(auto.stderr.contains("MESH2005") || auto.stderr.contains("error"), "{}", auto.stderr);
    assert!(!pty(&[], &[("NO_COLOR", "1")]).stderr.contains(ESC), "NO_COLOR turns auto off");
    // no-color.org: only a non-empty NO_COLOR counts.
    assert!(pty(&[], &[("NO_COLOR", "")]).stderr.contains(ESC), "an empty NO_COLOR is not set");
    assert!(!pty(&["--color", "never"], &[]).stderr.contains(ESC), "--color never");
    // An explicit --color always is the user's latest word and beats NO_COLOR.
    assert!(pty(&["--color", "always"], &[("NO_COLOR", "1")]).stderr.contains(ESC), "--color always wins");

    assert!(!piped(&["validate", f], &[]).contains(ESC), "auto when piped: no colour");
    assert!(piped(&["validate", "--color", "always", f], &[("NO_COLOR", "1")]).contains(ESC));
}

/// A mesh big enough that a debug build compiles it for a while.
fn synth_mesh(dir: &Path) {
    let cfg = meshc::synth::SynthConfig { services: 4, policies_per_kind: 1, ..Default::default() };
    for (name, text) in meshc::synth::generate(&cfg) {
        write(dir, &name, &text);
    }
}

#[test]
fn progress_bar_only_on_a_terminal_outside_ci_without_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    synth_mesh(&input);
    let (i, o) = (input.to_str().unwrap(), dir.path().join("out"));
    let o = o.to_str().unwrap();
    let now = [("MESHC_PROGRESS_DELAY_MS", "0")];

    let shown = on_pty(&["compile", i, "--out", o], &now);
    assert_eq!(shown.status, 0, "{}", shown.stderr);
    assert!(shown.stderr.contains("compiling"), "a bar on a terminal:\n{:?}", shown.stderr);
    assert!(shown.stderr.contains(CLEAR), "the bar is erased at the end:\n{:?}", shown.stderr);
    let last = shown.stderr.rsplit(CLEAR).next().unwrap_or_default();
    assert!(last.starts_with("compiled "), "the summary starts on a clean line: {last:?}");

    let diff = on_pty(&["diff", i, "--against", o], &now);
    assert_eq!(diff.status, 0, "{}", diff.stderr);
    assert!(diff.stderr.contains("compiling") && diff.stderr.contains(CLEAR), "diff too: {:?}", diff.stderr);

    for (what, args, env) in [
        ("CI=true", vec!["compile", i, "--out", o], vec![("CI", "true")]),
        ("--quiet", vec!["compile", i, "--out", o, "--quiet"], vec![]),
        ("--message-format json", vec!["compile", i, "--out", o, "--message-format", "json"], vec![]),
        ("diff --quiet", vec!["diff", i, "--against", o, "--quiet"], vec![]),
    ] {
        let env: Vec<(&str, &str)> = env.into_iter().chain(now).collect();
        let run = on_pty(&args, &env);
        assert_eq!(run.status, 0, "{what}: {}", run.stderr);
        assert!(!run.stderr.contains("compiling") && !run.stderr.contains(CLEAR), "{what}: no bar:\n{:?}", run.stderr);
    }
    let piped = piped(&["compile", i, "--out", o], &now);
    assert!(!piped.contains("compiling") && !piped.contains(CLEAR), "piped: no bar:\n{piped:?}");
}
