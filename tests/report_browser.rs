//! The page `meshc report` writes, in headless Chromium: the graph, a proxy page
//! and a policy page show the expected names; keyboard, dark mode and print
//! work; hostile names stay text; and no request leaves the page. Screenshots
//! are kept in `target/artifacts/report_browser/` (`MESHC_ARTIFACTS`).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::chromium::{Browser, Page, artifacts_dir};
use common::{meshc, root, run_bounded, write};

const WAIT: Duration = Duration::from_secs(15);

/// Run `meshc report` with `args`; the page is `dir/report.html`.
fn report(dir: &Path, args: &[&str]) -> PathBuf {
    let page = dir.join("report.html");
    let mut cmd = meshc();
    cmd.arg("report").args(args).arg("--out").arg(&page);
    let out = run_bounded(cmd, None, Duration::from_secs(120));
    assert!(page.is_file(), "meshc report wrote nothing: {}", String::from_utf8_lossy(&out.stderr));
    page
}

fn examples() -> String {
    root().join("examples").to_string_lossy().into_owned()
}

/// Go to `hash` and wait for the view to render.
fn go(page: &Page, hash: &str, view: &str) {
    page.eval(&format!("location.hash = {}", serde_json::json!(hash))).unwrap();
    let ready = format!("document.getElementById('main')?.dataset.view === '{view}'");
    page.wait_for(&ready, WAIT).unwrap_or_else(|e| panic!("{hash}: view {view} did not render: {e}"));
}

fn text(page: &Page, selector: &str) -> String {
    let js = format!("document.querySelector({})?.innerText ?? ''", serde_json::json!(selector));
    page.eval(&js).unwrap().as_str().unwrap_or_default().to_string()
}

fn shot(page: &Page, name: &str) {
    let path = artifacts_dir("report_browser").join(name);
    page.screenshot(&path).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 1000, "{name} is a real picture");
}

/// The page is drawn, raised no error and asked for nothing outside itself.
fn assert_clean(page: &Page) {
    assert_eq!(page.requests(), Vec::<String>::new(), "requests left the page");
    assert_eq!(page.errors(), Vec::<String>::new(), "the page raised errors");
}

#[test]
fn the_examples_report_shows_graph_proxy_and_policy_pages() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page_path = report(dir.path(), &[&examples()]);
    let page = browser.open(&page_path).unwrap();
    page.wait_for("document.body.dataset.ready === '1'", WAIT).unwrap();
    let ms = page.eval("window.meshcRenderMs").unwrap();
    assert!(ms.as_f64().is_some(), "the page reports its first render time: {ms}");

    // Overview: the meshes of the examples.
    let main = text(&page, "#main");
    for mesh in ["migration", "vms", "default"] {
        assert!(main.contains(mesh), "the overview names mesh {mesh}:\n{main}");
    }
    shot(&page, "overview.png");

    // Service graph: a chip per service, with its name.
    go(&page, "#/services", "services");
    let chips = page.eval("document.querySelectorAll('#graph [data-service]').length").unwrap();
    assert!(chips.as_u64().unwrap_or(0) >= 10, "service chips: {chips}");
    let graph = text(&page, "#graph");
    for service in ["redis", "payments-api", "mes-http"] {
        assert!(graph.contains(service), "the graph shows {service}:\n{graph}");
    }
    shot(&page, "services.png");
    go(&page, "#/matrix", "matrix");
    let label = page.eval("document.getElementById('matrix')?.getAttribute('aria-label') ?? ''").unwrap();
    assert!(!label.as_str().unwrap_or_default().is_empty(), "the matrix canvas is labelled");
    shot(&page, "matrix.png");

    // A proxy page: its name, its inbound's permission and where it came from.
    go(&page, "#/proxy/migration/redis-6f8b7c5d9-m4v7q.kuma-demo", "proxy");
    assert!(text(&page, "#main h1").contains("redis-6f8b7c5d9-m4v7q"), "{}", text(&page, "#main h1"));
    let proxy = text(&page, "#main");
    assert!(proxy.contains("MeshTrafficPermission/redis-from-demo-app"), "the origin is named:\n{proxy}");
    // Its outbounds, opened, say how the application reaches them: hostnames and VIPs.
    page.eval("document.querySelectorAll('#main details.place').forEach(d => d.open = true)").unwrap();
    let opened = "document.getElementById('main').innerText.includes('Hostnames')\
                  && document.getElementById('main').innerText.includes('VIPs')";
    page.wait_for(opened, WAIT).unwrap_or_else(|e| panic!("hostnames and VIPs: {e}\n{}", text(&page, "#main")));
    shot(&page, "proxy.png");

    // A policy page: its label and a proxy it selects.
    let index = page
        .eval(
            "JSON.parse(document.getElementById('meshc-data').textContent).policies\
             .findIndex(p => p.label === 'MeshTrafficPermission/redis-from-demo-app.kuma-demo')",
        )
        .unwrap();
    let index = index.as_i64().filter(|i| *i >= 0).expect("the policy is in the data");
    go(&page, &format!("#/policy/{index}"), "policy");
    assert!(text(&page, "#main h1").contains("redis-from-demo-app"), "{}", text(&page, "#main h1"));
    assert!(text(&page, "#main").contains("redis-6f8b7c5d9-m4v7q"), "the selected proxy is listed");
    shot(&page, "policy.png");
    assert_clean(&page);
}

#[test]
fn the_report_works_from_the_keyboard_in_dark_mode_and_prints() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = browser.open(&report(dir.path(), &[&examples()])).unwrap();
    page.wait_for("document.body.dataset.ready === '1'", WAIT).unwrap();

    page.press("g").unwrap();
    page.press("p").unwrap();
    page.wait_for("document.getElementById('main').dataset.view === 'proxies'", WAIT).unwrap();
    page.press("/").unwrap();
    page.wait_for("document.activeElement && document.activeElement.id === 'search'", WAIT).unwrap();
    page.type_text("redis").unwrap();
    let rows = "document.querySelectorAll('#main tbody tr').length";
    page.wait_for(&format!("{rows} > 0 && {rows} < 28"), WAIT).unwrap_or_else(|e| panic!("the search filters: {e}"));
    page.press("Escape").unwrap();
    // Tab reaches links and buttons, each with a visible focus ring.
    for _ in 0..3 {
        page.press("Tab").unwrap();
    }
    let focused = page
        .eval(
            "(() => { const e = document.activeElement; const s = getComputedStyle(e);\
             return [e.tagName, s.outlineStyle !== 'none' || s.boxShadow !== 'none'] })()",
        )
        .unwrap();
    assert!(matches!(focused[0].as_str(), Some("A" | "BUTTON" | "INPUT" | "SUMMARY" | "SELECT")), "{focused}");
    assert_eq!(focused[1], true, "focus is visible: {focused}");

    // Another view starts unfiltered.
    go(&page, "#/policies", "policies");
    assert_eq!(page.eval("document.getElementById('search').value").unwrap(), "");
    go(&page, "#/proxies", "proxies");

    let background = "getComputedStyle(document.body).backgroundColor";
    let light = page.eval(background).unwrap();
    page.set_color_scheme(true).unwrap();
    let dark = page.eval(background).unwrap();
    assert_ne!(light, dark, "dark mode changes the colors");
    shot(&page, "proxies-dark.png");
    page.set_color_scheme(false).unwrap();

    page.set_media("print").unwrap();
    // Not laid out at all: no box to print.
    let nav = page.eval("document.querySelector('nav').getClientRects().length").unwrap();
    assert_eq!(nav, 0, "navigation is not printed");
    let pdf = page.pdf().unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    std::fs::write(artifacts_dir("report_browser").join("proxies.pdf"), pdf).unwrap();
    assert_clean(&page);
}

#[test]
fn the_diff_view_shows_what_a_change_does() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let head = dir.path().join("head");
    let mtp = "type: MeshTrafficPermission\nname: backend-from-web\nmesh: m\nspec:\n  targetRef:\n    kind: MeshSubset\n\
               \x20   tags: {kuma.io/service: backend}\n  from:\n    - targetRef:\n        kind: MeshSubset\n\
               \x20       tags: {kuma.io/service: web}\n      default: {action: ACTION}\n";
    let mesh = "type: Mesh\nname: m\nmtls:\n  enabledBackend: ca\n  backends: [{name: ca, type: builtin}]\n\
                ---\ntype: Dataplane\nmesh: m\nname: web-1\nnetworking:\n  address: 10.0.0.1\n  inbound:\n\
                \x20   - port: 8080\n      tags: {kuma.io/service: web, kuma.io/protocol: http}\n\
                ---\ntype: Dataplane\nmesh: m\nname: backend-1\nnetworking:\n  address: 10.0.0.2\n  inbound:\n\
                \x20   - port: 8080\n      tags: {kuma.io/service: backend, kuma.io/protocol: http}\n";
    write(&base, "mesh.yaml", mesh);
    write(&base, "mtp.yaml", &mtp.replace("ACTION", "Allow"));
    write(&head, "mesh.yaml", mesh);
    write(&head, "mtp.yaml", &mtp.replace("ACTION", "Deny"));
    let page_path = report(dir.path(), &[head.to_str().unwrap(), "--against", base.to_str().unwrap()]);
    let page = browser.open(&page_path).unwrap();
    page.wait_for("document.body.dataset.ready === '1'", WAIT).unwrap();
    go(&page, "#/diff", "diff");
    let diff = text(&page, "#main");
    for expected in ["backend-1", "Allow", "Deny", "web", "backend"] {
        assert!(diff.contains(expected), "the diff view shows {expected}:\n{diff}");
    }
    shot(&page, "diff.png");
    assert_clean(&page);
}

#[test]
fn hostile_text_in_the_input_stays_text() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let evil = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>";
    write(&dir.path().join("in"), "mesh.yaml", &format!("type: Mesh\nname: m\n{}: 1\n", serde_json::json!(evil)));
    let page = browser.open(&report(dir.path(), &[dir.path().join("in").to_str().unwrap()])).unwrap();
    page.wait_for("document.body.dataset.ready === '1'", WAIT).unwrap();
    let main = text(&page, "#main");
    assert!(main.contains("<img src=x"), "the unknown field is shown as written:\n{main}");
    assert_eq!(page.eval("document.querySelectorAll('#main img, #main script').length").unwrap(), 0);
    assert_ne!(page.eval("document.title").unwrap(), "pwned");
    assert_clean(&page);
}
