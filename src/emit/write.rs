//! Writing the output directory: whole-tree atomic creation for a new
//! directory, in-place incremental update (with a journal) for an existing one.
//!
//! **New or empty DIR.** The whole tree is written into a fresh sibling
//! directory (`.DIR.meshc-tmp-*`, same parent, so same file system), every file
//! and directory is fsynced, and only then is it put in place: a rename for a
//! missing DIR; for an empty one `renameat2(RENAME_EXCHANGE)` on Linux (one
//! atomic step), elsewhere a rename aside first. Any failure before that
//! removes the temporary directory and leaves DIR as it was.
//!
//! **DIR holding a meshc output: an in-place update**, the static counterpart
//! of Kuma's delta xDS. Envoy's file-based LDS/CDS watch the *directory* of
//! each file with inotify and reload on `IN_MOVED_TO`; swapping the whole tree
//! would give every directory a new inode, break every Envoy's watch and make
//! every Envoy reload. So only files whose bytes change are replaced, each by
//! renaming a complete file over it; unchanged files are not touched (same
//! inode, same mtime: their Envoy sees nothing); files no longer written are
//! deleted. The protocol, and why a `kill -9` at any point is safe:
//!
//! 1. Lock DIR (`flock`, so a `watch` and a `compile` never interleave), then
//!    *recover*: a leftover `DIR/.meshc-journal` is rolled forward (step 4);
//!    leftover `DIR/.meshc-staging-*` directories and a half-written journal
//!    are deleted (a run killed before step 3 changed nothing else).
//! 2. *Stage*: each changed or new file is written, fsynced, into
//!    `DIR/.meshc-staging-<pid>-<n>/` (hidden: the input walker and `--check`
//!    skip it; inside DIR: same file system, so a rename moves it). Unchanged
//!    files are compared byte for byte and skipped. The staged directories are
//!    fsynced. A failure or a kill here leaves DIR's files exactly as they were.
//! 3. *Commit*: the journal (the staging name, the renames in order, the
//!    deletions) is written to `.meshc-journal.tmp`, fsynced and renamed to
//!    `DIR/.meshc-journal`; DIR is fsynced. This rename is the commit point.
//! 4. *Apply*: for each proxy, `cds`, then `lds`, then `bootstrap` are renamed
//!    from staging into place (a listener never names a cluster its Envoy does
//!    not have yet); the touched directories are fsynced; `manifest.json` is
//!    renamed last, so every file the on-disk manifest names is complete at all
//!    times. Then removed proxies' files are deleted (after the manifest stops
//!    naming them) with their empty directories; the staging directory and the
//!    journal are removed. Each rename is skipped when its staged file is
//!    already gone, so applying a journal again after a crash mid-apply ends in
//!    the same directory.
//!
//! So after a kill, DIR holds either the old output (no journal) or a journal
//! that the next `compile`/`watch` into DIR completes; each file is always a
//! complete old or new version. `compile --check` and `diff` report a leftover
//! journal. A journal only ever names `manifest.json`, paths under `proxies/`
//! and a `.meshc-staging-*` directory (checked when read), and a symlink found
//! where a directory should be is replaced, never followed: no run writes
//! outside DIR.
//!
//! Safety: an existing DIR is only written when it is empty or holds a meshc
//! `manifest.json`, so `--out .` or `--out ~` can never touch a user's files.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::EmitError;
use super::journal::{self, DirLock, Journal, STAGING_PREFIX};
use super::manifest::is_meshc_manifest;
use super::tree::{MANIFEST, PROXIES, Tree, check_rel_path};

pub use super::journal::{JOURNAL, Recovery, unfinished};

/// What a write put on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Files in the output (written or unchanged).
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Files created or replaced (every file for a new directory).
    pub written: usize,
    /// Files left untouched because their bytes did not change.
    pub unchanged: usize,
    /// Files deleted (proxies no longer compiled).
    pub removed: usize,
    /// What was left of an interrupted run, and finished or cleaned first.
    pub recovered: Recovery,
}

/// Puts exactly the files of `tree` in `dir` (created if missing, with its
/// parents): see the module doc for how.
pub fn write_atomic(dir: &Path, tree: &Tree) -> Result<WriteStats, EmitError> {
    write_inner(dir, tree, None)
}

/// Where a test makes a write fail, to prove the old tree survives.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// Before writing file number `n` (0-based, in the order they are given).
    BeforeFile(usize),
    /// After every file is staged, just before the swap (new DIR) or the
    /// journal (existing DIR).
    BeforeSwap,
    /// Existing DIR: after the journal, before rename number `n`; like a kill,
    /// nothing is cleaned up.
    AfterJournal(usize),
}

/// [`write_atomic`] that fails on purpose at `point`: for tests only.
#[doc(hidden)]
pub fn write_atomic_failing(dir: &Path, tree: &Tree, point: FailPoint) -> Result<WriteStats, EmitError> {
    write_inner(dir, tree, Some(point))
}

fn write_inner(dir: &Path, tree: &Tree, fail: Option<FailPoint>) -> Result<WriteStats, EmitError> {
    tree.check_paths()?;
    let mut sink = StreamingWrite::begin(dir)?;
    sink.fail = fail;
    let mut manifest = None;
    for (rel, bytes) in tree.files() {
        if rel == MANIFEST {
            manifest = Some(bytes);
        } else {
            sink.put(rel, bytes)?;
        }
    }
    let last: Vec<(&str, &[u8])> = manifest.map(|bytes| (MANIFEST, bytes)).into_iter().collect();
    sink.commit(&last)
}

/// A write whose files arrive one by one, from any thread (so a large output
/// never has to be held in memory); [`StreamingWrite::commit`] puts them in
/// place (see the module doc). Dropped without a commit (an error, a panic), it
/// removes what it staged and DIR stays as it was.
pub struct StreamingWrite {
    mode: Mode,
    staging: Staging,
    state: Mutex<State>,
    puts: AtomicUsize,
    fail: Option<FailPoint>,
}

enum Mode {
    /// A missing or empty DIR: the staging directory becomes DIR.
    Fresh(Target),
    /// A DIR with a meshc output: changed files are staged inside it.
    InPlace(InPlace),
}

struct InPlace {
    root: PathBuf,
    /// The files meshc owns in DIR: `Some(size)` for regular files, `None` for
    /// anything else (a symlink, ...), which is always replaced or removed.
    existing: BTreeMap<String, Option<u64>>,
    recovered: Recovery,
    _lock: DirLock,
}

#[derive(Default)]
struct State {
    stats: WriteStats,
    /// Every path put.
    seen: BTreeSet<String>,
    /// The paths written into the staging directory.
    staged: BTreeSet<String>,
    /// Directories created in the staging directory (relative).
    dirs: BTreeSet<String>,
}

impl StreamingWrite {
    /// Checks that `dir` may be written, finishes or cleans up what an
    /// interrupted run left there, and creates the staging directory.
    pub fn begin(dir: &Path) -> Result<StreamingWrite, EmitError> {
        let target = Target::resolve(dir)?;
        let existing = target.exists && !check_replaceable(&target.path)?;
        let (mode, staging) = if existing {
            let lock = DirLock::acquire(&target.path)?;
            let root = target.path;
            let recovered = journal::recover(&root)?;
            let existing = owned_files(&root)?;
            let staging = Staging::create(&root, |n| format!("{STAGING_PREFIX}{}-{n}", std::process::id()).into())?;
            (Mode::InPlace(InPlace { root, existing, recovered, _lock: lock }), staging)
        } else {
            let staging = Staging::create(&target.parent, |n| target.sibling_name("tmp", n))?;
            (Mode::Fresh(target), staging)
        };
        Ok(StreamingWrite { mode, staging, state: Default::default(), puts: AtomicUsize::new(0), fail: None })
    }

    /// Writes one file (relative path, `/`-separated). A path written twice is an error.
    pub fn put(&self, rel: &str, bytes: &[u8]) -> Result<(), EmitError> {
        check_rel_path(rel)?;
        let n = self.puts.fetch_add(1, Ordering::Relaxed);
        if self.fail == Some(FailPoint::BeforeFile(n)) {
            return Err(injected(FailPoint::BeforeFile(n)));
        }
        if !self.lock().seen.insert(rel.to_string()) {
            return Err(EmitError::BadPath {
                path: rel.to_string(),
                reason: "it is written twice (this is a meshc bug)",
            });
        }
        if let Mode::InPlace(in_place) = &self.mode
            && in_place.unchanged(rel, bytes)
        {
            let mut state = self.lock();
            state.stats.files += 1;
            state.stats.bytes += bytes.len() as u64;
            state.stats.unchanged += 1;
            return Ok(());
        }
        let path = join(&self.staging.path, rel);
        if let Some((parent, _)) = rel.rsplit_once('/') {
            let parent_path = join(&self.staging.path, parent);
            create_dir_all(&parent_path).map_err(|e| EmitError::io(parent_path, "create", e))?;
            self.lock().dirs.insert(parent.to_string());
        }
        write_file(&path, bytes).map_err(|e| EmitError::io(&path, "write", e))?;
        let mut state = self.lock();
        state.stats.files += 1;
        state.stats.bytes += bytes.len() as u64;
        state.stats.written += 1;
        state.staged.insert(rel.to_string());
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the last files (the manifest), syncs what was staged and puts it in place.
    pub fn commit(mut self, last: &[(&str, &[u8])]) -> Result<WriteStats, EmitError> {
        for (rel, bytes) in last {
            self.put(rel, bytes)?;
        }
        let state = std::mem::take(&mut *self.lock());
        for dir in
            ancestors(&state.dirs).iter().rev().map(|d| join(&self.staging.path, d)).chain([self.staging.path.clone()])
        {
            sync_dir(&dir).map_err(|e| EmitError::io(dir, "sync", e))?;
        }
        if self.fail == Some(FailPoint::BeforeSwap) {
            return Err(injected(FailPoint::BeforeSwap));
        }
        let mut stats = state.stats;
        match &self.mode {
            Mode::Fresh(target) => {
                swap(&self.staging.path, target)?;
                // The swap is done; a failed directory sync cannot undo it, so only try.
                let _ = sync_dir(&target.parent);
            }
            Mode::InPlace(in_place) => {
                let removed: Vec<String> =
                    in_place.existing.keys().filter(|p| !state.seen.contains(p.as_str())).cloned().collect();
                stats.removed = removed.len();
                stats.recovered = in_place.recovered;
                if state.staged.is_empty() && removed.is_empty() {
                    return Ok(stats); // nothing changed; dropping the staging directory removes it
                }
                let name = self.staging.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let journal = Journal::new(name, state.staged, removed);
                journal::write(&in_place.root, &journal)?;
                // From here on the journal owns the staging directory: a later run
                // finishes it if this one does not.
                self.staging.armed = false;
                journal::apply(&in_place.root, &journal, self.fail)?;
            }
        }
        Ok(stats)
    }
}

impl InPlace {
    /// Whether `rel` is already in DIR with exactly these bytes.
    fn unchanged(&self, rel: &str, bytes: &[u8]) -> bool {
        self.existing.get(rel) == Some(&Some(bytes.len() as u64))
            && fs::read(join(&self.root, rel)).is_ok_and(|have| have == bytes)
    }
}

/// The files meshc owns in `root` (`manifest.json` and everything under
/// `proxies/`), by relative path; symlinks are listed, never followed.
fn owned_files(root: &Path) -> Result<BTreeMap<String, Option<u64>>, EmitError> {
    let mut files = BTreeMap::new();
    let mut stack = vec![(root.join(MANIFEST), MANIFEST.to_string()), (root.join(PROXIES), PROXIES.to_string())];
    while let Some((path, rel)) = stack.pop() {
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(EmitError::io(path, "inspect", e)),
        };
        if meta.is_dir() {
            for entry in fs::read_dir(&path).map_err(|e| EmitError::io(&path, "read", e))? {
                let entry = entry.map_err(|e| EmitError::io(&path, "read", e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                stack.push((entry.path(), format!("{rel}/{name}")));
            }
        } else {
            files.insert(rel, meta.is_file().then_some(meta.len()));
        }
    }
    Ok(files)
}

/// Every directory of `dirs` and all their ancestors (relative paths).
fn ancestors(dirs: &std::collections::BTreeSet<String>) -> std::collections::BTreeSet<&str> {
    let mut all = std::collections::BTreeSet::new();
    for dir in dirs {
        let mut end = dir.len();
        loop {
            all.insert(&dir[..end]);
            match dir[..end].rfind('/') {
                Some(i) => end = i,
                None => break,
            }
        }
    }
    all
}

fn injected(point: FailPoint) -> EmitError {
    EmitError::Injected { point: format!("{point:?}") }
}

/// The output directory, resolved to a real parent and a name.
struct Target {
    parent: PathBuf,
    name: OsString,
    path: PathBuf,
    exists: bool,
}

impl Target {
    fn resolve(dir: &Path) -> Result<Target, EmitError> {
        match fs::symlink_metadata(dir) {
            Ok(_) => Self::existing(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::missing(dir),
            Err(e) => Err(EmitError::io(dir, "inspect", e)),
        }
    }

    /// An existing path: resolved through `.`, `..` and symlinks, so the swap
    /// happens at the real directory (`--out .` included).
    fn existing(dir: &Path) -> Result<Target, EmitError> {
        let real = fs::canonicalize(dir).map_err(|e| EmitError::io(dir, "resolve", e))?;
        if !real.is_dir() {
            return Err(EmitError::NotADirectory { dir: dir.to_path_buf() });
        }
        let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
            return Err(EmitError::UnusableDir { dir: dir.to_path_buf(), reason: "it is the root directory" });
        };
        Ok(Target { parent: parent.to_path_buf(), name: name.to_os_string(), path: real.clone(), exists: true })
    }

    fn missing(dir: &Path) -> Result<Target, EmitError> {
        let Some(name) = dir.file_name() else {
            return Err(EmitError::UnusableDir {
                dir: dir.to_path_buf(),
                reason: "it does not end in a directory name",
            });
        };
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).map_err(|e| EmitError::io(parent, "create", e))?;
        let parent = fs::canonicalize(parent).map_err(|e| EmitError::io(parent, "resolve", e))?;
        Ok(Target { path: parent.join(name), parent, name: name.to_os_string(), exists: false })
    }

    /// A sibling's name: `.NAME.meshc-<tag>-<pid>-<n>`.
    fn sibling_name(&self, tag: &str, n: u64) -> OsString {
        let mut name = OsString::from(".");
        name.push(&self.name);
        name.push(format!(".meshc-{tag}-{}-{n}", std::process::id()));
        name
    }

    /// A sibling `.NAME.meshc-<tag>-<pid>-<n>` path.
    fn sibling(&self, tag: &str, n: u64) -> PathBuf {
        self.parent.join(self.sibling_name(tag, n))
    }
}

/// `Ok(true)` when `dir` is empty, `Ok(false)` when it holds a meshc manifest;
/// anything else belongs to the user.
fn check_replaceable(dir: &Path) -> Result<bool, EmitError> {
    let mut entries = fs::read_dir(dir).map_err(|e| EmitError::io(dir, "read", e))?;
    if entries.next().is_none() {
        return Ok(true);
    }
    let manifest = dir.join(MANIFEST);
    let ours = fs::symlink_metadata(&manifest).is_ok_and(|m| m.is_file())
        && fs::read(&manifest).is_ok_and(|bytes| is_meshc_manifest(&bytes));
    if ours { Ok(false) } else { Err(EmitError::NotMeshcOutput { dir: dir.to_path_buf() }) }
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The staging directory; removed when dropped, whatever it then holds, unless
/// disarmed (a committed journal refers to it).
struct Staging {
    path: PathBuf,
    armed: bool,
}

impl Staging {
    /// A new directory `parent/<name(n)>` for the first free `n`.
    fn create(parent: &Path, name: impl Fn(u64) -> OsString) -> Result<Staging, EmitError> {
        loop {
            let path = parent.join(name(SEQUENCE.fetch_add(1, Ordering::Relaxed)));
            match create_dir(&path) {
                Ok(()) => return Ok(Staging { path, armed: true }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(EmitError::io(parent, "create a temporary directory in", e)),
            }
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// `root` joined with a checked `/`-separated relative path.
pub(super) fn join(root: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(root.to_path_buf(), |path, segment| path.join(segment))
}

fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    // Exactly 0644 whatever the umask: configs are read by an Envoy user.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    file.sync_all()
}

pub(super) fn create_dir(path: &Path) -> io::Result<()> {
    dir_builder(false).create(path)
}

fn create_dir_all(path: &Path) -> io::Result<()> {
    dir_builder(true).create(path)
}

fn dir_builder(recursive: bool) -> fs::DirBuilder {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
    builder
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = (dir, File::open::<&Path>);
    Ok(())
}

/// Puts the complete `staging` tree at the target's place.
fn swap(staging: &Path, target: &Target) -> Result<(), EmitError> {
    if !target.exists {
        return fs::rename(staging, &target.path).map_err(|e| EmitError::io(&target.path, "create", e));
    }
    #[cfg(target_os = "linux")]
    match exchange(staging, &target.path) {
        Ok(()) => return Ok(()),
        Err(e) if exchange_unsupported(&e) => {}
        Err(e) => return Err(EmitError::io(&target.path, "replace", e)),
    }
    rename_aside(staging, target)
}

/// Atomically swaps two paths (Linux 3.15+, on file systems that support it).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call;
    // renameat2 only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(target_os = "linux")]
fn exchange_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM))
}

/// Two renames: the old tree aside, the new one in. If the second fails the old
/// tree is put back. (Between the two, DIR briefly does not exist.)
fn rename_aside(staging: &Path, target: &Target) -> Result<(), EmitError> {
    let old = target.sibling("old", SEQUENCE.fetch_add(1, Ordering::Relaxed));
    fs::rename(&target.path, &old).map_err(|e| EmitError::io(&target.path, "move aside", e))?;
    if let Err(e) = fs::rename(staging, &target.path) {
        let _ = fs::rename(&old, &target.path);
        return Err(EmitError::io(&target.path, "replace", e));
    }
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(version: &str) -> Tree {
        let mut t = Tree::new();
        t.insert(
            MANIFEST,
            format!("{{\"format\": \"bootstrap\", \"proxies\": [], \"v\": \"{version}\"}}\n").into_bytes(),
        );
        t.insert("proxies/m/a/bootstrap.yaml", version.as_bytes().to_vec());
        t.insert("proxies/m/z/b/bootstrap.yaml", version.as_bytes().to_vec());
        t
    }

    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push((path.clone(), fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn siblings(parent: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(parent).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_streaming_write_is_all_or_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        write_atomic(&out, &tree("v1")).unwrap();
        let before = snapshot(&out);
        // Files written from several threads, then abandoned (an error, a panic).
        let sink = StreamingWrite::begin(&out).unwrap();
        std::thread::scope(|s| {
            for i in 0..4 {
                let sink = &sink;
                s.spawn(move || sink.put(&format!("proxies/m/p{i}/bootstrap.yaml"), b"v2").unwrap());
            }
        });
        assert!(sink.put("proxies/m/p0/bootstrap.yaml", b"again").is_err(), "a path written twice");
        assert!(sink.put("../escape", b"x").is_err());
        drop(sink);
        assert_eq!(snapshot(&out), before);
        assert_eq!(siblings(tmp.path()), ["out"]);
        // Committed: exactly the new files.
        let sink = StreamingWrite::begin(&out).unwrap();
        sink.put("proxies/m/p0/bootstrap.yaml", b"v2").unwrap();
        let stats = sink.commit(&[(MANIFEST, b"{\"format\": \"bootstrap\", \"proxies\": []}\n")]).unwrap();
        assert_eq!(stats.files, 2);
        let names: Vec<String> =
            snapshot(&out).into_iter().map(|(p, _)| p.strip_prefix(&out).unwrap().display().to_string()).collect();
        assert_eq!(names, ["manifest.json", "proxies/m/p0/bootstrap.yaml"]);
        assert_eq!(siblings(tmp.path()), ["out"]);
    }

    #[test]
    fn every_failure_point_keeps_the_old_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        write_atomic(&out, &tree("v1")).unwrap();
        let before = snapshot(&out);
        for point in [FailPoint::BeforeFile(0), FailPoint::BeforeFile(2), FailPoint::BeforeSwap] {
            assert!(write_atomic_failing(&out, &tree("v2"), point).is_err());
            assert_eq!(snapshot(&out), before, "{point:?}");
            assert_eq!(siblings(tmp.path()), ["out"], "temporary directory left behind after {point:?}");
        }
    }

    #[test]
    fn rename_aside_fallback_replaces_the_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        write_atomic(&out, &tree("v1")).unwrap();
        let target = Target::resolve(&out).unwrap();
        let staging = Staging::create(&target.parent, |n| target.sibling_name("tmp", n)).unwrap();
        for (rel, bytes) in tree("v2").files() {
            let path = join(&staging.path, rel);
            create_dir_all(path.parent().unwrap()).unwrap();
            write_file(&path, bytes).unwrap();
        }
        rename_aside(&staging.path, &target).unwrap();
        drop(staging);
        assert_eq!(fs::read(out.join("proxies/m/a/bootstrap.yaml")).unwrap(), b"v2");
        assert_eq!(siblings(tmp.path()), ["out"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn exchange_swaps_two_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(a.join("f"), "a").unwrap();
        match exchange(&a, &b) {
            Ok(()) => assert_eq!(fs::read(b.join("f")).unwrap(), b"a"),
            Err(e) if exchange_unsupported(&e) => eprintln!("note: RENAME_EXCHANGE unsupported here ({e})"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn files_are_0644() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("a/b/out");
        let stats = write_atomic(&out, &tree("v1")).unwrap();
        assert_eq!(stats.files, 3);
        let mode = fs::metadata(out.join("proxies/m/a/bootstrap.yaml")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn unusable_targets_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(matches!(write_atomic(&file, &tree("v1")), Err(EmitError::NotADirectory { .. })));
        assert!(matches!(write_atomic(Path::new("/"), &tree("v1")), Err(EmitError::UnusableDir { .. })));
        assert_eq!(fs::read(&file).unwrap(), b"x");
    }

    fn identity(path: &Path) -> (u64, std::time::SystemTime) {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(path).unwrap();
        (meta.ino(), meta.modified().unwrap())
    }

    fn xds_tree(proxies: &[(&str, &str)]) -> Tree {
        let mut t = Tree::new();
        let names: Vec<String> = proxies.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        t.insert(MANIFEST, format!("{{\"format\": \"xds\", \"proxies\": [{}]}}\n", names.join(", ")).into_bytes());
        for (name, version) in proxies {
            for kind in ["bootstrap", "cds", "lds"] {
                t.insert(format!("proxies/m/{name}/{kind}.yaml"), format!("{kind} {version}\n").into_bytes());
            }
        }
        t
    }

    fn hidden_entries(dir: &Path) -> Vec<String> {
        siblings(dir).into_iter().filter(|n| n.starts_with('.')).collect()
    }

    #[test]
    fn an_existing_output_is_updated_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let stats = write_atomic(&out, &xds_tree(&[("a", "1"), ("b", "1"), ("gone", "1")])).unwrap();
        assert_eq!((stats.written, stats.unchanged, stats.removed), (10, 0, 0));
        let dir_a = identity(&out.join("proxies/m/a"));
        let unchanged: Vec<_> = ["a/bootstrap", "a/cds", "a/lds", "b/bootstrap", "b/cds"]
            .iter()
            .map(|f| identity(&out.join(format!("proxies/m/{f}.yaml"))))
            .collect();
        let old_lds_b = identity(&out.join("proxies/m/b/lds.yaml"));
        std::thread::sleep(std::time::Duration::from_millis(20));

        let mut next = xds_tree(&[("a", "1"), ("b", "1"), ("new", "1")]);
        next.insert("proxies/m/b/lds.yaml", b"lds 2\n".to_vec());
        let stats = write_atomic(&out, &next).unwrap();
        // b's lds, new's 3 files and the manifest; gone's 3 files.
        assert_eq!((stats.files, stats.written, stats.unchanged, stats.removed), (10, 5, 5, 3));
        assert_eq!(identity(&out.join("proxies/m/a")), dir_a, "a proxy directory keeps its inode");
        let after: Vec<_> = ["a/bootstrap", "a/cds", "a/lds", "b/bootstrap", "b/cds"]
            .iter()
            .map(|f| identity(&out.join(format!("proxies/m/{f}.yaml"))))
            .collect();
        assert_eq!(after, unchanged, "unchanged files are not touched");
        assert_ne!(identity(&out.join("proxies/m/b/lds.yaml")), old_lds_b);
        let want: Vec<(PathBuf, Vec<u8>)> =
            next.files().map(|(p, b)| (join(&out, p), b.to_vec())).collect::<BTreeMap<_, _>>().into_iter().collect();
        assert_eq!(snapshot(&out), want);
        assert!(!out.join("proxies/m/gone").exists(), "a removed proxy's directory goes too");
        assert!(hidden_entries(&out).is_empty(), "{:?}", siblings(&out));
        assert_eq!(siblings(tmp.path()), ["out"]);

        // The same tree again: nothing at all is written.
        let stats = write_atomic(&out, &next).unwrap();
        assert_eq!((stats.written, stats.unchanged, stats.removed), (0, 10, 0));
        assert!(hidden_entries(&out).is_empty());
    }

    #[test]
    fn a_crash_after_the_journal_is_finished_by_the_next_write() {
        let old = xds_tree(&[("a", "1"), ("b", "1"), ("gone", "1")]);
        let mut new = xds_tree(&[("a", "2"), ("b", "1"), ("c", "2")]);
        new.insert("proxies/m/b/cds.yaml", b"cds 2\n".to_vec());
        let clean = {
            let tmp = tempfile::tempdir().unwrap();
            write_atomic(&tmp.path().join("out"), &new).unwrap();
            snapshot(&tmp.path().join("out"))
                .into_iter()
                .map(|(p, b)| (p.strip_prefix(tmp.path()).unwrap().to_path_buf(), b))
                .collect::<Vec<_>>()
        };
        // 3 (a) + 1 (b) + 3 (c) + manifest = 8 renames; crash before each and after all.
        for k in 0..=8 {
            let tmp = tempfile::tempdir().unwrap();
            let out = tmp.path().join("out");
            write_atomic(&out, &old).unwrap();
            let err = write_atomic_failing(&out, &new, FailPoint::AfterJournal(k));
            if k < 8 {
                assert!(matches!(err, Err(EmitError::Injected { .. })), "{k}: {err:?}");
                assert!(unfinished(&out).is_some(), "{k}: the journal stays for the next run");
            }
            // Every file the on-disk manifest names is complete: old or new bytes.
            for (path, bytes) in snapshot(&out) {
                let rel = path.strip_prefix(&out).unwrap().to_string_lossy().into_owned();
                if !rel.starts_with('.') {
                    assert!(old.get(&rel) == Some(&bytes) || new.get(&rel) == Some(&bytes), "{k}: {rel}");
                }
            }
            // Recovery by a run that compiles something else again (a third input).
            let stats = write_atomic(&out, &new).unwrap();
            assert_eq!(stats.recovered.rolled_forward, k < 8, "{k}");
            let got: Vec<_> = snapshot(&out)
                .into_iter()
                .map(|(p, b)| (p.strip_prefix(tmp.path()).unwrap().to_path_buf(), b))
                .collect();
            assert_eq!(got, clean, "{k}");
            assert!(hidden_entries(&out).is_empty(), "{k}: {:?}", siblings(&out));
        }
    }

    /// Regression: a kill after the removals but before the journal went made
    /// the next run fail to sync the removed proxies' (gone) directories.
    #[test]
    fn a_journal_applied_again_after_everything_but_its_removal_is_harmless() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        write_atomic(&out, &xds_tree(&[("a", "1"), ("gone", "1")])).unwrap();
        let new = xds_tree(&[("a", "2")]);
        assert!(write_atomic_failing(&out, &new, FailPoint::AfterJournal(0)).is_err());
        let journal = fs::read(out.join(JOURNAL)).unwrap();
        write_atomic(&out, &new).unwrap();
        let done = snapshot(&out);
        fs::write(out.join(JOURNAL), &journal).unwrap();
        let stats = write_atomic(&out, &new).unwrap();
        assert!(stats.recovered.rolled_forward);
        assert_eq!(snapshot(&out), done);
        assert!(hidden_entries(&out).is_empty());
    }

    #[test]
    fn staging_without_a_journal_is_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        write_atomic(&out, &xds_tree(&[("a", "1")])).unwrap();
        fs::create_dir_all(out.join(".meshc-staging-99-0/proxies/m/a")).unwrap();
        fs::write(out.join(".meshc-staging-99-0/proxies/m/a/lds.yaml"), "half").unwrap();
        fs::write(out.join(".meshc-journal.tmp"), "{\"meshc_jou").unwrap();
        assert!(unfinished(&out).is_none(), "no committed journal");
        let stats = write_atomic(&out, &xds_tree(&[("a", "1")])).unwrap();
        assert_eq!(stats.recovered, Recovery { rolled_forward: false, discarded: 2 });
        assert!(hidden_entries(&out).is_empty());
        assert_eq!(fs::read(out.join("proxies/m/a/lds.yaml")).unwrap(), b"lds 1\n");
    }

    #[test]
    fn symlinks_in_the_output_are_replaced_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        write_atomic(&out, &xds_tree(&[("a", "1")])).unwrap();
        // Someone replaced a proxy directory with a link to elsewhere.
        fs::remove_dir_all(out.join("proxies/m/a")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("proxies/m/a")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("proxies/m/b")).unwrap();
        write_atomic(&out, &xds_tree(&[("a", "2")])).unwrap();
        assert!(fs::read_dir(&elsewhere).unwrap().next().is_none(), "nothing written through the link");
        assert!(fs::symlink_metadata(out.join("proxies/m/a")).unwrap().is_dir());
        assert!(fs::symlink_metadata(out.join("proxies/m/b")).is_err(), "a stray link is removed");
        assert_eq!(fs::read(out.join("proxies/m/a/cds.yaml")).unwrap(), b"cds 2\n");
    }
}
