//! Golden cases: `testdata/golden/<case>/input/` is validated as one world and the
//! findings (the lines `meshc validate --concise` prints, paths relative to the
//! case) must equal `testdata/golden/<case>/validate.expected`. `MESHC_BLESS=1`
//! rewrites the goldens, which are then reviewed like code.

mod common;

use meshc::validate::{self, Options};

#[test]
fn golden_cases() {
    let dir = common::root().join("testdata/golden");
    let mut cases: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 3);
    let bless = std::env::var_os("MESHC_BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in cases {
        let outcome = validate::run(&[case.join("input")], &Options::default());
        let mut got = String::new();
        for f in &outcome.findings {
            let file = f.location.file.map(|i| outcome.files[i].display.clone()).unwrap_or_default();
            let file = file.strip_prefix(&format!("{}/", case.display())).unwrap_or(&file).to_string();
            let at = f.location.pos.map(|p| format!("{file}:{}:{}", p.line, p.col + 1)).unwrap_or(file);
            let field = f.field.as_deref().map(|p| format!(" [{p}]")).unwrap_or_default();
            got.push_str(&format!("{at}: {}[{}]: {}{field}\n", f.level, f.code.id, f.message));
        }
        got.push_str(&format!("{} resources\n", outcome.resources.len()));
        let golden = case.join("validate.expected");
        if bless {
            std::fs::write(&golden, &got).unwrap();
        } else if std::fs::read_to_string(&golden).unwrap_or_default() != got {
            mismatches.push(format!("{}:\n{got}", case.display()));
        }
    }
    assert!(mismatches.is_empty(), "goldens differ (MESHC_BLESS=1 to update, then review):\n{}", mismatches.join("\n"));
}
