//! Pass counts per fixture folder, checked against `baseline.txt`.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The outcome of one fixture folder.
pub struct Report {
    folder: &'static str,
    passed: usize,
    failures: Vec<(String, String)>,
}

impl Report {
    pub fn new(folder: &'static str) -> Report {
        Report { folder, passed: 0, failures: Vec::new() }
    }

    /// Record one case: `Err` carries why it does not match the golden.
    pub fn case(&mut self, name: impl Into<String>, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(why) => self.failures.push((name.into(), why)),
        }
    }

    pub fn total(&self) -> usize {
        self.passed + self.failures.len()
    }

    /// Print the count and the failures; fail if fewer pass than the baseline.
    pub fn finish(self) {
        let total = self.total();
        eprintln!("conformance {}: {}/{} passed", self.folder, self.passed, total);
        for (name, why) in &self.failures {
            eprintln!("  FAIL {name}: {}", why.replace('\n', "\n       "));
        }
        assert!(total > 0, "{}: no fixtures found", self.folder);
        let mut baseline = read_baseline();
        let recorded = baseline.get(self.folder).copied().unwrap_or(0);
        if std::env::var_os("MESHC_BLESS").is_some() {
            baseline.insert(self.folder.to_string(), self.passed);
            write_baseline(&baseline);
            return;
        }
        assert!(
            self.passed >= recorded,
            "{}: {} of {total} fixtures pass, fewer than the {recorded} recorded in baseline.txt",
            self.folder,
            self.passed
        );
        if self.passed > recorded {
            eprintln!("  (better than the baseline of {recorded}: run with MESHC_BLESS=1 to record it)");
        }
    }
}

fn baseline_path() -> PathBuf {
    super::common::root().join("tests/rules_conformance/baseline.txt")
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
    let mut text =
        String::from("# Kuma fixtures that pass, per folder (tests/rules_conformance). Written by MESHC_BLESS=1.\n");
    for (folder, n) in baseline {
        text.push_str(&format!("{folder} {n}\n"));
    }
    std::fs::write(baseline_path(), text).unwrap();
}
