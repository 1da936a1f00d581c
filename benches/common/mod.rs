//! What the benchmarks share: finding the `meshc` binary, reading list settings
//! from the environment, and running a command with its own peak memory measured.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A comma-separated list of numbers from `name` (`2500,5_000`), else `default`.
pub fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) => v.split(',').filter_map(|s| s.trim().replace('_', "").parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

/// The first number of [`env_list`].
pub fn env_one(name: &str, default: usize) -> usize {
    env_list(name, &[default]).first().copied().unwrap_or(default)
}

/// The `meshc` binary cargo built for this bench (release profile under `cargo bench`):
/// next to this executable (`target/<profile>/deps/<bench>-*`), else in the release dir.
pub fn meshc_binary() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_meshc") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let candidate = profile_dir.join("meshc");
    if candidate.exists() {
        return candidate;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    target.join("release").join("meshc")
}

/// One finished child process.
pub struct Finished {
    pub wall: Duration,
    pub status: i32,
    /// Peak resident set of this child alone, in bytes.
    pub max_rss: u64,
}

/// Run `cmd` to completion and reap it with `wait4`, which reports the child's own
/// peak RSS (`RUSAGE_CHILDREN` would be the maximum over every child so far).
pub fn run_measured(mut cmd: Command) -> Finished {
    let start = Instant::now();
    // Reaped below with wait4, not `Child::wait`, which would not report the rusage.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (std's `Child` only reaps in
    // `wait`/`try_wait`, which are never called on it); the pointers are valid.
    let reaped = loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4 on {cmd:?}: {}", std::io::Error::last_os_error());
    let status = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    // Linux reports ru_maxrss in KiB.
    Finished { wall, status, max_rss: (usage.ru_maxrss.max(0) as u64) * 1024 }
}
