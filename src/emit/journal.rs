//! The journal of an in-place update (see the [`write`](super::write) module
//! doc for the whole protocol): which staged files replace which output files,
//! which files go, and how a later run finishes what a killed one started.
//!
//! Everything here is idempotent: applying a journal twice, or after a crash in
//! the middle of applying it, ends in the same directory.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::EmitError;
use super::tree::{MANIFEST, check_rel_path};
use super::write::{FailPoint, create_dir, join, sync_dir};

/// The journal's name in the output directory. While it exists, the directory
/// is in the middle of an update.
pub const JOURNAL: &str = ".meshc-journal";
/// Where the journal is written before it is renamed into place.
const JOURNAL_TMP: &str = ".meshc-journal.tmp";
/// Staging directories inside the output directory start with this.
pub const STAGING_PREFIX: &str = ".meshc-staging-";
const VERSION: u32 = 1;

/// The renames and deletions of one update, in the order they are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Journal {
    meshc_journal: u32,
    /// The staging directory (a name inside the output directory).
    staging: String,
    /// Relative paths: `staging/<path>` is renamed to `<path>`, in this order
    /// (each proxy's cds, lds, bootstrap; `manifest.json` last).
    replace: Vec<String>,
    /// Relative paths deleted after the manifest is replaced.
    remove: Vec<String>,
}

impl Journal {
    /// A journal for `changed` (staged) and `removed` paths, put in apply order.
    pub(super) fn new(staging: String, changed: impl IntoIterator<Item = String>, removed: Vec<String>) -> Journal {
        let mut replace: Vec<String> = changed.into_iter().collect();
        replace.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        let mut remove = removed;
        remove.sort();
        Journal { meshc_journal: VERSION, staging, replace, remove }
    }

    /// Only meshc's own names: a journal can never make a run touch anything
    /// outside the output directory's `manifest.json` and `proxies/`.
    fn check(&self) -> Result<(), String> {
        if self.meshc_journal != VERSION {
            return Err(format!("it has version {}, this meshc writes version {VERSION}", self.meshc_journal));
        }
        let name_ok = self.staging.starts_with(STAGING_PREFIX)
            && !self.staging.contains(['/', '\\', '\0'])
            && self.staging.len() > STAGING_PREFIX.len();
        if !name_ok {
            return Err(format!("its staging directory {:?} is not a meshc staging name", self.staging));
        }
        for path in self.replace.iter().chain(&self.remove) {
            check_rel_path(path).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// cds before lds before bootstrap within a proxy directory (a listener never
/// names a cluster its Envoy does not have yet), the manifest after everything.
fn order_key(path: &str) -> (bool, &str, u8, &str) {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let rank = match file.split('.').next() {
        Some("cds") => 0,
        Some("lds") => 1,
        Some("bootstrap") => 2,
        _ => 3,
    };
    (path == MANIFEST, dir, rank, file)
}

/// Writes `journal` durably into `root` (a complete file renamed into place,
/// then the directory synced): from here on, the update happens even if this
/// process dies.
pub(super) fn write(root: &Path, journal: &Journal) -> Result<(), EmitError> {
    let tmp = root.join(JOURNAL_TMP);
    let mut bytes = serde_json::to_vec_pretty(journal)
        .map_err(|e| EmitError::Serialize { proxy: "the write journal".into(), message: e.to_string() })?;
    bytes.push(b'\n');
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()
    })();
    written.map_err(|e| EmitError::io(&tmp, "write", e))?;
    let path = root.join(JOURNAL);
    fs::rename(&tmp, &path).map_err(|e| EmitError::io(&path, "write", e))?;
    sync_dir(root).map_err(|e| EmitError::io(root, "sync", e))
}

/// Applies `journal` to `root`, then deletes its staging directory and the
/// journal. `fail` (tests) stops before rename number `n` as a crash would:
/// nothing is cleaned up.
pub(super) fn apply(root: &Path, journal: &Journal, fail: Option<FailPoint>) -> Result<(), EmitError> {
    let staging = root.join(&journal.staging);
    // A journal found on disk may have been planted (an output directory is often
    // committed): its staging directory must be a real one, never a link to
    // files elsewhere that the renames would move in.
    if fs::symlink_metadata(&staging).is_ok_and(|m| !m.is_dir()) {
        return Err(EmitError::BadJournal {
            path: root.join(JOURNAL),
            reason: format!("its staging directory {} is not a directory", staging.display()),
        });
    }
    let mut touched: BTreeSet<PathBuf> = BTreeSet::new();
    for (i, rel) in journal.replace.iter().enumerate() {
        if fail == Some(FailPoint::AfterJournal(i)) {
            return Err(EmitError::Injected { point: format!("{:?}", FailPoint::AfterJournal(i)) });
        }
        if rel == MANIFEST {
            // Every proxy file is durable before the manifest names it.
            sync_all(&touched)?;
        }
        let from = join(&staging, rel);
        if !real_dirs(&staging, rel) {
            // Not staged by meshc (a link on the way out of the staging directory).
            continue;
        }
        match fs::symlink_metadata(&from) {
            Ok(_) => {}
            // Already renamed by the run that was interrupted.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(EmitError::io(from, "inspect", e)),
        }
        let to = join(root, rel);
        clear_way(root, rel)?;
        fs::rename(&from, &to).map_err(|e| EmitError::io(&to, "replace", e))?;
        touched.insert(to.parent().unwrap_or(root).to_path_buf());
    }
    touched.insert(root.to_path_buf());
    sync_all(&touched)?;
    let mut pruned = BTreeSet::new();
    for rel in &journal.remove {
        let path = join(root, rel);
        if !real_dirs(root, rel) {
            // Through a link: not a file of this output directory.
            continue;
        }
        match fs::symlink_metadata(&path) {
            // Listed as a file or link, now a directory: `clear_way` made it one
            // for new files.
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => fs::remove_file(&path),
            Err(e) => Err(e),
        }
        .or_else(not_found_ok)
        .map_err(|e| EmitError::io(&path, "remove", e))?;
        prune_empty_parents(root, rel, &mut pruned);
    }
    sync_all(&pruned)?;
    fs::remove_dir_all(&staging).or_else(not_found_ok).map_err(|e| EmitError::io(&staging, "remove", e))?;
    let path = root.join(JOURNAL);
    fs::remove_file(&path).or_else(not_found_ok).map_err(|e| EmitError::io(&path, "remove", e))?;
    sync_dir(root).map_err(|e| EmitError::io(root, "sync", e))
}

fn not_found_ok(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) }
}

/// Syncs `dirs`; one that is gone needs none (its parent's sync covers it).
fn sync_all(dirs: &BTreeSet<PathBuf>) -> Result<(), EmitError> {
    dirs.iter().try_for_each(|d| sync_dir(d).or_else(not_found_ok).map_err(|e| EmitError::io(d, "sync", e)))
}

/// Makes `root/rel` renamable-into: every ancestor a real directory (a symlink
/// or file in the way is removed, so nothing is ever written through a link to
/// outside the output), and no directory at `rel` itself. Only a layout change
/// (a proxy directory that became another proxy's parent) ever removes anything.
fn clear_way(root: &Path, rel: &str) -> Result<(), EmitError> {
    let mut at = root.to_path_buf();
    let segments: Vec<&str> = rel.split('/').collect();
    for segment in &segments[..segments.len() - 1] {
        at.push(segment);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => fs::remove_file(&at).map_err(|e| EmitError::io(&at, "remove", e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(EmitError::io(at, "inspect", e)),
        }
        create_dir(&at).map_err(|e| EmitError::io(&at, "create", e))?;
    }
    let target = join(root, rel);
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(&target).map_err(|e| EmitError::io(&target, "remove", e))?;
    }
    Ok(())
}

/// Whether every directory between `root` and `root/rel` is a real directory
/// (no symbolic link, nothing missing): only then is `root/rel` inside `root`.
fn real_dirs(root: &Path, rel: &str) -> bool {
    let mut at = root.to_path_buf();
    let Some((parents, _)) = rel.rsplit_once('/') else { return true };
    parents.split('/').all(|segment| {
        at.push(segment);
        fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir())
    })
}

/// Removes the directories above `rel` that are now empty (not `root`).
fn prune_empty_parents(root: &Path, rel: &str, pruned: &mut BTreeSet<PathBuf>) {
    let mut dir = rel;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        if !real_dirs(root, &format!("{parent}/_")) {
            return;
        }
        let path = join(root, parent);
        // An entry went from `path`: sync it, unless it goes too (or went
        // already: a journal applied again after a crash).
        match fs::remove_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => {
                pruned.insert(path);
                return;
            }
        }
        pruned.remove(&path);
        dir = parent;
    }
    pruned.insert(root.to_path_buf());
}

/// What a write found left by an interrupted run (see [`WriteStats::recovered`](super::WriteStats::recovered)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// A committed journal was rolled forward.
    pub rolled_forward: bool,
    /// Staging directories (or a half-written journal) without a committed
    /// journal were deleted.
    pub discarded: usize,
}

/// Finishes what an interrupted run left in `root` (which the caller has
/// locked): a committed journal is applied; staging directories and a
/// half-written journal that no journal refers to are deleted.
pub(super) fn recover(root: &Path) -> Result<Recovery, EmitError> {
    let mut recovery = Recovery::default();
    let path = root.join(JOURNAL);
    match fs::read(&path) {
        Ok(bytes) => {
            let journal: Journal = serde_json::from_slice(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|j: Journal| j.check().map(|()| j))
                .map_err(|reason| EmitError::BadJournal { path: path.clone(), reason })?;
            apply(root, &journal, None)?;
            recovery.rolled_forward = true;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(EmitError::io(path, "read", e)),
    }
    for entry in fs::read_dir(root).map_err(|e| EmitError::io(root, "read", e))? {
        let entry = entry.map_err(|e| EmitError::io(root, "read", e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with(STAGING_PREFIX) {
            fs::remove_dir_all(&path).or_else(not_found_ok).map_err(|e| EmitError::io(&path, "remove", e))?;
            recovery.discarded += 1;
        } else if name == JOURNAL_TMP {
            fs::remove_file(&path).or_else(not_found_ok).map_err(|e| EmitError::io(&path, "remove", e))?;
            recovery.discarded += 1;
        }
    }
    Ok(recovery)
}

/// The journal of an unfinished update in `dir`, if a run was killed while
/// replacing files there (`compile --check` and `diff` report it; the next
/// `compile` or `watch` finishes it).
pub fn unfinished(dir: &Path) -> Option<PathBuf> {
    let path = dir.join(JOURNAL);
    fs::symlink_metadata(&path).is_ok().then_some(path)
}

/// An exclusive lock on the output directory for one writing run, so that a
/// `meshc watch` and a `meshc compile` into the same directory never interleave
/// their updates. Waits up to 10 s for another run to finish. Released when
/// dropped (or when the process dies).
pub(super) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(super) fn acquire(dir: &Path) -> Result<DirLock, EmitError> {
        let file = File::open(dir).map_err(|e| EmitError::io(dir, "open", e))?;
        let started = Instant::now();
        loop {
            match try_lock(&file) {
                Ok(()) => return Ok(DirLock { _file: file }),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(EmitError::Busy { dir: dir.to_path_buf() });
                }
                Err(e) => return Err(EmitError::io(dir, "lock", e)),
            }
        }
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the descriptor is open for the whole call; flock has no other effect.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(not(unix))]
fn try_lock(_: &File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_order_is_cds_lds_bootstrap_per_proxy_and_manifest_last() {
        let paths = [
            "manifest.json",
            "proxies/m/b/bootstrap.yaml",
            "proxies/m/a/lds.yaml",
            "proxies/m/a/bootstrap.yaml",
            "proxies/m/a/cds.yaml",
            "proxies/m/b/cds.yaml",
        ];
        let j = Journal::new(".meshc-staging-1-0".into(), paths.iter().map(|p| p.to_string()), vec![]);
        assert_eq!(
            j.replace,
            [
                "proxies/m/a/cds.yaml",
                "proxies/m/a/lds.yaml",
                "proxies/m/a/bootstrap.yaml",
                "proxies/m/b/cds.yaml",
                "proxies/m/b/bootstrap.yaml",
                "manifest.json"
            ]
        );
        j.check().unwrap();
    }

    #[test]
    fn hostile_journals_are_refused() {
        let bad = |staging: &str, path: &str| {
            Journal::new(staging.into(), [path.to_string()], vec![]).check().expect_err(&format!("{staging} {path}"))
        };
        bad(".meshc-staging-1", "../../etc/passwd");
        bad(".meshc-staging-1", "/etc/passwd");
        bad(".meshc-staging-1", "notes.txt");
        bad("../elsewhere", "manifest.json");
        bad(".meshc-staging-", "manifest.json");
        bad(".meshc-staging-x/../..", "manifest.json");
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join(JOURNAL),
            b"{\"meshc_journal\": 1, \"staging\": \"..\", \"replace\": [], \"remove\": []}",
        )
        .unwrap();
        let err = recover(tmp.path()).unwrap_err();
        assert!(matches!(err, EmitError::BadJournal { .. }), "{err}");
        assert!(err.to_string().contains(".meshc-journal"), "{err}");
    }

    /// A planted journal and a symbolic link never make a run move or delete
    /// files outside the output directory (the reviewer's reproductions).
    #[cfg(unix)]
    #[test]
    fn planted_journals_do_not_reach_through_links() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let (out, victim) = (tmp.path().join("out"), tmp.path().join("victim"));
        fs::create_dir_all(victim.join("sub")).unwrap();
        fs::write(victim.join("important.txt"), "keep").unwrap();
        fs::write(victim.join("sub/keep.yaml"), "keep").unwrap();
        fs::create_dir_all(&out).unwrap();
        // Removals through a linked `proxies`.
        symlink(&victim, out.join("proxies")).unwrap();
        fs::create_dir(out.join(".meshc-staging-1-0")).unwrap();
        let remove = vec!["proxies/important.txt".to_string(), "proxies/sub/keep.yaml".to_string()];
        let journal = Journal::new(".meshc-staging-1-0".into(), [], remove);
        write(&out, &journal).unwrap();
        recover(&out).unwrap();
        assert!(victim.join("important.txt").exists() && victim.join("sub/keep.yaml").exists());
        // A staging directory that is a link, or that holds one, moves nothing in.
        fs::remove_file(out.join("proxies")).unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(elsewhere.join("proxies")).unwrap();
        fs::write(elsewhere.join("proxies/id.yaml"), "theirs").unwrap();
        symlink(&elsewhere, out.join(".meshc-staging-9-9")).unwrap();
        let journal = Journal::new(".meshc-staging-9-9".into(), ["proxies/id.yaml".to_string()], vec![]);
        write(&out, &journal).unwrap();
        let err = recover(&out).unwrap_err();
        assert!(matches!(err, EmitError::BadJournal { .. }), "{err}");
        assert!(elsewhere.join("proxies/id.yaml").exists());
        fs::remove_file(out.join(".meshc-staging-9-9")).unwrap();
        fs::create_dir(out.join(".meshc-staging-9-9")).unwrap();
        symlink(elsewhere.join("proxies"), out.join(".meshc-staging-9-9/proxies")).unwrap();
        recover(&out).unwrap();
        assert_eq!(fs::read_to_string(elsewhere.join("proxies/id.yaml")).unwrap(), "theirs");
        assert!(!out.join("proxies/id.yaml").exists());
    }

    #[test]
    fn a_second_writer_waits_for_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(tmp.path()).unwrap();
        let path = tmp.path().to_path_buf();
        let second = std::thread::spawn(move || DirLock::acquire(&path).map(|_| Instant::now()));
        std::thread::sleep(Duration::from_millis(200));
        let released = Instant::now();
        drop(first);
        let acquired = second.join().unwrap().unwrap();
        assert!(acquired >= released, "the second writer did not wait");
    }
}
