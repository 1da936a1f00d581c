//! The input as it is at a git revision (`meshc report --against-git REF`):
//! the same paths, checked out of the repository that holds them into a
//! temporary directory through a temporary index (`git read-tree` then
//! `git checkout-index`): unlike `git archive`, that honours no `export-ignore`,
//! so the base holds exactly what the revision holds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A temporary export of some paths at a revision.
pub struct Checkout {
    pub dir: tempfile::TempDir,
    /// The repository's root inside `dir`.
    pub root: PathBuf,
    /// The paths asked for, inside `dir`; those the revision lacks are left out.
    pub paths: Vec<PathBuf>,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// Export `paths` (of the working tree) as they are at `rev`.
pub fn checkout(rev: &str, paths: &[PathBuf]) -> Result<Checkout, String> {
    if rev.starts_with('-') {
        return Err(format!("--against-git {rev}: not a revision"));
    }
    let mut top: Option<PathBuf> = None;
    let mut relative = Vec::new();
    for p in paths {
        let abs = p.canonicalize().map_err(|e| format!("{}: {e}", p.display()))?;
        let dir = if abs.is_dir() { abs.clone() } else { abs.parent().map(Path::to_path_buf).unwrap_or_default() };
        let root = git(&dir, &["rev-parse", "--show-toplevel"])
            .map_err(|e| format!("--against-git needs the PATHs in a git repository ({}: {e})", p.display()))?;
        let root = PathBuf::from(root).canonicalize().map_err(|e| e.to_string())?;
        if top.as_ref().is_some_and(|t| *t != root) {
            return Err("--against-git: the PATHs are in different git repositories".to_string());
        }
        let rel = abs.strip_prefix(&root).map_err(|_| format!("{} is outside {}", abs.display(), root.display()))?;
        relative.push(rel.to_path_buf());
        top = Some(root);
    }
    let top = top.ok_or("--against-git needs a PATH")?;
    git(&top, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
        .map_err(|_| format!("--against-git {rev}: no such revision in {}", top.display()))?;
    let dir = tempfile::Builder::new().prefix("meshc-base-").tempdir().map_err(|e| e.to_string())?;
    let index = dir.path().join("index");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    let with_index = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&top)
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    };
    with_index(&["read-tree", rev])?;
    let prefix = format!("{}/", tree.display());
    with_index(&["checkout-index", "--all", &format!("--prefix={prefix}")])?;
    // Only paths the revision has: a directory added by the change has no base.
    let present: Vec<PathBuf> = relative.iter().map(|r| tree.join(r)).filter(|p| p.exists()).collect();
    let paths = if present.is_empty() { vec![tree.clone()] } else { present };
    Ok(Checkout { dir, root: tree, paths })
}
