//! The page: `assets/report.html` with the style, the script and the data
//! inline. A Content-Security-Policy that allows no source makes "no request
//! leaves the page" hold even if a later change slipped in a URL, and runs only
//! the one script whose hash it names: markup that a bug let into the page
//! would not run.

use super::model::Report;
use crate::source::secrets::redact_text;

const SHELL: &str = include_str!("assets/report.html");
const STYLE: &str = include_str!("assets/report.css");
const SCRIPT: &str = include_str!("assets/report.js");

/// The markers of [`SHELL`], replaced in one pass.
const MARKERS: [&str; 5] = ["{{TITLE}}", "{{SCRIPT_HASH}}", "{{STYLE}}", "{{SCRIPT}}", "{{DATA}}"];

/// The whole page for `report`. A private key a policy carries (MESH1006, when
/// suppressed) is redacted where the data is built; the text is checked again.
pub fn render(report: &Report) -> String {
    let data = script_safe(&redact_text(&serde_json::to_string(report).unwrap_or_default()));
    let title = crate::findings::render::junit::esc(&format!("meshc report: {}", report.inputs.join(" ")));
    let hash = script_hash();
    let mut out = String::with_capacity(SHELL.len() + STYLE.len() + SCRIPT.len() + data.len());
    let mut rest = SHELL;
    while let Some((at, marker)) = MARKERS.iter().filter_map(|m| rest.find(m).map(|at| (at, *m))).min() {
        out.push_str(&rest[..at]);
        out.push_str(match marker {
            "{{TITLE}}" => &title,
            "{{SCRIPT_HASH}}" => &hash,
            "{{STYLE}}" => STYLE,
            "{{SCRIPT}}" => SCRIPT,
            _ => &data,
        });
        rest = &rest[at + marker.len()..];
    }
    out.push_str(rest);
    out
}

/// The CSP source of [`SCRIPT`]: `sha256-<base64 of its SHA-256>`.
fn script_hash() -> String {
    use sha2::{Digest, Sha256};
    format!("sha256-{}", crate::certs::pem::encode_base64(&Sha256::digest(SCRIPT.as_bytes())))
}

/// JSON that can sit inside `<script type="application/json">`: no `<` (so no
/// `</script>` or `<!--`), and no line or paragraph separators.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c").replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_the_script_element() {
        let report = Report { inputs: vec!["</script><script>alert(1)</script>".into()], ..Default::default() };
        let page = render(&report);
        assert_eq!(page.matches("</script>").count(), SHELL.matches("</script>").count());
        assert!(page.contains("meshc report: &lt;/script&gt;"));
    }

    #[test]
    fn only_the_pages_own_script_may_run() {
        let page = render(&Report::default());
        let csp = page.split("Content-Security-Policy\" content=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(csp.starts_with("default-src 'none'; script-src 'sha256-"), "{csp}");
        assert!(!csp.contains("script-src 'unsafe-inline'"), "{csp}");
        assert!(csp.contains(&script_hash()));
    }

    #[test]
    fn assets_hold_no_marker_and_no_url_to_fetch() {
        for asset in [STYLE, SCRIPT] {
            for m in MARKERS {
                assert!(!asset.contains(m), "an asset holds {m}");
            }
        }
        for asset in [SHELL, STYLE, SCRIPT] {
            for scheme in ["http://", "https://", "//cdn", "@import"] {
                assert!(!asset.contains(scheme), "an asset names {scheme}");
            }
        }
    }
}
