//! `meshc watch [PATH...] --out DIR`: `compile`, again on every change.

use std::path::Path;
use std::time::{Duration, Instant};

use super::compile::{self as compile_cli, Summary};
use super::{Color, exit};
use crate::compile;
use crate::emit::tree::MANIFEST;
use crate::watch::{self, Poller};

#[derive(Debug, clap::Args)]
#[group(id = "WatchArgs")]
#[command(after_help = "\
Examples:
  meshc watch policies/ --out out/                 # recompile on every saved change
  meshc watch . --out /srv/envoy --format xds      # running Envoys reload what changed

Compiles once, then again whenever an input file changes (after --debounce-ms of
quiet). Each run updates DIR in place like `meshc compile`: only files whose bytes
change are replaced, so with --format xds only the Envoys whose LDS/CDS changed
reload. A run whose input has errors does not touch DIR: the last good output
stays, and the next change is compiled again. Ctrl-C or SIGTERM stops after the
run in progress has finished writing (exit 0); a second Ctrl-C stops at once, and
the next run finishes or discards what it left.")]
pub struct Args {
    #[command(flatten)]
    pub compile: compile_cli::Args,

    /// How long the input must stay unchanged before a run starts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub debounce_ms: u64,
}

pub fn run(args: Args, color: Color) -> i32 {
    let compile = &args.compile;
    if compile.check {
        eprintln!("error: `meshc watch` writes DIR on every change; use `meshc compile --check` to check it once");
        return exit::USAGE;
    }
    let stop = watch::stop_on_signals();
    let input = &compile.input;
    input.input.apply_jobs();
    let paths = input.input.paths.clone();
    let mut poller = Poller::new(paths, watch::exclusions(&compile.out), Duration::from_millis(args.debounce_ms));
    let mut n = 1;
    loop {
        once(compile, color, n);
        if !input.json() {
            eprintln!("[watch] waiting for changes (Ctrl-C to stop)");
        }
        let Some(changed) = poller.wait(stop) else { break };
        if !input.json() {
            let more = if changed.len() > 1 { format!(" (+{} more)", changed.len() - 1) } else { String::new() };
            let first = changed.first().map(|p| p.display().to_string()).unwrap_or_default();
            eprintln!("[watch] changed: {first}{more}");
        }
        n += 1;
    }
    if !input.json() {
        eprintln!("[watch] stopped");
    }
    exit::CLEAN
}

/// One compile into DIR, with its findings and a one-line summary.
fn once(args: &compile_cli::Args, color: Color, n: usize) {
    let input = &args.input;
    let out = &args.out;
    let dir = out.display().to_string();
    let started = Instant::now();
    let before = std::fs::read(out.join(MANIFEST)).ok();
    let written = compile::run_written(&input.input.paths, &input.options(), &input.emit_options(out), out);
    input.print_findings(&written.outcome, color);
    let summary = Summary { outcome: &written.outcome, proxies: &written.proxies, timings: &written.timings };
    let secs = started.elapsed().as_secs_f64();
    if written.has_errors() {
        if input.json() {
            compile_cli::print_json(&summary, None, None, &dir, false);
        } else {
            let why = if written.outcome.unreadable { "input could not be read" } else { "errors" };
            eprintln!(
                "[watch #{n}] {why}: {dir} was NOT updated and keeps the last good output; fix the above and save ({secs:.2}s)"
            );
        }
        return;
    }
    match &written.written {
        Err(e) => eprintln!("[watch #{n}] error: nothing was written to {dir}: {e}"),
        Ok(stats) if input.json() => compile_cli::print_json(&summary, None, Some(stats), &dir, false),
        Ok(stats) => {
            compile_cli::report_recovery(stats, &dir);
            let proxies = proxy_summary(before.as_deref(), out);
            eprintln!("[watch #{n}] {dir}: proxies {proxies}; files {} ({secs:.2}s)", compile_cli::file_changes(stats));
            if args.timings {
                compile_cli::print_timings(true, &written.timings);
            }
        }
    }
}

fn proxy_summary(before: Option<&[u8]>, out: &Path) -> String {
    match std::fs::read(out.join(MANIFEST)) {
        Ok(after) => watch::proxy_changes(before, &after).to_string(),
        Err(e) => format!("unknown (cannot read {}: {e})", out.join(MANIFEST).display()),
    }
}
