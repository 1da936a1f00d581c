//! Atomic replacement of the output directory.
//!
//! The whole tree is written into a fresh sibling directory (`.DIR.meshc-tmp-*`,
//! same parent, so same file system), every file and directory is fsynced, and
//! only then is it swapped in: on Linux with `renameat2(RENAME_EXCHANGE)` (one
//! atomic step; the old tree ends up in the temporary name and is deleted),
//! elsewhere by renaming the old directory aside first. Any failure before the
//! swap removes the temporary directory and leaves DIR exactly as it was.
//!
//! Safety: an existing DIR is only replaced when it is empty or holds a meshc
//! `manifest.json`, so `--out .` or `--out ~` can never wipe a user's files.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::EmitError;
use super::manifest::is_meshc_manifest;
use super::tree::{MANIFEST, Tree};

/// What a write put on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub files: usize,
    pub bytes: u64,
}

/// Replaces `dir` with exactly the files of `tree` (created if missing; its
/// parent directories too).
pub fn write_atomic(dir: &Path, tree: &Tree) -> Result<WriteStats, EmitError> {
    write_inner(dir, tree, None)
}

/// Where a test makes a write fail, to prove the old tree survives.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// Before writing file number `n` (0-based) into the temporary directory.
    BeforeFile(usize),
    /// After the temporary tree is complete, just before the swap.
    BeforeSwap,
}

/// [`write_atomic`] that fails on purpose at `point`: for tests only.
#[doc(hidden)]
pub fn write_atomic_failing(dir: &Path, tree: &Tree, point: FailPoint) -> Result<WriteStats, EmitError> {
    write_inner(dir, tree, Some(point))
}

fn write_inner(dir: &Path, tree: &Tree, fail: Option<FailPoint>) -> Result<WriteStats, EmitError> {
    tree.check_paths()?;
    let target = Target::resolve(dir)?;
    if target.exists {
        check_replaceable(&target.path)?;
    }
    let staging = Staging::create(&target)?;
    let stats = fill(&staging.path, tree, fail)?;
    if fail == Some(FailPoint::BeforeSwap) {
        return Err(injected(FailPoint::BeforeSwap));
    }
    swap(&staging.path, &target)?;
    // The swap is done; a failed directory sync cannot undo it, so only try.
    let _ = sync_dir(&target.parent);
    drop(staging); // now holds the old tree (after an exchange) or nothing
    Ok(stats)
}

/// A write whose files arrive one by one, from any thread, straight into the
/// temporary directory (so a large output never has to be held in memory);
/// [`StreamingWrite::commit`] swaps it in like [`write_atomic`]. Dropped
/// without a commit (an error, a panic), it removes the temporary directory and
/// DIR stays as it was.
pub struct StreamingWrite {
    target: Target,
    staging: Staging,
    state: std::sync::Mutex<(WriteStats, std::collections::BTreeSet<String>)>,
}

impl StreamingWrite {
    /// Checks that `dir` may be replaced and creates the temporary directory.
    pub fn begin(dir: &Path) -> Result<StreamingWrite, EmitError> {
        let target = Target::resolve(dir)?;
        if target.exists {
            check_replaceable(&target.path)?;
        }
        let staging = Staging::create(&target)?;
        Ok(StreamingWrite { target, staging, state: Default::default() })
    }

    /// Writes one file (relative path, `/`-separated). A path written twice is an error.
    pub fn put(&self, rel: &str, bytes: &[u8]) -> Result<(), EmitError> {
        super::tree::check_rel_path(rel)?;
        let path = join(&self.staging.path, rel);
        if let Some((parent, _)) = rel.rsplit_once('/') {
            let parent_path = join(&self.staging.path, parent);
            create_dir_all(&parent_path).map_err(|e| EmitError::io(parent_path, "create", e))?;
            self.lock().1.insert(parent.to_string());
        }
        write_file(&path, bytes).map_err(|e| EmitError::io(&path, "write", e))?;
        let mut state = self.lock();
        state.0.files += 1;
        state.0.bytes += bytes.len() as u64;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (WriteStats, std::collections::BTreeSet<String>)> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the last files (the manifest), syncs every directory and swaps the
    /// tree in.
    pub fn commit(self, last: &[(&str, &[u8])]) -> Result<WriteStats, EmitError> {
        for (rel, bytes) in last {
            self.put(rel, bytes)?;
        }
        let (stats, dirs) = std::mem::take(&mut *self.lock());
        for dir in ancestors(&dirs).iter().rev().map(|d| join(&self.staging.path, d)).chain([self.staging.path.clone()])
        {
            sync_dir(&dir).map_err(|e| EmitError::io(dir, "sync", e))?;
        }
        swap(&self.staging.path, &self.target)?;
        let _ = sync_dir(&self.target.parent);
        Ok(stats)
    }
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

    /// A sibling `.NAME.meshc-<tag>-<pid>-<n>` path.
    fn sibling(&self, tag: &str, n: u64) -> PathBuf {
        let mut name = OsString::from(".");
        name.push(&self.name);
        name.push(format!(".meshc-{tag}-{}-{n}", std::process::id()));
        self.parent.join(name)
    }
}

/// Empty, or holding a meshc manifest: anything else belongs to the user.
fn check_replaceable(dir: &Path) -> Result<(), EmitError> {
    let mut entries = fs::read_dir(dir).map_err(|e| EmitError::io(dir, "read", e))?;
    if entries.next().is_none() {
        return Ok(());
    }
    let manifest = dir.join(MANIFEST);
    let ours = fs::symlink_metadata(&manifest).is_ok_and(|m| m.is_file())
        && fs::read(&manifest).is_ok_and(|bytes| is_meshc_manifest(&bytes));
    if ours { Ok(()) } else { Err(EmitError::NotMeshcOutput { dir: dir.to_path_buf() }) }
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The temporary directory; removed when dropped, whatever it then holds.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn create(target: &Target) -> Result<Staging, EmitError> {
        loop {
            let path = target.sibling("tmp", SEQUENCE.fetch_add(1, Ordering::Relaxed));
            match create_dir(&path) {
                Ok(()) => return Ok(Staging { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(EmitError::io(&target.parent, "create a temporary directory in", e)),
            }
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Writes every file of `tree` under `root` and syncs them and their directories.
fn fill(root: &Path, tree: &Tree, fail: Option<FailPoint>) -> Result<WriteStats, EmitError> {
    let mut stats = WriteStats::default();
    let mut dirs = std::collections::BTreeSet::new();
    for (i, (rel, bytes)) in tree.files().enumerate() {
        if fail == Some(FailPoint::BeforeFile(i)) {
            return Err(injected(FailPoint::BeforeFile(i)));
        }
        let path = join(root, rel);
        if let Some((parent, _)) = rel.rsplit_once('/')
            && dirs.insert(parent)
        {
            let parent = join(root, parent);
            create_dir_all(&parent).map_err(|e| EmitError::io(parent, "create", e))?;
        }
        write_file(&path, bytes).map_err(|e| EmitError::io(&path, "write", e))?;
        stats.files += 1;
        stats.bytes += bytes.len() as u64;
    }
    let dirs: std::collections::BTreeSet<String> = dirs.into_iter().map(str::to_string).collect();
    for dir in ancestors(&dirs).iter().rev().map(|d| join(root, d)).chain([root.to_path_buf()]) {
        sync_dir(&dir).map_err(|e| EmitError::io(dir, "sync", e))?;
    }
    Ok(stats)
}

/// `root` joined with a checked `/`-separated relative path.
fn join(root: &Path, rel: &str) -> PathBuf {
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

fn create_dir(path: &Path) -> io::Result<()> {
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

fn sync_dir(dir: &Path) -> io::Result<()> {
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
        let staging = Staging::create(&target).unwrap();
        fill(&staging.path, &tree("v2"), None).unwrap();
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
}
