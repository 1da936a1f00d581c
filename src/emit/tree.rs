//! The complete output of one run, in memory: every file meshc owns under the
//! output directory, by relative path. Rendering builds it; writing and comparing
//! consume it, so `--check` compares exactly the bytes a write would produce.

use std::collections::{BTreeMap, BTreeSet};

use super::EmitError;

/// The manifest's path in the output directory.
pub const MANIFEST: &str = "manifest.json";
/// The folder holding one directory per proxy.
pub const PROXIES: &str = "proxies";

/// Files by relative, `/`-separated path, in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<String, Vec<u8>>,
}

impl Tree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a file. Paths are checked when the tree is written or
    /// compared ([`Tree::check_paths`]), not here, so a bad one is always reported
    /// before anything touches the disk.
    pub fn insert(&mut self, path: impl Into<String>, bytes: Vec<u8>) -> Option<Vec<u8>> {
        self.files.insert(path.into(), bytes)
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Every file, sorted by path.
    pub fn files(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.values().map(|b| b.len() as u64).sum()
    }

    /// Every path is relative, has no empty, `.` or `..` segment, is owned by
    /// meshc (`manifest.json` or under `proxies/`), and no file is also used as a
    /// directory by another path.
    pub fn check_paths(&self) -> Result<(), EmitError> {
        let mut dirs = BTreeSet::new();
        for path in self.files.keys() {
            check_rel_path(path)?;
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                end += i;
                dirs.insert(&path[..end]);
                end += 1;
            }
        }
        match self.files.keys().find(|p| dirs.contains(p.as_str())) {
            Some(path) => Err(bad(path, "it is both a file and a directory in the output")),
            None => Ok(()),
        }
    }
}

fn bad(path: &str, reason: &'static str) -> EmitError {
    EmitError::BadPath { path: path.to_string(), reason }
}

/// One relative output path (see [`Tree::check_paths`]).
pub fn check_rel_path(path: &str) -> Result<(), EmitError> {
    if path.is_empty() {
        return Err(bad(path, "the path is empty"));
    }
    if path.starts_with('/') {
        return Err(bad(path, "the path is absolute"));
    }
    if path.contains(['\\', '\0']) {
        return Err(bad(path, "the path contains a backslash or NUL"));
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(bad(path, "the path has an empty segment")),
            "." | ".." => return Err(bad(path, "the path has a `.` or `..` segment")),
            _ => {}
        }
    }
    if path != MANIFEST && !path.starts_with("proxies/") {
        return Err(bad(path, "meshc only writes manifest.json and files under proxies/"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> Tree {
        let mut t = Tree::new();
        for p in paths {
            t.insert(*p, b"x".to_vec());
        }
        t
    }

    #[test]
    fn good_paths_pass() {
        tree(&["manifest.json", "proxies/default/web/bootstrap.yaml", "proxies/default/web-2/lds.yaml"])
            .check_paths()
            .unwrap();
    }

    #[test]
    fn bad_paths_are_rejected() {
        for p in [
            "",
            "/etc/passwd",
            "proxies/../x",
            "proxies/./x",
            "proxies//x",
            "proxies/x/",
            "proxies\\x",
            "other.txt",
            "..",
            "proxies/a\0b",
        ] {
            assert!(tree(&[p]).check_paths().is_err(), "{p:?} accepted");
        }
    }

    #[test]
    fn file_used_as_directory_is_rejected() {
        let err = tree(&["proxies/a", "proxies/a-b", "proxies/a/b"]).check_paths().unwrap_err();
        assert!(err.to_string().contains("\"proxies/a\""), "{err}");
    }
}
