//! Arbitrary bytes as one YAML file through the whole validation pipeline and every
//! output format. Any panic, hang or runaway allocation is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshc::findings::Report;
use meshc::findings::render::{self, Format, TextOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let outcome = meshc::validate::run_texts(vec![("fuzz.yaml".into(), text.to_string())], &Default::default());
    let report = Report { findings: &outcome.findings, files: &outcome.files, resources: &outcome.resources };
    for format in [Format::Text, Format::Json, Format::Sarif, Format::Junit, Format::Github] {
        for quiet in [false, true] {
            let opts = TextOptions { color: !quiet, quiet, concise: quiet };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            render::write(format, &report, &opts, &mut out, &mut err).expect("writing to a Vec cannot fail");
            // One document on stdout for the document formats (`github` writes one
            // line per finding, so nothing when there is none).
            if matches!(format, Format::Json | Format::Sarif | Format::Junit) {
                assert!(!out.is_empty(), "{format:?} wrote nothing");
            }
        }
        let _ = report.summary();
    }
});
