//! The page: `assets/report.html` with the style, the script and the data
//! inline. A Content-Security-Policy that allows no source but the page itself
//! makes "no request leaves the page" hold even if a later change slipped in a
//! URL.

use super::model::Report;
use crate::source::secrets::redact_text;

const SHELL: &str = include_str!("assets/report.html");
const STYLE: &str = include_str!("assets/report.css");
const SCRIPT: &str = include_str!("assets/report.js");

/// The markers of [`SHELL`], replaced in one pass.
const MARKERS: [&str; 4] = ["{{TITLE}}", "{{STYLE}}", "{{SCRIPT}}", "{{DATA}}"];

/// The whole page for `report`. A private key a policy carries (MESH1006, when
/// suppressed) is redacted where the data is built; the text is checked again.
pub fn render(report: &Report) -> String {
    let data = script_safe(&redact_text(&serde_json::to_string(report).unwrap_or_default()));
    let title = escape(&format!("meshc report: {}", report.inputs.join(" ")));
    let mut out = String::with_capacity(SHELL.len() + STYLE.len() + SCRIPT.len() + data.len());
    let mut rest = SHELL;
    while let Some((at, marker)) = MARKERS.iter().filter_map(|m| rest.find(m).map(|at| (at, *m))).min() {
        out.push_str(&rest[..at]);
        out.push_str(match marker {
            "{{TITLE}}" => &title,
            "{{STYLE}}" => STYLE,
            "{{SCRIPT}}" => SCRIPT,
            _ => &data,
        });
        rest = &rest[at + marker.len()..];
    }
    out.push_str(rest);
    out
}

/// JSON that can sit inside `<script type="application/json">`: no `<` (so no
/// `</script>` or `<!--`), and no line or paragraph separators.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c").replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029")
}

/// Text for HTML element content.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
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
