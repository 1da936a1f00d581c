//! `meshc report [PATH...] --out report.html [--against DIR | --against-git REF]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::input::InputArgs;
use super::{Color, exit};
use crate::findings::Level;
use crate::findings::render::{self, Format as FindingsFormat, TextOptions};
use crate::report::{self, Report};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc report policies/ --out report.html                  # open it in a browser
  meshc report policies/ --out report.html --configs out/   # link each proxy to its Envoy config
  meshc report policies/ --out report.html --against-git origin/main   # what a pull request changes
  meshc report policies/ --out report.html --against ../base/policies/

The page is one file with its style, script and data inline: it makes no request,
so it opens from disk and from a CI artifact. It shows the meshes and the findings
first; the service graph (grouped by zone, with who may call whom as
MeshTrafficPermission decides, and a matrix view for large meshes); every proxy with
its inbounds, outbounds and the effective policies of each, field by field with the
policy that set it (the `meshc explain` view); every policy with the proxies it
selects and the fields it loses to other policies, with Kuma's reason; and with
--against or --against-git, what the change does to each proxy and service pair.
Keys: `/` search, `g` then o/s/p/l/d for overview, services, proxies, policies, diff.

An input with errors still gets a report (the findings, to fix them); the other
views need an input `meshc compile` accepts.

Exit status: 0, 1 when the input (not the base) has errors, 2 usage error, 3 when
the input cannot be read or the report cannot be written.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,

    /// The HTML file to write (replaced atomically).
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,

    /// Compare with the input as it was: a directory (or file) holding the base
    /// version of the resources, e.g. a checkout of the target branch.
    #[arg(long, value_name = "DIR", conflicts_with = "against_git")]
    pub against: Option<PathBuf>,

    /// Compare with the input as it is at a git revision (`origin/main`,
    /// `HEAD~1`): the same PATHs, read from the repository that holds them.
    #[arg(long, value_name = "REF")]
    pub against_git: Option<String>,

    /// A `meshc compile` output directory: each proxy page links to its Envoy
    /// config there (relative to the report, so keep them side by side).
    #[arg(long, value_name = "DIR")]
    pub configs: Option<PathBuf>,

    /// Count `kuma.io/effect: shadow` policies as applied.
    #[arg(long)]
    pub shadow: bool,

    #[command(flatten)]
    pub reach: super::compile::ReachArgs,
}

pub fn run(args: Args, color: Color) -> i32 {
    args.input.apply_jobs();
    let configs = match &args.configs {
        Some(dir) => match config_links(dir, &args.out) {
            Ok(links) => links,
            Err(e) => {
                eprintln!("error: --configs {}: {e}", dir.display());
                return exit::USAGE;
            }
        },
        None => Default::default(),
    };
    // A wrong base is a usage error before any work.
    let base = match base_paths(&args) {
        Ok(base) => base,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let inputs: Vec<String> = args.input.paths.iter().map(|p| p.display().to_string()).collect();
    let (mut report, outcome) = build(&args, &args.input.paths, inputs, configs);
    let errors: Vec<_> = outcome.findings.iter().filter(|f| f.level == Level::Error).cloned().collect();
    if !errors.is_empty() {
        let shown = crate::findings::Report { findings: &errors, files: &outcome.files, resources: &outcome.resources };
        let text = TextOptions { color: color.enabled(), quiet: false, concise: false };
        let _ = render::write(FindingsFormat::Text, &shown, &text, &mut std::io::sink(), &mut std::io::stderr().lock());
    }
    if let Some(base) = base {
        let (base_report, _) = build(&args, &base.paths, report.inputs.clone(), BTreeMap::new());
        if base_report.has_errors {
            eprintln!(
                "warning: the base ({}) has errors: the report compares its findings, services and policies only",
                base.label
            );
        }
        let mut diff = report::diff::diff(&base_report, &report, base.label.clone());
        for f in diff.findings_removed.iter_mut() {
            if let (Some(file), Some(root)) = (f.file.as_mut(), base.strip.as_deref()) {
                *file = format!("{}:{}", base.label, file.trim_start_matches(root).trim_start_matches('/'));
            }
        }
        report.diff = Some(diff);
    }
    let page = report::html::render(&report);
    if let Err(e) = crate::certs::fsio::write_atomic(&args.out, page.as_bytes(), crate::certs::fsio::Mode::Public) {
        eprintln!("error: cannot write {}: {e}", args.out.display());
        return exit::UNREADABLE;
    }
    eprintln!("{}", summary(&report, &args.out));
    if outcome.unreadable {
        exit::UNREADABLE
    } else if !errors.is_empty() {
        eprintln!("error: the input has errors (above, and first in the report): the other views need them fixed");
        exit::FINDINGS
    } else {
        exit::CLEAN
    }
}

/// The report of `paths` (its proxies linked to `configs`), and the validation
/// outcome it was built from.
fn build(
    args: &Args,
    paths: &[PathBuf],
    inputs: Vec<String>,
    configs: BTreeMap<String, String>,
) -> (Report, crate::validate::Outcome) {
    let validate_opts = args.input.options();
    let outcome = crate::validate::run(paths, &validate_opts);
    let (world, plan) = args.reach.options(validate_opts.default_mesh_exists, args.shadow);
    let opts = report::Options { world, plan, limits: validate_opts.limits, inputs, configs };
    (report::build(&outcome, &opts), outcome)
}

/// Where the base version of the input is.
struct Base {
    paths: Vec<PathBuf>,
    /// `DIR` or `git REF`, as the page says it.
    label: String,
    /// A temporary checkout's path, stripped from the base's file names.
    strip: Option<String>,
    /// Keeps a `--against-git` checkout alive until the report is built.
    _checkout: Option<tempfile::TempDir>,
}

fn base_paths(args: &Args) -> Result<Option<Base>, String> {
    if let Some(dir) = &args.against {
        if !dir.exists() {
            return Err(format!("--against {}: no such file or directory", dir.display()));
        }
        return Ok(Some(Base {
            paths: vec![dir.clone()],
            label: dir.display().to_string(),
            strip: None,
            _checkout: None,
        }));
    }
    let Some(rev) = &args.against_git else { return Ok(None) };
    let checkout = super::git::checkout(rev, &args.input.paths)?;
    Ok(Some(Base {
        paths: checkout.paths,
        label: format!("git {rev}"),
        strip: Some(checkout.root.display().to_string()),
        _checkout: Some(checkout.dir),
    }))
}

/// Proxy directory -> its bootstrap in a `meshc compile` output `dir`, as a
/// path relative to the report's directory.
fn config_links(dir: &Path, out: &Path) -> Result<BTreeMap<String, String>, String> {
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e} (is it a `meshc compile --out` directory?)", manifest.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not meshc's manifest: {e}", manifest.display()))?;
    let base = relative_to(dir, out.parent().unwrap_or(Path::new("")));
    let mut links = BTreeMap::new();
    for p in doc.get("proxies").and_then(|p| p.as_array()).into_iter().flatten() {
        let Some(bootstrap) = p.get("bootstrap").and_then(|b| b.as_str()) else { continue };
        // `proxies/<dir>/bootstrap.yaml`: the proxy's directory is between.
        let Some(proxy_dir) = bootstrap.strip_prefix("proxies/").and_then(|b| b.rsplit_once('/')).map(|(d, _)| d)
        else {
            continue;
        };
        links.insert(proxy_dir.to_string(), href(&format!("{base}{bootstrap}")));
    }
    Ok(links)
}

/// A relative path as a URL path: every byte but unreserved ones and `/`
/// percent-encoded (directory names may hold `#`, `?`, `%`, and escaped proxy
/// directories hold `%XX` literally).
fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `dir` as seen from `from` (both as given, made absolute), with a trailing `/`.
fn relative_to(dir: &Path, from: &Path) -> String {
    let abs = |p: &Path| {
        let p = if p.as_os_str().is_empty() { Path::new(".") } else { p };
        std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
    };
    let (dir, from) = (abs(dir), abs(from));
    let dir: Vec<_> = dir.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = dir.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut s = String::new();
    for _ in common..from.len() {
        s.push_str("../");
    }
    for c in &dir[common..] {
        s.push_str(&c.as_os_str().to_string_lossy());
        s.push('/');
    }
    s
}

fn summary(r: &Report, out: &Path) -> String {
    let mut s = format!(
        "{}: {} meshes, {} services, {} proxies, {} policies, {} findings",
        out.display(),
        r.meshes.len(),
        r.services.len(),
        r.proxies.len(),
        r.policies.iter().filter(|p| !p.implicit).count(),
        r.findings.len()
    );
    if let Some(d) = &r.diff {
        let n = d.proxies.len();
        let proxies = if n == 1 { "1 proxy changes".to_string() } else { format!("{n} proxies change") };
        s.push_str(&format!("; against {}: {proxies}, {} service pairs' access", d.against, d.access_total));
    }
    s
}
