//! Bounded waits for a server to become ready, and the log tail shown when it does not.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::say;

const POLL: Duration = Duration::from_millis(500);

/// The size of a log now: a start reports only the lines written after it.
pub fn log_size(file: &Path) -> u64 {
    fs::metadata(file).map_or(0, |m| m.len())
}

/// The last 40 lines of `file` from byte `offset` on, indented, for an error report.
pub fn log_tail(file: &Path, offset: u64) -> String {
    let mut text = Vec::new();
    let read = fs::File::open(file).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))?;
        f.read_to_end(&mut text)
    });
    if read.is_err() {
        return format!("  (no log at {})\n", file.display());
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = format!("---- last lines of {} ----\n", file.display());
    for line in &lines[lines.len().saturating_sub(40)..] {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("----\n");
    out
}

/// An error whose report is preceded by the tail of `log` (printed on stderr now).
pub fn failed_with_log(log: &Path, offset: u64, message: String) -> anyhow::Error {
    eprint!("{}", log_tail(log, offset));
    anyhow!(message)
}

/// Polls `probe` twice a second until it succeeds, bounded by `timeout` in time and polls; fails
/// early when the process is gone (`pid` gives `None`), with the log's tail in both failures.
pub fn wait_ready(
    name: &str,
    timeout: Duration,
    pid: impl Fn() -> Option<u32>,
    probe: impl Fn() -> bool,
    log: &Path,
    offset: u64,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let polls = timeout.div_duration_f64(POLL).ceil() as u32;
    for _ in 0..polls {
        if probe() {
            say!("{name} ready in {}s", start.elapsed().as_secs());
            return Ok(());
        }
        if pid().is_none() {
            // Give a just-forked process one more look before calling it dead.
            sleep(POLL);
            if pid().is_none() {
                return Err(failed_with_log(
                    log,
                    offset,
                    format!("{name} exited during start-up (log: {})", log.display()),
                ));
            }
        }
        if start.elapsed() >= timeout {
            break;
        }
        sleep(POLL);
    }
    Err(failed_with_log(
        log,
        offset,
        format!(
            "{name} not ready after {}s (still running; log: {})",
            timeout.as_secs(),
            log.display()
        ),
    ))
}

/// The line every start appends to a Java server's log before launching it.
pub fn start_marker(name: &str) -> String {
    format!(
        "=== {} scripts/services start {name} ===\n",
        httpdate::fmt_http_date(std::time::SystemTime::now())
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_log_tail_starts_at_the_offset_and_keeps_40_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        fs::write(&log, "old run\n").unwrap();
        let offset = log_size(&log);
        let lines: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        fs::write(&log, format!("old run\n{lines}")).unwrap();
        let tail = log_tail(&log, offset);
        assert!(!tail.contains("old run"));
        assert!(!tail.contains("  line 10\n"));
        assert!(tail.contains("  line 11\n") && tail.contains("  line 50\n"));
        assert!(tail.starts_with("---- last lines of ") && tail.ends_with("----\n"));
        assert!(log_tail(&dir.path().join("none"), 0).contains("(no log at"));
    }

    #[test]
    fn wait_ready_returns_once_the_probe_succeeds() {
        let polls = Cell::new(0);
        let probe = || {
            polls.set(polls.get() + 1);
            polls.get() == 3
        };
        wait_ready(
            "x",
            Duration::from_secs(60),
            || Some(1),
            probe,
            Path::new("/none"),
            0,
        )
        .unwrap();
        assert_eq!(polls.get(), 3);
    }

    #[test]
    fn wait_ready_fails_early_when_the_process_is_gone() {
        let err = wait_ready(
            "x",
            Duration::from_secs(600),
            || None,
            || false,
            Path::new("/none"),
            0,
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("x exited during start-up"),
            "{err}"
        );
    }

    #[test]
    fn wait_ready_is_bounded_by_its_timeout() {
        let err = wait_ready(
            "x",
            Duration::from_secs(1),
            || Some(1),
            || false,
            Path::new("/none"),
            0,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("x not ready after 1s"), "{err}");
    }
}
