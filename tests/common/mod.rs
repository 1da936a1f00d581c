//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod chromium;
mod envoy;
mod judge;
pub mod mesh;

// Not every test binary runs Envoy.
#[allow(unused_imports)]
pub use envoy::*;
#[allow(unused_imports)]
pub use judge::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The meshc binary under test.
pub fn meshc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshc"))
}

/// Run meshc with a time bound: no input may make it hang.
pub fn run_bounded(mut cmd: Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("meshc starts");
    if let Some(data) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    // Collect output on another thread (a full pipe must not block the child) and
    // bound the wait.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("meshc did not finish within {limit:?}");
        }
    }
}

/// Run meshc with arguments (10 s bound).
pub fn run(args: &[&str]) -> Output {
    let mut cmd = meshc();
    cmd.args(args);
    run_bounded(cmd, None, Duration::from_secs(60))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared folder beside the repository (Kuma's fixtures).
pub fn shared() -> PathBuf {
    let beside = root().join("../shared");
    if beside.exists() { beside } else { PathBuf::from("/work/shared") }
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// Every file under `dir` with its bytes, by path relative to `dir` ('/'-separated).
pub fn read_tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}
