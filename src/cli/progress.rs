//! A one-line progress bar on stderr for long compiles: proxies done/total, rate
//! and ETA, redrawn at most ten times a second and erased at the end.
//!
//! Shown only to a person watching: stderr must be a terminal, `CI` unset (CI
//! logs keep every redraw as a line), and no `--quiet` or JSON messages. Nothing
//! is drawn during the first [`DEFAULT_DELAY`], so quick runs never flicker.
//! Hand-rolled (a thread polling [`crate::compile::PROGRESS`]) rather than
//! `indicatif`: one line, one counter, no dependency.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::compile::PROGRESS;

/// Before this, nothing is drawn (cargo waits about as long).
const DEFAULT_DELAY: Duration = Duration::from_millis(500);
/// Overrides [`DEFAULT_DELAY`] in milliseconds (the terminal tests use 0).
const DELAY_ENV: &str = "MESHC_PROGRESS_DELAY_MS";
/// At most ten redraws a second.
const TICK: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 24;
/// Erase the line the bar is on.
const CLEAR: &str = "\r\x1b[2K";

/// Is a progress bar wanted? Only on a terminal, never in CI, never when the
/// user asked for quiet or machine-readable output.
pub fn wanted(quiet: bool, machine_output: bool) -> bool {
    !quiet && !machine_output && !in_ci() && std::io::stderr().is_terminal()
}

/// `CI` as CI services set it (`true`, `1`, a name); empty, `0` or `false` is not CI.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// A running progress display; [`Bar::finish`] (or dropping it) erases it.
pub struct Bar {
    stop: Arc<(Mutex<bool>, Condvar)>,
    drawn: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// Start drawing `verb` (`compiling`) progress when `enabled`; otherwise a no-op.
    pub fn start(verb: &'static str, enabled: bool) -> Bar {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let drawn = Arc::new(AtomicBool::new(false));
        if !enabled {
            return Bar { stop, drawn, thread: None };
        }
        PROGRESS.total.store(0, Relaxed);
        PROGRESS.done.store(0, Relaxed);
        let delay =
            std::env::var(DELAY_ENV).ok().and_then(|v| v.parse().ok()).map_or(DEFAULT_DELAY, Duration::from_millis);
        if delay.is_zero() {
            // Drawn before the work starts: however quick the run, the bar shows.
            draw(&line(verb, 0, 0, Duration::ZERO, None), &drawn);
        }
        let (s, d) = (stop.clone(), drawn.clone());
        let thread = std::thread::Builder::new()
            .name("meshc-progress".into())
            .spawn(move || draw_loop(verb, delay, &s, &d))
            .ok();
        Bar { stop, drawn, thread }
    }

    /// Stop drawing and erase the bar, so the next line starts clean.
    pub fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        let (lock, wake) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
            wake.notify_all();
        }
        let _ = thread.join();
        if self.drawn.load(Relaxed) {
            let stderr = std::io::stderr();
            let mut err = stderr.lock();
            let _ = write!(err, "{CLEAR}");
            let _ = err.flush();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Redraw every [`TICK`] after `delay` until told to stop.
fn draw_loop(verb: &str, delay: Duration, stop: &(Mutex<bool>, Condvar), drawn: &AtomicBool) {
    let started = Instant::now();
    let mut proxies_since: Option<(Instant, usize)> = None;
    let (lock, wake) = stop;
    let Ok(mut stopped) = lock.lock() else { return };
    let mut wait = delay;
    // Bar::start drew this already when there is no delay.
    let mut last = if delay.is_zero() { line(verb, 0, 0, Duration::ZERO, None) } else { String::new() };
    loop {
        let Ok((guard, _)) = wake.wait_timeout_while(stopped, wait, |s| !*s) else { return };
        stopped = guard;
        if *stopped {
            return;
        }
        wait = TICK;
        let (total, done) = (PROGRESS.total.load(Relaxed), PROGRESS.done.load(Relaxed));
        if total > 0 && proxies_since.is_none() {
            proxies_since = Some((Instant::now(), done));
        }
        let line = line(verb, total, done, started.elapsed(), proxies_since.map(|(t, d)| (t.elapsed(), d)));
        if line == last {
            continue; // nothing new: no redraw
        }
        if !draw(&line, drawn) {
            return;
        }
        last = line;
    }
}

/// Replace the bar's line with `line`; false when stderr is gone.
fn draw(line: &str, drawn: &AtomicBool) -> bool {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let ok = write!(err, "{CLEAR}{line}").and_then(|_| err.flush()).is_ok();
    drawn.store(true, Relaxed);
    ok
}

/// The bar's text: `compiling [=====>      ] 1200/5000 proxies  840/s  ETA 5s`,
/// or `compiling: reading and validating (3s)` before the proxies are known.
/// `since` is how long proxies have been built and how many were done then.
fn line(verb: &str, total: usize, done: usize, elapsed: Duration, since: Option<(Duration, usize)>) -> String {
    if total == 0 {
        return format!("{verb}: reading and validating ({}s)", elapsed.as_secs());
    }
    let done = done.min(total);
    let filled = done * BAR_WIDTH / total;
    let bar: String = (0..BAR_WIDTH)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        })
        .collect();
    let mut text = format!("{verb} [{bar}] {done}/{total} proxies");
    if let Some((spent, at_start)) = since {
        let rate = done.saturating_sub(at_start) as f64 / spent.as_secs_f64().max(1e-3);
        if rate >= 1.0 {
            let eta = (total - done) as f64 / rate;
            text.push_str(&format!("  {rate:.0}/s  ETA {}", eta_text(eta)));
        }
    }
    text
}

fn eta_text(secs: f64) -> String {
    let s = secs.ceil() as u64;
    if s >= 60 { format!("{}m{:02}s", s / 60, s % 60) } else { format!("{s}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_before_and_during_proxies() {
        assert_eq!(line("compiling", 0, 0, Duration::from_secs(3), None), "compiling: reading and validating (3s)");
        let l = line("compiling", 100, 50, Duration::from_secs(5), Some((Duration::from_secs(5), 0)));
        assert_eq!(l, "compiling [============>           ] 50/100 proxies  10/s  ETA 5s");
        let l = line("diff", 10, 10, Duration::from_secs(1), None);
        assert!(l.starts_with("diff [========================] 10/10"), "{l}");
    }

    #[test]
    fn eta_over_a_minute() {
        assert_eq!(eta_text(125.2), "2m06s");
    }
}
