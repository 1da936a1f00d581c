//! `meshc fmt [PATH...] [--check]`: a thin layer over [`crate::fmt`].

use std::io::Write;
use std::path::PathBuf;

use rayon::prelude::*;

use super::input::InputArgs;
use super::{Color, exit};
use crate::findings::{self, Finding};
use crate::fmt::write as fmt_write;
use crate::source::{self, secrets};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc fmt                          # rewrite every resource under the current directory
  meshc fmt --check                  # CI: exit 1 and print a diff when something is not formatted
  meshc fmt --check --list policies/ # only the names of files that would change
  kubectl get meshtimeouts -A -o yaml | meshc fmt -   # stdin to stdout

The canonical form: envelope first (apiVersion, kind, metadata{name, namespace,
labels, annotations}, spec; Universal: type, name, mesh, labels, spec), spec keys in
the kind's schema order, labels and maps sorted, lists in their order, the CRD
defaults Kuma fills in on admission written out, two-space indentation with
sequences at their key's column, comments kept with what they precede.
Documents that are not kuma.io resources are left as written.

Exit status: 0 formatted (or, with --check, nothing to change), 1 with --check
when some file would change, and 1 when a file does not parse (it is left as it
is; `meshc validate` says more), 3 when a file could not be read or written.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,

    /// Write nothing; exit 1 and print a unified diff of what would change.
    #[arg(long)]
    pub check: bool,

    /// Print only the paths of files that would change; like --check, write nothing.
    #[arg(long, short = 'l')]
    pub list: bool,

    /// Do not print findings or the summary line.
    #[arg(long, short)]
    pub quiet: bool,
}

struct FileOutcome {
    display: String,
    /// Where the file is written back; `None` for stdin (written to stdout).
    path: Option<PathBuf>,
    original: String,
    formatted: String,
    findings: Vec<Finding>,
}

pub fn run(args: Args, _color: Color) -> i32 {
    args.input.apply_jobs();
    let check = args.check || args.list;
    let opts = crate::fmt::Options { limits: args.input.options().limits, ignore_unknown: args.input.ignore_unknown };
    let loaded = source::load_with(&args.input.paths, &opts.limits, &|_doc| ());
    let outcomes: Vec<Option<FileOutcome>> = loaded
        .files
        .par_iter()
        .enumerate()
        .map(|(i, f)| {
            let text = f.text.as_ref()?;
            let out = crate::fmt::format_text(i, text, &opts);
            Some(FileOutcome {
                display: f.display.clone(),
                path: f.path.clone(),
                original: text.clone(),
                formatted: out.text,
                findings: out.findings,
            })
        })
        .collect();
    let mut findings = loaded.findings;
    let mut unreadable = loaded.unreadable;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut changed, mut total) = (0usize, 0usize);
    let mut written_ok = true;
    for outcome in outcomes {
        let Some(o) = outcome else { continue };
        total += 1;
        findings.extend(o.findings);
        let is_stdin = o.path.is_none();
        let differs = o.formatted != o.original;
        if differs {
            changed += 1;
        }
        if is_stdin && !check {
            written_ok &= out.write_all(o.formatted.as_bytes()).is_ok();
            continue;
        }
        if !differs {
            continue;
        }
        if args.list {
            written_ok &= writeln!(out, "{}", o.display).is_ok();
        } else if check {
            // The diff shows the user's own files, which may hold private keys
            // (a MeshExternalService `clientKey`): masked, line by line, so a hunk
            // that starts inside a key shows no part of it.
            let (before, after) = (secrets::mask_text(&o.original), secrets::mask_text(&o.formatted));
            let diff = similar::TextDiff::from_lines(&*before, &*after)
                .unified_diff()
                .header(&o.display, &o.display)
                .to_string();
            written_ok &= out.write_all(diff.as_bytes()).is_ok();
        }
        if !check
            && let Some(path) = &o.path
            && let Err(err) = fmt_write::replace(path, &o.formatted)
        {
            changed -= 1;
            unreadable = true;
            eprintln!(
                "error: cannot write `{}`: {err}; the file was left as it was (check permissions and free space)",
                o.display
            );
        }
    }
    let _ = out.flush();
    if !args.quiet {
        findings::resolve_positions(&mut findings, &loaded.files, &opts.limits);
        findings::sort(&mut findings, &loaded.files);
        let mut err = std::io::stderr().lock();
        for f in &findings {
            let file = f.location.file.and_then(|i| loaded.files.get(i)).map(|s| s.display.as_str()).unwrap_or("");
            let at = f.location.pos.map(|p| format!(":{}:{}", p.line, p.col + 1)).unwrap_or_default();
            let _ = writeln!(err, "{file}{at}: {}[{}]: {}", f.level, f.code.id, f.message);
        }
        let verb = if check { "would be reformatted" } else { "reformatted" };
        eprintln!("{changed} of {total} files {verb}");
    }
    if !written_ok || unreadable {
        exit::UNREADABLE
    } else if findings.iter().any(|f| f.level == findings::Level::Error) {
        // A file that does not parse (MESH0004 and friends) was left as it is: not
        // "formatted", so neither a CI gate nor a hook may pass it.
        exit::FINDINGS
    } else if check && changed > 0 {
        exit::FINDINGS
    } else {
        exit::CLEAN
    }
}
