//! Tests of the headless-Chromium harness (`tests/common/chromium.rs`) itself, on small
//! HTML files: the report's browser tests rely on it to see what a page renders, to drive it
//! from the keyboard and, above all, to catch and stop every request that would leave the
//! page.

mod common;

use common::chromium::{Browser, Page, artifacts_dir};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// Write `body` as `dir/name` in a minimal HTML document.
fn html(dir: &Path, name: &str, body: &str) -> PathBuf {
    common::write(
        dir,
        name,
        &format!("<!doctype html><html><head><meta charset=utf-8></head><body>{body}</body></html>"),
    )
}

/// Wait (at most 10 s) until the page has tried every URL in `urls`.
fn wait_for_requests(page: &Page, urls: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = page.requests();
        if urls.iter().all(|url| seen.iter().any(|s| s == url)) || Instant::now() >= deadline {
            return seen;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn eval_sees_text_rendered_by_javascript() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = html(
        dir.path(),
        "render.html",
        "<main id=out></main>\
         <script>document.getElementById('out').textContent = ['backend', 'frontend'].join(' → ')</script>",
    );
    let page = browser.open(&file).unwrap();
    assert_eq!(page.eval("document.getElementById('out').textContent").unwrap(), "backend → frontend");
    assert_eq!(page.eval("Promise.resolve(6 * 7)").unwrap(), 42, "promises are awaited");
    assert_eq!(page.eval("undefined").unwrap(), serde_json::Value::Null);
    assert_eq!(page.requests(), Vec::<String>::new());
    assert_eq!(page.errors(), Vec::<String>::new());
    assert!(browser.version().unwrap().contains("Chrome"));
}

#[test]
fn requests_leaving_the_page_are_recorded_and_never_reach_the_network() {
    let Some(browser) = Browser::launch() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    html(dir.path(), "other.html", "another file");
    common::write(dir.path(), "beside.css", "body { color: rgb(1, 2, 3) }");
    let file = html(
        dir.path(),
        "leaky.html",
        &format!(
            r#"<link rel=stylesheet href="http://127.0.0.1:9/x.css"><link rel=stylesheet href="beside.css">
            <img src="https://example.com/a.png"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
            <iframe src="other.html"></iframe>
            <iframe src="data:text/html,<img src='http://example.com/iframe.png'>"></iframe>
            <iframe srcdoc="<img src='http://example.com/srcdoc.png'>"></iframe>
            <script>
              window.failed = [];
              fetch("http://example.com/x").catch(() => failed.push("example"));
              fetch("http://127.0.0.1:{port}/leak").catch(() => failed.push("local"));
              new Worker(URL.createObjectURL(new Blob(["fetch('http://example.com/worker')"])));
              new WebSocket("ws://127.0.0.1:{port}/socket");
            </script>"#
        ),
    );
    let page = browser.open(&file).unwrap();
    let beside = |name: &str| format!("file://{}", std::fs::canonicalize(dir.path().join(name)).unwrap().display());
    let (other, css) = (beside("other.html"), beside("beside.css"));
    let leak = format!("http://127.0.0.1:{port}/leak");
    let socket = format!("ws://127.0.0.1:{port}/socket");
    let expected = [
        "http://127.0.0.1:9/x.css",
        "https://example.com/a.png",
        &other,
        &css,
        "http://example.com/iframe.png",
        "http://example.com/srcdoc.png",
        "http://example.com/worker",
        "http://example.com/x",
        &leak,
        &socket,
    ];
    let seen = wait_for_requests(&page, &expected);
    for url in expected {
        assert!(seen.iter().any(|s| s == url), "{url} is not among the requests {seen:?}");
    }
    assert!(!seen.iter().any(|s| s.starts_with("data:")), "inline data: URLs are not requests: {seen:?}");
    page.wait_for("failed.length === 2", Duration::from_secs(10)).unwrap();
    let color = page.eval("getComputedStyle(document.body).color").unwrap();
    assert_eq!(color, "rgb(0, 0, 0)", "a file beside the page is not loaded either");
    thread::sleep(Duration::from_millis(300));
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((mut s, _)) => {
            use std::io::Read;
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut b = [0u8; 300];
            let n = s.read(&mut b).unwrap_or(0);
            panic!("the page reached 127.0.0.1:{port}: {}", String::from_utf8_lossy(&b[..n]))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn keyboard_moves_focus_and_activates_buttons() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = html(
        dir.path(),
        "keys.html",
        r#"<button id=first onclick="clicked.push('first')">First</button>
        <button id=second onclick="clicked.push('second')">Second</button>
        <script>
          window.clicked = []; window.keys = [];
          document.addEventListener('keydown', e => keys.push((e.shiftKey ? 'Shift+' : '') + e.key));
        </script>"#,
    );
    let page = browser.open(&file).unwrap();
    let focused = || page.eval("document.activeElement.id").unwrap();
    page.press("Tab").unwrap();
    assert_eq!(focused(), "first");
    page.press("Enter").unwrap();
    assert_eq!(page.eval("clicked").unwrap(), serde_json::json!(["first"]));
    page.press("Tab").unwrap();
    assert_eq!(focused(), "second");
    page.press("Shift+Tab").unwrap();
    assert_eq!(focused(), "first");
    for key in ["/", "g", "G", "?", "Escape", "ArrowDown", "ArrowUp"] {
        page.press(key).unwrap();
    }
    assert_eq!(
        page.eval("keys").unwrap(),
        serde_json::json!([
            "Tab",
            "Enter",
            "Tab",
            "Shift+Tab",
            "/",
            "g",
            "Shift+G",
            "Shift+?",
            "Escape",
            "ArrowDown",
            "ArrowUp"
        ])
    );
    assert!(page.press("NoSuchKey").is_err());
}

#[test]
fn click_and_typing_fill_a_field() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = html(
        dir.path(),
        "form.html",
        r#"<input id=filter><button id=go onclick="document.getElementById('filter').focus()">Filter</button>"#,
    );
    let page = browser.open(&file).unwrap();
    page.click("#go").unwrap();
    page.type_text("backend").unwrap();
    assert_eq!(page.eval("document.getElementById('filter').value").unwrap(), "backend");
    let missing = page.click("#missing").unwrap_err();
    assert!(missing.contains("nothing matches #missing"), "{missing}");
}

#[test]
fn color_scheme_and_print_media_are_emulated() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = html(dir.path(), "media.html", "<p>media</p>");
    let page = browser.open(&file).unwrap();
    let dark = || page.eval("matchMedia('(prefers-color-scheme: dark)').matches").unwrap();
    let print = || page.eval("matchMedia('print').matches").unwrap();
    page.set_color_scheme(true).unwrap();
    assert_eq!(dark(), true);
    page.set_media("print").unwrap();
    assert_eq!((dark(), print()), (true.into(), true.into()), "one emulation does not undo the other");
    page.set_color_scheme(false).unwrap();
    page.set_media("").unwrap();
    assert_eq!((dark(), print()), (false.into(), false.into()));
}

#[test]
fn screenshots_and_pdf_are_written() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = html(
        dir.path(),
        "tall.html",
        "<h1>mesh</h1><div style='height:3000px;background:linear-gradient(red,blue)'></div>",
    );
    let page = browser.open(&file).unwrap();
    let artifacts = artifacts_dir("browser_harness");
    let viewport = artifacts.join("viewport.png");
    let full = artifacts.join("full.png");
    page.screenshot(&viewport).unwrap();
    page.screenshot_full(&full).unwrap();
    assert_eq!(png_size(&viewport), (1400, 900));
    let (width, height) = png_size(&full);
    assert!(width == 1400 && height > 3000, "full page is {width}x{height}");
    assert!(page.pdf().unwrap().starts_with(b"%PDF-"));
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

#[test]
fn exceptions_and_console_errors_are_collected() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = html(dir.path(), "broken.html", "<script>console.error('bad', 42); throw new Error('boom');</script>");
    let page = browser.open(&file).unwrap();
    page.eval("setTimeout(() => { throw new TypeError('later') })").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while page.errors().len() < 3 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let errors = page.errors();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0], "console.error: bad 42");
    assert!(errors[1].contains("Error: boom"), "{errors:?}");
    assert!(errors[2].contains("TypeError: later"), "{errors:?}");
    let thrown = page.eval("null.x").unwrap_err();
    assert!(thrown.contains("TypeError"), "{thrown}");
}

#[test]
fn first_render_is_measured_and_waits_are_bounded() {
    let Some(browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = html(
        dir.path(),
        "slow.html",
        "<script>\
         setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<p id=ready>ready</p>'), 100)</script>",
    );
    let page = browser.open(&file).unwrap();
    // Measured again on the same file: the old document, which is ready already, must not count.
    let took = page.navigate_and_measure(&file, "document.getElementById('ready')").unwrap();
    assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(10), "took {took:?}");
    let started = Instant::now();
    let error = page.wait_for("false", Duration::from_millis(200)).unwrap_err();
    assert!(error.contains("was not true"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let missing = browser.open(&dir.path().join("missing.html")).err().unwrap();
    assert!(missing.contains("missing.html"), "{missing}");
}
