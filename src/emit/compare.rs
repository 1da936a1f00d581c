//! What a write would change: the tree against the files meshc owns in a
//! directory (`manifest.json` and everything under `proxies/`). Behind
//! `compile --check` (the CI drift gate) and `meshc diff --against DIR`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;
use similar::TextDiff;

use super::EmitError;
use super::tree::{MANIFEST, PROXIES, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Would be created.
    Added,
    /// Is in the directory but would no longer be written.
    Removed,
    /// Would get other bytes.
    Changed,
    Unchanged,
}

/// One file's fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileComparison {
    /// Relative to the directory, `/`-separated.
    pub path: String,
    pub status: Status,
    /// Unified diff (`a/<path>` = on disk, `b/<path>` = would be written); `None`
    /// when unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Every file of both sides, sorted by path, with counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    pub files: Vec<FileComparison>,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl Comparison {
    /// Nothing would change.
    pub fn is_up_to_date(&self) -> bool {
        self.added + self.removed + self.changed == 0
    }

    /// One line, e.g. `3 files differ (1 added, 1 removed, 1 changed), 12 unchanged`.
    pub fn summary(&self) -> String {
        if self.is_up_to_date() {
            return format!("up to date ({} files)", self.unchanged);
        }
        let differ = self.added + self.removed + self.changed;
        format!(
            "{differ} file{} differ{} ({} added, {} removed, {} changed), {} unchanged",
            if differ == 1 { "" } else { "s" },
            if differ == 1 { "s" } else { "" },
            self.added,
            self.removed,
            self.changed,
            self.unchanged
        )
    }

    /// Every file's diff, in path order.
    pub fn unified_diff(&self) -> String {
        self.files.iter().filter_map(|f| f.diff.as_deref()).collect()
    }

    /// The files that differ.
    pub fn differing(&self) -> impl Iterator<Item = &FileComparison> {
        self.files.iter().filter(|f| f.status != Status::Unchanged)
    }
}

/// Compares `tree` with what is in `dir` (a missing `dir` is an empty one).
pub fn compare(dir: &Path, tree: &Tree) -> Result<Comparison, EmitError> {
    tree.check_paths()?;
    let mut on_disk = read_owned(dir)?;
    let mut comparison = Comparison::default();
    for (path, want) in tree.files() {
        let file = match on_disk.remove(path) {
            None => compared(path, Status::Added, b"", want),
            Some(have) if have == want => compared(path, Status::Unchanged, b"", b""),
            Some(have) => compared(path, Status::Changed, &have, want),
        };
        comparison.push(file);
    }
    for (path, have) in on_disk {
        comparison.push(compared(&path, Status::Removed, &have, b""));
    }
    comparison.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(comparison)
}

impl Comparison {
    fn push(&mut self, file: FileComparison) {
        match file.status {
            Status::Added => self.added += 1,
            Status::Removed => self.removed += 1,
            Status::Changed => self.changed += 1,
            Status::Unchanged => self.unchanged += 1,
        }
        self.files.push(file);
    }
}

fn compared(path: &str, status: Status, old: &[u8], new: &[u8]) -> FileComparison {
    let diff = (status != Status::Unchanged).then(|| {
        let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
        TextDiff::from_lines(old.as_ref(), new.as_ref())
            .unified_diff()
            .header(&format!("a/{path}"), &format!("b/{path}"))
            .to_string()
    });
    FileComparison { path: path.to_string(), status, diff }
}

/// The files meshc owns in `dir`, by relative path. Symlinks are not followed;
/// anything that is not a regular file reads as empty (a write replaces it).
fn read_owned(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, EmitError> {
    let mut files = BTreeMap::new();
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(EmitError::NotADirectory { dir: dir.to_path_buf() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(EmitError::io(dir, "read", e)),
    }
    read_entry(&dir.join(MANIFEST), MANIFEST.to_string(), &mut files)?;
    read_entry(&dir.join(PROXIES), PROXIES.to_string(), &mut files)?;
    Ok(files)
}

fn read_entry(path: &Path, rel: String, files: &mut BTreeMap<String, Vec<u8>>) -> Result<(), EmitError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(EmitError::io(path, "inspect", e)),
    };
    if meta.is_dir() {
        let entries = fs::read_dir(path).map_err(|e| EmitError::io(path, "read", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| EmitError::io(path, "read", e))?;
            let child = format!("{rel}/{}", entry.file_name().to_string_lossy());
            read_entry(&entry.path(), child, files)?;
        }
    } else if meta.is_file() {
        files.insert(rel, fs::read(path).map_err(|e| EmitError::io(path, "read", e))?);
    } else {
        files.insert(rel, Vec::new());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_wording() {
        let mut c = Comparison { unchanged: 4, ..Default::default() };
        assert_eq!(c.summary(), "up to date (4 files)");
        c.changed = 1;
        assert_eq!(c.summary(), "1 file differs (0 added, 0 removed, 1 changed), 4 unchanged");
        c.added = 2;
        assert_eq!(c.summary(), "3 files differ (2 added, 0 removed, 1 changed), 4 unchanged");
    }

    #[test]
    fn missing_directory_means_everything_is_added() {
        let mut tree = Tree::new();
        tree.insert(MANIFEST, b"{}\n".to_vec());
        let c = compare(Path::new("/nonexistent/meshc-out"), &tree).unwrap();
        assert_eq!(
            (c.added, c.files[0].diff.as_deref()),
            (1, Some("--- a/manifest.json\n+++ b/manifest.json\n@@ -0,0 +1 @@\n+{}\n"))
        );
    }
}
