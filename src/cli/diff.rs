//! `meshc diff [PATH...] --against DIR`.

use std::io::Write;
use std::path::PathBuf;

use super::compile::CompileInput;
use super::{Color, exit};
use crate::source::secrets::{redact_text, redact_value};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc diff policies/ --against out/            # what `meshc compile --out out/` would change
  meshc diff policies/ --against out/ --stat     # one line per file
  meshc diff . --against out/ --format json | jq '.files[].path'

With --format json (or --message-format json) the result is one JSON document
on stdout with every differing file's status and unified diff.

Exit status: 0 when nothing would change, 1 when something would (or the input has
errors, or DIR holds an update a killed run did not finish), 3 when the input or DIR cannot be read. Rendering options (--format,
--encoding, --secrets-dir, ...) must match the ones DIR was compiled with.")]
pub struct Args {
    #[command(flatten)]
    pub input: CompileInput,

    /// A directory written by `meshc compile`.
    #[arg(long, value_name = "DIR")]
    pub against: PathBuf,

    /// Only list the files that would change, with their status.
    #[arg(long)]
    pub stat: bool,
}

pub fn run(args: Args, color: Color) -> i32 {
    let input = &args.input;
    let unfinished = super::compile::unfinished_write(&args.against);
    if let Some(message) = &unfinished {
        eprintln!("warning: {message}");
    }
    let mut compiled = input.compile(color, &args.against);
    if let Some(status) = input.stop_status(&compiled.outcome, &compiled.proxies) {
        return status;
    }
    let dir = args.against.display().to_string();
    let comparison = match input.compare_with(&mut compiled, &args.against) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let json = input.json();
    // The compiled configs hold no private key unless MESH1006 was suppressed;
    // even then a diff, which goes to CI logs, never shows one.
    let written = if json {
        let mut doc = serde_json::json!({
            "against": dir,
            "up_to_date": comparison.is_up_to_date(),
            "added": comparison.added,
            "removed": comparison.removed,
            "changed": comparison.changed,
            "unchanged": comparison.unchanged,
            "files": comparison.differing().collect::<Vec<_>>(),
        });
        redact_value(&mut doc);
        writeln!(out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default())
    } else if args.stat {
        comparison
            .differing()
            .try_for_each(|f| writeln!(out, "{:<8} {}", format!("{:?}", f.status).to_lowercase(), f.path))
    } else {
        write!(out, "{}", redact_text(&comparison.unified_diff()))
    };
    if written.is_err() {
        return exit::UNREADABLE;
    }
    if !json && !input.quiet {
        eprintln!("{dir}: {}", comparison.summary());
    }
    if comparison.is_up_to_date() && unfinished.is_none() { exit::CLEAN } else { exit::FINDINGS }
}
