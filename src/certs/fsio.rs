//! Writing into the secrets directory: directories 0700, every file replaced
//! atomically (a temporary file in the same directory, then a rename), private
//! keys created 0600 from the first byte (never written and then chmod-ed).

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Certificates, CA bundles, SDS files: 0644.
    Public,
    /// Private keys: 0600.
    Secret,
}

impl Mode {
    #[cfg_attr(not(unix), allow(dead_code))]
    fn bits(self) -> u32 {
        match self {
            Mode::Public => 0o644,
            Mode::Secret => 0o600,
        }
    }
}

/// Create `dir` and its missing parents with mode 0700 (existing ones are left alone).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Create `dir` (as [`create_dir_all`]) for private keys: the directory itself is
/// then exactly 0700 even if it existed with wider modes, so nobody else can
/// list, add or swap its keys. Its parents are left alone (the user named them).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if fs::metadata(dir)?.permissions().mode() & 0o777 != 0o700 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Write `bytes` to `path` atomically. Returns false (and writes nothing) when
/// the file already holds exactly these bytes, so reruns do not touch files
/// Envoy may be watching.
pub fn write_if_changed(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<bool> {
    if fs::read(path).is_ok_and(|old| old == bytes) && mode_matches(path, mode) {
        return Ok(false);
    }
    write_atomic(path, bytes, mode)?;
    Ok(true)
}

#[cfg(unix)]
fn mode_matches(path: &Path, mode: Mode) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == mode.bits())
}

#[cfg(not(unix))]
fn mode_matches(_: &Path, _: Mode) -> bool {
    true
}

/// Give an existing file exactly `mode` (a kept key someone made readable).
pub fn ensure_mode(path: &Path, mode: Mode) -> io::Result<()> {
    #[cfg(unix)]
    if !mode_matches(path, mode) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode.bits()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Write `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode.bits());
    let result = opts.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        // The umask may have narrowed a public file; say exactly what it is.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode.bits()))?;
        }
        // On disk before the rename: a crash never leaves an empty key or certificate.
        f.sync_all()
    });
    let result = result.and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_are_private_and_rewrites_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_dir_all(&sub).unwrap();
        assert_eq!(fs::metadata(&sub).unwrap().permissions().mode() & 0o777, 0o700);
        let key = sub.join("key.pem");
        assert!(write_if_changed(&key, b"k", Mode::Secret).unwrap());
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!write_if_changed(&key, b"k", Mode::Secret).unwrap());
        assert!(write_if_changed(&key, b"k2", Mode::Secret).unwrap());
        assert_eq!(fs::read(&key).unwrap(), b"k2");
        let leftovers: Vec<_> = fs::read_dir(&sub).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }
}
