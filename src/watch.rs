//! The library half of `meshc watch`: noticing that the input changed, stopping
//! cleanly on SIGINT/SIGTERM, and saying which proxies a run changed.
//!
//! **Polling, not inotify.** Changes are found by listing the input files with
//! the same walker a compile reads them with ([`crate::source::input_files`]:
//! same `.gitignore`/`.meshcignore` rules, same extensions, hidden paths
//! skipped) and comparing each file's size, mtime and inode with the last
//! listing. Compared with an inotify watcher (the `notify` crate):
//! - it watches exactly the files a compile reads: a `node_modules/` or `.git/`
//!   next to the policies costs nothing, and an ignored or hidden file (an
//!   editor's swap file) never triggers a run; a recursive inotify watch would
//!   need one watch per directory (a per-user kernel limit) and its own copy of
//!   the ignore rules;
//! - it works where inotify does not: network file systems, container bind
//!   mounts from another OS, and an editor that saves by replacing the file
//!   (which silently ends an inotify watch on that file);
//! - no new dependency in a tool that runs unattended on untrusted input.
//!
//! The cost is one `stat` per input file per poll. The interval is twenty times
//! the time a look takes (100 ms to 5 s), so an idle watch spends at most about
//! 5% of one core looking, whatever the size of the tree; the price is up to one
//! interval of latency on top of the debounce (a second for a tree whose listing
//! takes 50 ms).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// Every input file and its stamp at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, Option<Stamp>>,
}

impl Snapshot {
    /// Lists the files a compile of `paths` reads, leaving out those under
    /// `exclude` (the output directory, when it lies inside the input).
    pub fn take(paths: &[PathBuf], exclude: &[PathBuf]) -> Snapshot {
        let files = crate::source::input_files(paths)
            .into_iter()
            .filter(|p| !exclude.iter().any(|e| absolute(p).starts_with(e)))
            .map(|p| {
                let stamp = std::fs::metadata(&p).ok().map(|m| Stamp {
                    len: m.len(),
                    modified: m.modified().ok(),
                    inode: inode(&m),
                });
                (p, stamp)
            })
            .collect();
        Snapshot { files }
    }

    /// The files added, removed or modified since `before`, sorted.
    pub fn changed_since(&self, before: &Snapshot) -> Vec<PathBuf> {
        let mut changed: Vec<PathBuf> =
            self.files.iter().filter(|(p, s)| before.files.get(*p) != Some(*s)).map(|(p, _)| p.clone()).collect();
        changed.extend(before.files.keys().filter(|p| !self.files.contains_key(*p)).cloned());
        changed.sort();
        changed
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// `path` made absolute without touching the file system.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The forms of `dir` a walked path may start with (as given, made absolute,
/// and with symlinks resolved), for [`Snapshot::take`]'s `exclude`.
pub fn exclusions(dir: &Path) -> Vec<PathBuf> {
    let mut forms = vec![absolute(dir)];
    if let Ok(real) = std::fs::canonicalize(dir) {
        forms.push(real);
    }
    forms
}

/// Waits for the input to change and settle.
pub struct Poller {
    paths: Vec<PathBuf>,
    exclude: Vec<PathBuf>,
    /// The input as the last (or running) compile read it.
    last: Snapshot,
    /// How long the input must stay unchanged before a run starts.
    pub debounce: Duration,
}

/// How often to look, at least.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How long to wait between looks, at most (a huge tree).
const MAX_INTERVAL: Duration = Duration::from_secs(5);
/// The interval is this many times the time one look takes.
const LOOK_SHARE: u32 = 20;
/// How long to sleep between checks of the stop flag.
const TICK: Duration = Duration::from_millis(25);

impl Poller {
    /// Takes the first snapshot: call it before the first compile reads the input.
    pub fn new(paths: Vec<PathBuf>, exclude: Vec<PathBuf>, debounce: Duration) -> Poller {
        let last = Snapshot::take(&paths, &exclude);
        Poller { paths, exclude, last, debounce }
    }

    /// Blocks until the input differs from the last snapshot and has then not
    /// changed for [`Poller::debounce`]; returns the files that changed (that
    /// snapshot becomes the last: a change during the next compile is seen by
    /// the next wait). `None` when `stop` is set.
    pub fn wait(&mut self, stop: &AtomicBool) -> Option<Vec<PathBuf>> {
        let mut interval = MIN_INTERVAL;
        let mut pending: Option<(Snapshot, Instant)> = None;
        loop {
            if !sleep_unless(stop, interval) {
                return None;
            }
            let started = Instant::now();
            let now = Snapshot::take(&self.paths, &self.exclude);
            // A slow listing (a huge tree) is not repeated back to back: at most a
            // twentieth of the time goes to looking while nothing changes.
            interval = (started.elapsed() * LOOK_SHARE).clamp(MIN_INTERVAL, MAX_INTERVAL);
            match pending.take() {
                _ if now == self.last => {}
                Some((seen, since)) if seen == now => {
                    if since.elapsed() >= self.debounce {
                        let changed = now.changed_since(&self.last);
                        self.last = now;
                        return Some(changed);
                    }
                    pending = Some((seen, since));
                }
                _ => pending = Some((now, Instant::now())),
            }
            if let Some((_, since)) = &pending {
                // Look again right when the quiet period may be over.
                interval = interval.min(self.debounce.saturating_sub(since.elapsed()).max(TICK));
            }
        }
    }
}

/// Sleeps `total` in short ticks; false as soon as `stop` is set.
fn sleep_unless(stop: &AtomicBool, total: Duration) -> bool {
    let until = Instant::now() + total;
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep(TICK.min(until - now));
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Sets the returned flag on the first SIGINT or SIGTERM instead of dying, so
/// a run in progress finishes its write (never leaving temporary files) and
/// the watch loop exits with status 0. A second signal gets the default action
/// (the process dies at once; the next run finishes or discards what it left:
/// see [`crate::emit::write`]).
pub fn stop_on_signals() -> &'static AtomicBool {
    #[cfg(unix)]
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe); the
        // sigaction struct is fully initialised before the call.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART | libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    &STOP
}

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// How the proxies of two manifests differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyChanges {
    pub changed: usize,
    pub added: usize,
    pub removed: usize,
    pub unchanged: usize,
}

impl std::fmt::Display for ProxyChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} changed, {} added, {} removed, {} unchanged",
            self.changed, self.added, self.removed, self.unchanged
        )
    }
}

/// Compares two `manifest.json`s proxy by proxy (by bootstrap path and the
/// hash of the proxy's files). A missing or unreadable old manifest counts as
/// no proxies.
pub fn proxy_changes(old: Option<&[u8]>, new: &[u8]) -> ProxyChanges {
    let (old, new) = (hashes(old.unwrap_or_default()), hashes(new));
    let mut changes = ProxyChanges::default();
    for (proxy, hash) in &new {
        match old.get(proxy) {
            None => changes.added += 1,
            Some(h) if h == hash => changes.unchanged += 1,
            Some(_) => changes.changed += 1,
        }
    }
    changes.removed = old.keys().filter(|p| !new.contains_key(*p)).count();
    changes
}

/// Bootstrap path -> sha256 of every proxy in a manifest.
fn hashes(manifest: &[u8]) -> BTreeMap<String, String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(manifest) else {
        return BTreeMap::new();
    };
    let proxies = value.get("proxies").and_then(|p| p.as_array()).cloned().unwrap_or_default();
    proxies
        .iter()
        .filter_map(|p| {
            let bootstrap = p.get("bootstrap")?.as_str()?.to_string();
            let hash = p.get("sha256").and_then(|h| h.as_str()).unwrap_or_default().to_string();
            Some((bootstrap, hash))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_changes_by_bootstrap_and_hash() {
        let m = |entries: &[(&str, &str)]| {
            let proxies: Vec<_> =
                entries.iter().map(|(b, h)| serde_json::json!({"bootstrap": b, "sha256": h})).collect();
            serde_json::to_vec(&serde_json::json!({"format": "xds", "proxies": proxies})).unwrap()
        };
        let old = m(&[("a", "1"), ("b", "1"), ("gone", "1")]);
        let new = m(&[("a", "1"), ("b", "2"), ("c", "1")]);
        let c = proxy_changes(Some(&old), &new);
        assert_eq!(c, ProxyChanges { changed: 1, added: 1, removed: 1, unchanged: 1 });
        assert_eq!(c.to_string(), "1 changed, 1 added, 1 removed, 1 unchanged");
        assert_eq!(proxy_changes(None, &new).added, 3);
        assert_eq!(proxy_changes(Some(b"garbage"), &new).added, 3);
    }

    #[test]
    fn the_poller_sees_a_change_once_it_settles_and_stops_on_request() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in");
        let out = input.join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(input.join("a.yaml"), "a: 1\n").unwrap();
        std::fs::write(out.join("ignored.yaml"), "x: 1\n").unwrap();
        std::fs::write(input.join(".hidden.yaml"), "x: 1\n").unwrap();
        let mut poller = Poller::new(vec![input.clone()], exclusions(&out), Duration::from_millis(200));
        assert_eq!(poller.last.len(), 1, "{:?}", poller.last);

        let writer = {
            let input = input.clone();
            std::thread::spawn(move || {
                // Noise the poller must not react to, then three quick edits.
                std::fs::write(input.join("out/ignored.yaml"), "x: 2\n").unwrap();
                std::fs::write(input.join(".hidden.yaml"), "x: 2\n").unwrap();
                for i in 0..3 {
                    std::thread::sleep(Duration::from_millis(60));
                    std::fs::write(input.join("a.yaml"), format!("a: {i}{i}\n")).unwrap();
                }
                std::fs::write(input.join("b.yml"), "b: 1\n").unwrap();
                Instant::now()
            })
        };
        let stop = AtomicBool::new(false);
        let changed = poller.wait(&stop).expect("a change");
        let returned = Instant::now();
        let last_write = writer.join().unwrap();
        assert_eq!(changed, [input.join("a.yaml"), input.join("b.yml")]);
        assert!(returned - last_write >= Duration::from_millis(200), "debounced: {:?}", returned - last_write);

        stop.store(true, Ordering::SeqCst);
        let started = Instant::now();
        assert_eq!(poller.wait(&stop), None);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
