//! Every finding code has an example, ruff style: `testdata/findings/<CODE>/` holds
//! - `bad*` (a file, several files, or a directory): input that triggers the code;
//! - `fixed*`: the same input, corrected;
//! - `fix.md`: one or two sentences on how to fix it;
//! - `args` (optional): the command (`validate`, the default, `compile` or `fmt`) and extra
//!   flags (`--max-depth 3`), whitespace-separated;
//! - `args.fixed` (optional): the same for the fixed input, when the fix is a flag.
//!
//! For every code in `codes::ALL` this test runs meshc on the bad input and checks
//! that the code is reported at a place in that input (the text output is an insta
//! snapshot in `tests/snapshots/`, so the exact line and column are reviewed), then
//! runs it on the fixed input and checks that neither the code nor any error is
//! reported. It also generates `docs/findings/<CODE>.md` from the example and the
//! real output, and fails when a page is stale.
//!
//! **A new code without an example fails this test** (and so CI): add its directory.
//! Only a code no input can trigger may go in [`EXEMPT`], with the reason.
//!
//! `MESHC_BLESS=1 cargo test --test findings_examples` rewrites the snapshots and the
//! pages (then `MESHC_BLESS=1 cargo test --lib docs_findings_md_is_fresh` for the
//! index, `docs/findings.md`); review the diff like code.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use meshc::findings::codes::{self, Code};

/// Codes without an example, with the reason. Keep it as short as possible.
const EXEMPT: &[(&str, &str)] = &[
    (
        "MESH2099",
        "the fallback for schema keywords the bundled schemas do not use in specs (`const`, `not`, \
         `uniqueItems`, ...): every violation of today's schemas has a more precise code",
    ),
    (
        "MESH6002",
        "`meshc fmt` checks that each rewrite reads back as the same resource; this code reports a formatter bug, \
         and every input that caused one is fixed, with a regression test",
    ),
    ("MESH9001", "an internal error is a bug in meshc: every input that caused one is fixed, with a regression test"),
];

/// Examples the test has to build because a file cannot hold them, with what it does.
fn built(code: &str) -> Option<&'static str> {
    match code {
        "MESH0001" => Some("The example names a path, `missing.yaml`, that does not exist."),
        "MESH0011" => Some("The test creates `bad/loop`, a symbolic link to `.` (its own directory)."),
        _ => None,
    }
}

fn bless() -> bool {
    std::env::var_os("MESHC_BLESS").is_some()
}

struct Example {
    code: Code,
    dir: PathBuf,
    /// Entries (files or directories) of the bad and the fixed input, by name.
    bad: Vec<String>,
    fixed: Vec<String>,
    command: String,
    args: Vec<String>,
    /// Arguments of the fixed run, when they differ (`args.fixed`).
    fixed_args: Option<Vec<String>>,
    fix: String,
}

/// The command and the extra flags of an `args` file.
fn read_args(path: &Path) -> Option<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut args: Vec<String> = text.split_whitespace().map(String::from).collect();
    let command = match args.first().map(String::as_str) {
        Some("validate" | "compile" | "fmt") => args.remove(0),
        _ => "validate".to_string(),
    };
    Some((command, args))
}

impl Example {
    fn load(code: Code) -> Result<Example, String> {
        let dir = common::root().join("testdata/findings").join(code.id);
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("no example directory {}: {e}", dir.display()))?;
        let mut names: Vec<String> =
            entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into()).collect();
        names.sort();
        let with = |prefix: &str| names.iter().filter(|n| n.starts_with(prefix)).cloned().collect::<Vec<_>>();
        let mut bad = with("bad");
        if code.id == "MESH0001" {
            bad = vec!["missing.yaml".into()];
        }
        let fixed = with("fixed");
        let fix = std::fs::read_to_string(dir.join("fix.md")).map_err(|e| format!("{}/fix.md: {e}", dir.display()))?;
        let (command, args) = read_args(&dir.join("args")).unwrap_or_else(|| ("validate".into(), Vec::new()));
        let fixed_args = read_args(&dir.join("args.fixed")).map(|(_, a)| a);
        if bad.is_empty() || fixed.is_empty() || fix.trim().is_empty() {
            return Err(format!("{}: needs bad*, fixed* and a non-empty fix.md", dir.display()));
        }
        Ok(Example { code, dir, bad, fixed, command, args, fixed_args, fix: fix.trim().to_string() })
    }

    /// The command line, as the docs show it.
    fn command_line(&self, inputs: &[String]) -> Vec<String> {
        let args = match &self.fixed_args {
            Some(fixed) if inputs == self.fixed.as_slice() => fixed,
            _ => &self.args,
        };
        let mut line = vec![self.command.clone()];
        line.extend(args.iter().cloned());
        line.extend(inputs.iter().cloned());
        if self.command == "compile" {
            line.extend(["--out".to_string(), "out".to_string()]);
        }
        line
    }

    /// Run meshc on `inputs` in a scratch copy of the example; its text output.
    fn run(&self, inputs: &[String]) -> String {
        let tmp = tempfile::tempdir().unwrap();
        copy_tree(&self.dir, tmp.path());
        if self.code.id == "MESH0011" {
            symlink_loop(&tmp.path().join("bad/loop"));
        }
        let mut cmd = common::meshc();
        cmd.current_dir(tmp.path()).arg("--color").arg("never").args(self.command_line(inputs));
        let out = common::run_bounded(cmd, None, Duration::from_secs(60));
        let text = String::from_utf8_lossy(&out.stderr).replace("\r\n", "\n");
        // The compile summary counts bytes of the manifest, which is not what the example is about.
        text.lines().filter(|l| !l.starts_with("compiled ")).map(|l| format!("{l}\n")).collect()
    }
}

#[cfg(unix)]
fn symlink_loop(at: &Path) {
    std::os::unix::fs::symlink(".", at).unwrap();
}

#[cfg(not(unix))]
fn symlink_loop(_: &Path) {}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// (location, level, code) of every finding header line: `bad.yaml:3:7: error[MESH1005]: ...`.
fn headers(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        for level in ["error", "warning", "info"] {
            let Some(at) = line.find(&format!(": {level}[MESH")) else { continue };
            let rest = &line[at + level.len() + 3..];
            if let Some(end) = rest.find("]: ") {
                out.push((line[..at].to_string(), level.to_string(), rest[..end].to_string()));
            }
        }
    }
    out
}

/// Check one example; the problems found, and its docs page when it ran as expected.
fn check(ex: &Example) -> Result<String, String> {
    let id = ex.code.id;
    let bad_out = ex.run(&ex.bad);
    let at_input = |loc: &str| {
        ex.bad.iter().any(|b| loc == b || loc.starts_with(&format!("{b}:")) || loc.starts_with(&format!("{b}/")))
    };
    let reported = headers(&bad_out).iter().any(|(loc, _, code)| code == id && at_input(loc));
    if !reported {
        return Err(format!(
            "{id}: `meshc {}` does not report {id} at a place in the bad input:\n{bad_out}",
            ex.command_line(&ex.bad).join(" ")
        ));
    }
    let fixed_out = ex.run(&ex.fixed);
    let left: Vec<_> =
        headers(&fixed_out).into_iter().filter(|(_, level, code)| code == id || level == "error").collect();
    if !left.is_empty() {
        return Err(format!("{id}: the fixed input still reports {left:?}:\n{fixed_out}"));
    }
    let snapshot = format!("$ meshc {}\n{bad_out}", ex.command_line(&ex.bad).join(" "));
    let mut settings = insta::Settings::clone_current();
    settings.set_omit_expression(true);
    settings.set_description(format!("{id}: {}", ex.code.title));
    let matched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(id, snapshot))
    }));
    if matched.is_err() {
        return Err(format!("{id}: output differs from tests/snapshots/findings_examples__{id}.snap"));
    }
    Ok(page(ex, &snapshot))
}

/// The text of a file for a Markdown code block (binary examples are shown escaped).
fn shown(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).replace('\0', "\\0");
    if text.ends_with('\n') { text } else { format!("{text}\n") }
}

/// Every file of an input entry (a file, or the files of a directory), by relative path.
fn files_of(dir: &Path, entry: &str) -> Vec<(String, PathBuf)> {
    let path = dir.join(entry);
    if !path.is_dir() {
        return if path.exists() { vec![(entry.to_string(), path)] } else { Vec::new() };
    }
    let mut out: Vec<_> =
        common::read_tree(&path).into_keys().map(|k| (format!("{entry}/{k}"), path.join(&k))).collect();
    out.sort();
    out
}

fn code_blocks(dir: &Path, entries: &[String]) -> String {
    let mut out = String::new();
    for entry in entries {
        for (name, path) in files_of(dir, entry) {
            let lang = if name.ends_with(".json") { "json" } else { "yaml" };
            out.push_str(&format!("`{name}`:\n\n```{lang}\n{}```\n\n", shown(&path)));
        }
    }
    out
}

fn header(code: Code) -> String {
    let doc: Vec<&str> = code.doc.lines().map(str::trim).collect();
    format!(
        "<!-- Generated by tests/findings_examples.rs from src/findings/codes.rs and testdata/findings/{id}/ \
         (MESHC_BLESS=1 cargo test --test findings_examples) -->\n\n# {id}: {title}\n\nLevel: **{level}** · \
         [all codes](../findings.md)\n\n{doc}\n\n",
        id = code.id,
        title = code.title,
        level = code.level,
        doc = doc.join(" ").trim(),
    )
}

fn page(ex: &Example, output: &str) -> String {
    let mut out = header(ex.code);
    out.push_str("## Example\n\n");
    if let Some(note) = built(ex.code.id) {
        out.push_str(&format!("{note}\n\n"));
    }
    out.push_str(&code_blocks(&ex.dir, &ex.bad));
    out.push_str(&format!("```text\n{output}```\n\n## Fix\n\n{}\n\n", ex.fix));
    out.push_str(&code_blocks(&ex.dir, &ex.fixed));
    let fixed_line = ex.command_line(&ex.fixed).join(" ");
    out.push_str(&format!("`meshc {fixed_line}` reports no {} and no error.\n", ex.code.id));
    format!("{}\n", out.trim_end())
}

fn exempt_page(code: Code, reason: &str) -> String {
    format!("{}## Example\n\nNone: {reason}.\n", header(code))
}

fn docs_dir() -> PathBuf {
    common::root().join("docs/findings")
}

/// Compare a generated page with the committed one (`MESHC_BLESS=1` writes it).
fn fresh(id: &str, want: &str) -> Result<(), String> {
    let path = docs_dir().join(format!("{id}.md"));
    if std::fs::read_to_string(&path).ok().as_deref() == Some(want) {
        return Ok(());
    }
    if bless() {
        std::fs::create_dir_all(docs_dir()).unwrap();
        std::fs::write(&path, want).unwrap();
        return Ok(());
    }
    Err(format!("{id}: docs/findings/{id}.md is stale"))
}

/// The docs page of a code, or what is wrong with its example (`None`: not checked here).
fn example_page(code: Code) -> Option<Result<String, String>> {
    if let Some((_, reason)) = EXEMPT.iter().find(|(id, _)| *id == code.id) {
        return Some(Ok(exempt_page(code, reason)));
    }
    if cfg!(not(unix)) && built(code.id).is_some() {
        return None;
    }
    Some(Example::load(code).and_then(|ex| check(&ex)))
}

#[test]
fn every_code_has_an_example_that_triggers_it_and_a_fix() {
    if bless() {
        // SAFETY: set before this test reads it or starts any thread.
        unsafe { std::env::set_var("INSTA_UPDATE", "always") };
    }
    // Each example runs meshc twice: spread them over a few threads.
    let results: Vec<(Code, Result<String, String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = codes::ALL
            .chunks(codes::ALL.len().div_ceil(4))
            .map(|chunk| {
                scope.spawn(move || chunk.iter().filter_map(|c| Some((*c, example_page(*c)?))).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect::<Vec<_>>()
    });
    let mut problems = Vec::new();
    let mut pages = Vec::new();
    for (code, result) in results {
        match result {
            Ok(page) => pages.push((code.id, page)),
            Err(e) => problems.push(e),
        }
    }
    for (id, page) in &pages {
        if let Err(e) = fresh(id, page) {
            problems.push(e);
        }
    }
    // No page or example directory for a code that does not exist.
    for dir in [docs_dir(), common::root().join("testdata/findings")] {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().trim_end_matches(".md").to_string();
            if codes::by_id(&name).is_none() {
                problems.push(format!("{}: not a finding code", e.path().display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) (MESHC_BLESS=1 regenerates snapshots and pages; review them):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn exemptions_are_real_codes_without_examples() {
    for (id, _) in EXEMPT {
        assert!(codes::by_id(id).is_some(), "{id} is not a code");
        assert!(!common::root().join("testdata/findings").join(id).exists(), "{id} has an example: drop its exemption");
    }
}
