//! Writing a formatted file back: atomically (a temporary file in the same
//! directory, then a rename over the original), keeping the file's permissions
//! and a UTF-8 byte-order mark if it had one. A file whose bytes would not change
//! is never written, so its modification time stays as it was.

use std::io::Write;
use std::path::Path;

const BOM: &str = "\u{feff}";

/// Whether the file was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Unchanged,
    Rewritten,
}

/// Replace `path`'s content with `text` (keeping a leading BOM), unless it is
/// already exactly that.
pub fn replace(path: &Path, text: &str) -> std::io::Result<Written> {
    let old = std::fs::read(path)?;
    let bom = old.starts_with(BOM.as_bytes());
    let mut new = Vec::with_capacity(text.len() + 3);
    if bom {
        new.extend_from_slice(BOM.as_bytes());
    }
    new.extend_from_slice(text.as_bytes());
    if new == old {
        return Ok(Written::Unchanged);
    }
    // Follow a symlink: the link stays a link, its target gets the new text.
    let target = std::fs::canonicalize(path)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(&target)?.permissions();
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile_in(dir, &name, &permissions)?;
    let result = (|| {
        tmp.1.write_all(&new)?;
        tmp.1.sync_all()?;
        std::fs::set_permissions(&tmp.0, permissions)?;
        std::fs::rename(&tmp.0, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp.0);
    }
    result.map(|()| Written::Rewritten)
}

/// A new file next to the target, named so no walk picks it up (hidden, no
/// resource extension), created exclusively, with no more permissions than the
/// target from its first byte (a 0600 file holding a key is never readable by
/// others, not even while the copy is written).
fn tempfile_in(
    dir: &Path,
    name: &str,
    permissions: &std::fs::Permissions,
) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let candidate = dir.join(format!(".{name}.meshc-fmt-{pid}-{attempt}.tmp"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(permissions.mode() & 0o777);
        }
        #[cfg(not(unix))]
        let _ = permissions;
        match options.open(&candidate) {
            Ok(f) => return Ok((candidate, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create a temporary file next to it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_files_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.yaml");
        std::fs::write(&p, "a: 1\n").unwrap();
        let before = std::fs::metadata(&p).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(replace(&p, "a: 1\n").unwrap(), Written::Unchanged);
        assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), before);
    }

    #[cfg(unix)]
    #[test]
    fn the_temporary_copy_of_a_private_file_is_private_from_the_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let private = std::fs::Permissions::from_mode(0o600);
        let (path, _file) = tempfile_in(dir.path(), "key.yaml", &private).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn rewrite_keeps_mode_and_bom_and_leaves_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.yaml");
        std::fs::write(&p, "\u{feff}b: 1\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(replace(&p, "a: 1\n").unwrap(), Written::Rewritten);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "\u{feff}a: 1\n");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
