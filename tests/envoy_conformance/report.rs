//! Matched cases per policy folder, checked against `baseline.txt`, and the
//! failing paths as a to-do list.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::compare::{Mismatch, tally};

/// How a case went for one proxy.
pub enum Outcome {
    /// Every probe matched.
    Match,
    /// Some probes differ.
    Differs(Vec<Mismatch>),
    /// The case could not be run (meshc failed, a file is missing, ...).
    Broken(String),
}

/// The outcome of one policy folder.
pub struct Report {
    folder: &'static str,
    total: usize,
    matched: usize,
    /// Per failing case, per proxy.
    failures: Vec<(String, Vec<(String, Outcome)>)>,
}

/// At most this many mismatches are printed per case and proxy (the count of the
/// rest is printed).
const SHOWN: usize = 12;

static BASELINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Report {
    pub fn new(folder: &'static str) -> Report {
        Report { folder, total: 0, matched: 0, failures: Vec::new() }
    }

    /// Record one case: its outcome for each proxy. It matches when every proxy matches.
    pub fn case(&mut self, name: &str, proxies: Vec<(String, Outcome)>) {
        self.total += 1;
        if proxies.iter().all(|(_, o)| matches!(o, Outcome::Match)) {
            self.matched += 1;
        } else {
            self.failures.push((name.to_string(), proxies));
        }
    }

    /// Print the count, the mismatches and the to-do summary; fail if fewer cases
    /// match than the baseline records.
    pub fn finish(self) {
        let (folder, total, matched) = (self.folder, self.total, self.matched);
        eprintln!("envoy conformance {folder}: {matched}/{total} cases match");
        for (case, proxies) in &self.failures {
            for (proxy, outcome) in proxies {
                match outcome {
                    Outcome::Match => {}
                    Outcome::Broken(why) => eprintln!("  FAIL {case} [{proxy}]: {why}"),
                    Outcome::Differs(ms) => {
                        eprintln!("  FAIL {case} [{proxy}]: {} of the compared values differ", ms.len());
                        for m in ms.iter().take(SHOWN) {
                            eprintln!("    {}\n      want {}\n      got  {}", m.path, short(&m.want), short(&m.got));
                        }
                        if ms.len() > SHOWN {
                            eprintln!("    ... and {} more", ms.len() - SHOWN);
                        }
                    }
                }
            }
        }
        let all = self.failures.iter().flat_map(|(_, ps)| ps).flat_map(|(_, o)| match o {
            Outcome::Differs(ms) => ms.iter().collect(),
            _ => Vec::new(),
        });
        let todo = tally(all);
        if !todo.is_empty() {
            eprintln!("  to-do {folder} (failing paths by kind, times seen over cases x proxies):");
            let mut by_count: Vec<_> = todo.into_iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            for (kind, n) in by_count {
                eprintln!("    {n:>3}  {kind}");
            }
        }
        assert!(total > 0, "{folder}: no cases found");
        // Folders run as parallel tests: one read-modify-write of the file at a time.
        let _guard = BASELINE.lock().unwrap_or_else(|e| e.into_inner());
        let mut baseline = read_baseline();
        let recorded = baseline.get(folder).copied().unwrap_or(0);
        if std::env::var_os("MESHC_BLESS").is_some() {
            baseline.insert(folder.to_string(), matched);
            write_baseline(&baseline);
            return;
        }
        assert!(
            matched >= recorded,
            "{folder}: {matched} of {total} cases match, fewer than the {recorded} recorded in \
             tests/envoy_conformance/baseline.txt"
        );
        if matched > recorded {
            eprintln!("  (better than the baseline of {recorded}: run with MESHC_BLESS=1 to record it)");
        }
    }
}

/// A value in one short line: `absent`, or its JSON cut at 160 characters.
fn short(v: &Option<Value>) -> String {
    let Some(v) = v else { return "absent".into() };
    let text = v.to_string();
    if text.chars().count() <= 160 {
        return text;
    }
    let cut: String = text.chars().take(157).collect();
    format!("{cut}...")
}

fn baseline_path() -> PathBuf {
    super::common::root().join("tests/envoy_conformance/baseline.txt")
}

fn read_baseline() -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(baseline_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (folder, n) = l.rsplit_once(' ')?;
            Some((folder.trim().to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

fn write_baseline(baseline: &BTreeMap<String, usize>) {
    let mut text = String::from(
        "# Kuma e2e sidecar cases whose compared Envoy values match, per policy folder\n\
         # (tests/envoy_conformance). Written by MESHC_BLESS=1.\n",
    );
    for (folder, n) in baseline {
        text.push_str(&format!("{folder} {n}\n"));
    }
    if let Err(e) = std::fs::write(baseline_path(), text) {
        panic!("{}: {e}", baseline_path().display());
    }
}
