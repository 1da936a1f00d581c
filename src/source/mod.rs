//! Source: paths -> files -> YAML documents as JSON values.
//!
//! Directories are walked recursively (`*.yaml`, `*.yml`, `*.json`; hidden files,
//! `.gitignore`d and `.meshcignore`d paths skipped; symlinks followed with loop
//! detection), files are read and
//! parsed in parallel, and the result is ordered by path so that nothing downstream
//! depends on the order of arguments, the file system or the thread count.

pub mod secrets;
pub mod yaml;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use crate::findings::{Finding, Level, Location, Target, codes};
use yaml::{Pos, YamlProblemKind};

/// Resource limits that keep hostile input from costing unbounded time or memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read, in bytes.
    pub max_file_size: u64,
    /// Deepest nesting of mappings and sequences in a document.
    pub max_depth: usize,
    /// Most nodes in one document, counting each use of an alias.
    pub max_nodes: usize,
    /// Most YAML documents in one file, empty ones included (each costs a finding
    /// or a resource, so a file of `---` lines must be bounded too).
    pub max_documents: usize,
    /// Largest input in total, in bytes, counting files in path order (then stdin).
    /// Memory grows with the input; this bounds what many small files can cost.
    pub max_total_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 32 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
            max_documents: 100_000,
            max_total_size: 128 * 1024 * 1024,
        }
    }
}

/// One input file. `text` is `None` when it could not be read or decoded.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user would write it (`-` is shown as `<stdin>`).
    pub display: String,
    /// The file's real path (`display` is lossy for non-UTF-8 names); `None` for
    /// stdin, in-memory texts and the placeholders of unreadable paths.
    pub path: Option<PathBuf>,
    pub text: Option<String>,
}

/// One non-empty YAML document.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: usize,
    pub index: usize,
    pub start: Pos,
    pub value: Value,
}

/// Everything read from the inputs: the documents, or what a per-document step
/// (see [`load_with`]) made of them.
#[derive(Debug, Default)]
pub struct Loaded<T = Document> {
    pub files: Vec<SourceFile>,
    pub documents: Vec<T>,
    pub findings: Vec<Finding>,
    /// True when some input could not be read at all (exit status 3).
    pub unreadable: bool,
}

/// Name under which standard input appears in findings.
pub const STDIN_NAME: &str = "<stdin>";

enum Input {
    Stdin,
    /// Standard input with this many bytes of the total budget left.
    BoundedStdin(u64),
    File(PathBuf),
    Text {
        display: String,
        text: String,
    },
}

/// A step applied to each document as soon as its file is parsed.
pub type DocumentStep<'a, T> = dyn Fn(Document) -> T + Sync + 'a;

/// Discover, read and parse every input (`paths` may contain `-` for stdin),
/// passing each document through `step` in the worker that parsed it, so that a
/// large input never holds every document tree at once.
pub fn load_with<T: Send>(paths: &[PathBuf], limits: &Limits, step: &DocumentStep<T>) -> Loaded<T> {
    let mut early = Vec::new();
    let mut unreadable = false;
    let inputs = discover(paths, &mut early, &mut unreadable);
    let inputs = within_total_size(inputs, limits.max_total_size, &mut early);
    load_inputs(inputs, early, unreadable, limits, step)
}

/// The files a run over `paths` reads, in reading order (`-` and paths that
/// cannot be read left out): what `meshc watch` polls for changes.
pub fn input_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let inputs = discover(paths, &mut Vec::new(), &mut false);
    inputs.into_iter().filter_map(|i| if let Input::File(p) = i { Some(p) } else { None }).collect()
}

/// Parse in-memory texts as if they were files (tests, fuzzing, editors).
pub fn load_texts(texts: Vec<(String, String)>, limits: &Limits) -> Loaded {
    load_texts_with(texts, limits, &|doc| doc)
}

/// [`load_texts`] with a per-document step, as in [`load_with`].
pub fn load_texts_with<T: Send>(texts: Vec<(String, String)>, limits: &Limits, step: &DocumentStep<T>) -> Loaded<T> {
    let inputs = texts.into_iter().map(|(display, text)| Input::Text { display, text }).collect();
    load_inputs(inputs, Vec::new(), false, limits, step)
}

fn load_inputs<T: Send>(
    inputs: Vec<Input>,
    early: Vec<(String, Finding)>,
    unreadable: bool,
    limits: &Limits,
    step: &DocumentStep<T>,
) -> Loaded<T> {
    let mut loaded = Loaded { files: Vec::new(), documents: Vec::new(), findings: Vec::new(), unreadable };
    let results: Vec<(SourceFile, Vec<T>, Vec<Finding>, bool)> = inputs
        .par_iter()
        .enumerate()
        .map(|(file, input)| {
            let (source, docs, findings, unreadable) = read_and_parse(file, input, limits);
            (source, docs.into_iter().map(step).collect(), findings, unreadable)
        })
        .collect();
    for (file, docs, findings, unreadable) in results {
        loaded.files.push(file);
        loaded.documents.extend(docs);
        loaded.findings.extend(findings);
        loaded.unreadable |= unreadable;
    }
    // Findings about paths that never became files are reported against a
    // pseudo-file named after the path.
    for (display, finding) in early {
        let idx = loaded.files.len();
        loaded.files.push(SourceFile { display, path: None, text: None });
        let mut finding = finding;
        finding.location = Location::file(idx);
        loaded.findings.push(finding);
    }
    loaded
}

fn discover(paths: &[PathBuf], early: &mut Vec<(String, Finding)>, unreadable: &mut bool) -> Vec<Input> {
    // One entry per file; reached under several names (named twice, or through a
    // symlink), the smallest name is kept, so the output does not depend on the
    // order of the arguments.
    let mut files: BTreeMap<FileIdentity, (String, PathBuf)> = BTreeMap::new();
    let mut stdin = false;
    let add = |path: PathBuf, files: &mut BTreeMap<FileIdentity, (String, PathBuf)>| {
        let candidate = (display_path(&path), path);
        match files.entry(file_identity(&candidate.1)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(candidate);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                if candidate.0 < o.get().0 {
                    o.insert(candidate);
                }
            }
        }
    };
    for path in paths {
        if path.as_os_str() == "-" {
            stdin = true;
            continue;
        }
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(err) => {
                *unreadable = true;
                let msg = format!("cannot read `{}`: {}", display_path(path), io_reason(&err));
                early.push((display_path(path), Finding::new(codes::IO_ERROR, msg, Location::default())));
                continue;
            }
        };
        if !meta.is_dir() {
            add(path.clone(), &mut files);
            continue;
        }
        let walker = ignore::WalkBuilder::new(path)
            .follow_links(true)
            .hidden(true)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(false)
            .require_git(false)
            .parents(true)
            .add_custom_ignore_filename(IGNORE_FILE)
            .sort_by_file_name(|a, b| a.cmp(b))
            .filter_entry(|e| {
                e.depth() == 0 || !e.file_type().is_some_and(|t| t.is_dir()) || !is_meshc_output(e.path())
            })
            .build();
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_some_and(|t| t.is_file()) && has_resource_extension(e.path()) => {
                    add(e.path().to_path_buf(), &mut files)
                }
                Ok(_) => {}
                Err(err) => {
                    let (at, loop_ancestor, io) = walk_error_parts(&err);
                    let at = at.map(display_path).unwrap_or_else(|| display_path(path));
                    if let Some(ancestor) = loop_ancestor {
                        let msg =
                            format!("symbolic link loop: `{at}` leads back to `{}`; skipped", display_path(ancestor));
                        early.push((at, Finding::new(codes::SYMLINK_LOOP, msg, Location::default())));
                    } else {
                        *unreadable = true;
                        let reason = io.map(io_reason).unwrap_or_else(|| err.to_string());
                        let msg = format!("cannot read `{at}`: {reason}");
                        early.push((at, Finding::new(codes::IO_ERROR, msg, Location::default())));
                    }
                }
            }
        }
    }
    let mut by_name: Vec<(String, PathBuf)> = files.into_values().collect();
    by_name.sort();
    let mut inputs: Vec<Input> = by_name.into_iter().map(|(_, p)| Input::File(p)).collect();
    if stdin {
        inputs.push(Input::Stdin);
    }
    inputs
}

/// The inputs that fit in `max_total` bytes together, in order; the rest are
/// dropped with one finding (MESH0014) naming the first of them. Sizes come from
/// the file system before anything is read, so the cut is the same on every run.
/// Standard input, always last, gets whatever budget is left ([`read_and_parse`]
/// reads it bounded by that).
fn within_total_size(inputs: Vec<Input>, max_total: u64, early: &mut Vec<(String, Finding)>) -> Vec<Input> {
    let mut total: u64 = 0;
    let mut kept = Vec::with_capacity(inputs.len());
    let mut dropped: Vec<String> = Vec::new();
    for input in inputs {
        let size = match &input {
            Input::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Input::Stdin | Input::BoundedStdin(_) | Input::Text { .. } => 0,
        };
        if (!dropped.is_empty() || total.saturating_add(size) > max_total)
            && let Input::File(p) = &input
        {
            dropped.push(display_path(p));
            continue;
        }
        total = total.saturating_add(size);
        kept.push(match input {
            Input::Stdin => Input::BoundedStdin(max_total.saturating_sub(total)),
            other => other,
        });
    }
    if let Some(first) = dropped.first() {
        let more = match dropped.len() {
            1 => String::new(),
            n => format!(" and {} more file{}", n - 1, if n == 2 { "" } else { "s" }),
        };
        let msg = format!(
            "the input is larger than {max_total} bytes in total (--max-total-size): `{first}`{more} \
             not read; raise the limit or check fewer files at once"
        );
        early.push((first.clone(), Finding::new(codes::INPUT_TOO_LARGE, msg, Location::default())));
    }
    kept
}

/// Ignore files read in every walked directory, in `.gitignore` syntax, next to
/// `.gitignore` itself (which is honoured too, in or out of a git repository).
/// Paths named explicitly on the command line are always read.
pub const IGNORE_FILE: &str = ".meshcignore";

/// The path, loop ancestor and I/O error inside a walk error.
fn walk_error_parts(err: &ignore::Error) -> (Option<&Path>, Option<&Path>, Option<&std::io::Error>) {
    match err {
        ignore::Error::WithPath { path, err } => {
            let (_, ancestor, io) = walk_error_parts(err);
            (Some(path), ancestor, io)
        }
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => walk_error_parts(err),
        ignore::Error::Loop { ancestor, child } => (Some(child), Some(ancestor), None),
        ignore::Error::Io(io) => (None, None, Some(io)),
        _ => (None, None, None),
    }
}

/// What makes two paths the same file: device and inode where there are such
/// things (one `stat`, no `readlink` per path component), else the canonical path.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum FileIdentity {
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_identity(path: &Path) -> FileIdentity {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(path) {
            return FileIdentity::Inode(m.dev(), m.ino());
        }
    }
    FileIdentity::Path(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// A directory `meshc compile` wrote (it holds meshc's `manifest.json`): Envoy
/// configs, not resources, so a walk skips it (`meshc compile . --out out` run
/// twice, or a policy repository that commits its compiled output). Named
/// explicitly, its files are still read.
fn is_meshc_output(path: &Path) -> bool {
    let manifest = path.join(crate::emit::MANIFEST);
    std::fs::symlink_metadata(&manifest).is_ok_and(|m| m.is_file())
        && std::fs::read(&manifest).is_ok_and(|bytes| crate::emit::manifest::is_meshc_manifest(&bytes))
}

fn has_resource_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

fn display_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    s.strip_prefix("./").map(str::to_string).unwrap_or_else(|| s.into_owned())
}

fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => err.to_string(),
    }
}

fn read_and_parse(file: usize, input: &Input, limits: &Limits) -> (SourceFile, Vec<Document>, Vec<Finding>, bool) {
    let display = match input {
        Input::Stdin | Input::BoundedStdin(_) => STDIN_NAME.to_string(),
        Input::File(p) => display_path(p),
        Input::Text { display, .. } => display.clone(),
    };
    let path = match input {
        Input::File(p) => Some(p.clone()),
        _ => None,
    };
    let mut findings = Vec::new();
    let budget = match input {
        Input::BoundedStdin(left) if *left < limits.max_file_size => Some(*left),
        _ => None,
    };
    let bytes = match read_bounded(input, budget.unwrap_or(limits.max_file_size)) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let (code, msg) = match budget {
                Some(left) => (
                    codes::INPUT_TOO_LARGE,
                    format!(
                        "`{display}` is larger than the {left} bytes left of {} in total (--max-total-size); not read",
                        limits.max_total_size
                    ),
                ),
                None => (
                    codes::FILE_TOO_LARGE,
                    format!("`{display}` is larger than {} bytes (--max-file-size); not read", limits.max_file_size),
                ),
            };
            findings.push(Finding::new(code, msg, Location::file(file)));
            return (SourceFile { display, path: path.clone(), text: None }, Vec::new(), findings, false);
        }
        Err(err) => {
            let msg = format!("cannot read `{display}`: {}", io_reason(&err));
            findings.push(Finding::new(codes::IO_ERROR, msg, Location::file(file)));
            return (SourceFile { display, path: path.clone(), text: None }, Vec::new(), findings, true);
        }
    };
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        let msg = format!("`{display}` is a binary file (NUL byte at offset {at}), not YAML or JSON");
        findings.push(Finding::new(codes::BINARY_FILE, msg, Location::file(file)));
        return (SourceFile { display, path: path.clone(), text: None }, Vec::new(), findings, false);
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(err) => {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            let line = valid.matches('\n').count() + 1;
            let col = valid.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0);
            let msg = format!("`{display}` is not valid UTF-8 (invalid byte at line {line}, column {})", col + 1);
            let pos = Pos { line, col, index: valid.chars().count() };
            findings.push(Finding::new(codes::NOT_UTF8, msg, Location::at(file, pos)));
            return (SourceFile { display, path: path.clone(), text: None }, Vec::new(), findings, false);
        }
    };
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    if text.trim().is_empty() {
        findings.push(Finding::new(codes::EMPTY, format!("`{display}` is empty"), Location::file(file)));
        return (SourceFile { display, path: path.clone(), text: Some(text) }, Vec::new(), findings, false);
    }
    let parsed = yaml::parse(&text, limits);
    for p in parsed.problems {
        let code = match p.kind {
            YamlProblemKind::Syntax => codes::YAML_SYNTAX,
            YamlProblemKind::TooDeep => codes::TOO_DEEP,
            YamlProblemKind::TooManyNodes => codes::TOO_MANY_NODES,
            YamlProblemKind::DuplicateKey => codes::DUPLICATE_KEY,
            YamlProblemKind::UnsupportedKey => codes::UNSUPPORTED_KEY,
            YamlProblemKind::TooManyDocuments => codes::TOO_MANY_DOCUMENTS,
        };
        findings.push(Finding::new(code, p.message, Location::at(file, p.pos)));
    }
    let mut docs = Vec::new();
    for d in parsed.documents {
        match d.value {
            None => {}
            Some(Value::Null) => findings.push(
                Finding::new(codes::EMPTY, "empty YAML document", Location::at(file, d.start)).with_level(Level::Info),
            ),
            Some(value) => {
                for pointer in secrets::misplaced_keys(&value) {
                    let msg = "holds a private key; meshc would copy it into the compiled Envoy config: \
                               put it in a file and name the file instead";
                    let at = Location::pointer(file, d.index, pointer, Target::Value);
                    findings.push(Finding::new(codes::MISPLACED_PRIVATE_KEY, msg, at));
                }
                docs.push(Document { file, index: d.index, start: d.start, value })
            }
        }
    }
    (SourceFile { display, path: path.clone(), text: Some(text) }, docs, findings, false)
}

/// Read at most `max` bytes; `Ok(None)` when the input is larger.
fn read_bounded(input: &Input, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    match input {
        Input::Stdin | Input::BoundedStdin(_) => {
            std::io::stdin().lock().take(max + 1).read_to_end(&mut buf)?;
        }
        Input::Text { text, .. } => buf.extend_from_slice(text.as_bytes()),
        Input::File(path) => {
            let f = std::fs::File::open(path)?;
            let len = f.metadata()?.len();
            if len > max {
                return Ok(None);
            }
            buf.reserve_exact(len as usize + 1);
            f.take(max + 1).read_to_end(&mut buf)?;
        }
    }
    Ok(if buf.len() as u64 > max { None } else { Some(buf) })
}
