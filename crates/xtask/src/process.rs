//! Processes of the servers: pid files read with a guard against stale pids, detached spawning
//! (own session, no inherited descriptors, so a server never holds a caller's pipe or our lock),
//! bounded stops, resident memory for `status`, and the plain TCP check of a port.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use anyhow::bail;

use crate::say;

/// The pid in a pid file's first line (digits only, as written by the servers).
pub fn parse_pid(text: &str) -> Option<u32> {
    let digits: String = text
        .lines()
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|pid| *pid > 0)
}

/// Whether a `/proc/PID/cmdline` (NUL-separated) contains `pattern` once joined with spaces.
pub fn cmdline_matches(cmdline: &[u8], pattern: &str) -> bool {
    let joined: String = String::from_utf8_lossy(cmdline).replace('\0', " ");
    joined.contains(pattern)
}

/// The pid in `file` if that process is alive and its command line contains `pattern`: a pid
/// file left behind by a crash may name a pid the kernel gave to another process since.
pub fn pid_from_file(file: &Path, pattern: &str) -> Option<u32> {
    let pid = parse_pid(&fs::read_to_string(file).ok()?)?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    cmdline_matches(&cmdline, pattern).then_some(pid)
}

/// Whether `pid` still exists (zombies included).
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: sends a signal; an error (no such process) is what callers check next.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Makes `command` run detached: a session of its own (no controlling terminal, no SIGHUP),
/// and every inherited descriptor above 2 closed at exec.
pub fn detach(command: &mut Command) -> &mut Command {
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe functions.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            // CLOEXEC rather than close: std's own exec-error pipe must stay open until exec.
            if libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            ) == -1
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// SIGTERM, then a bounded wait for `pid` to exit; SIGKILL if it outlives `timeout`.
pub fn stop_pid(name: &str, pid: u32, timeout: Duration) -> anyhow::Result<()> {
    if !alive(pid) {
        return Ok(());
    }
    signal(pid, libc::SIGTERM);
    let step = Duration::from_millis(250);
    for _ in 0..timeout.div_duration_f64(step).ceil() as u32 {
        if !running(pid) {
            say!("{name} stopped");
            return Ok(());
        }
        sleep(step);
    }
    say!(
        "{name} (pid {pid}) did not exit {}s after SIGTERM; sending SIGKILL",
        timeout.as_secs()
    );
    signal(pid, libc::SIGKILL);
    for _ in 0..40 {
        if !running(pid) {
            return Ok(());
        }
        sleep(step);
    }
    bail!("{name} (pid {pid}) survived SIGKILL")
}

/// Alive and not a zombie (a child of ours that exited but was not reaped yet).
fn running(pid: u32) -> bool {
    alive(pid) && stat_fields(pid).is_none_or(|f| f.first().is_none_or(|state| *state != "Z"))
}

/// The fields of `/proc/PID/stat` after the command name (state, ppid, ...).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The direct children of `pid` (PostgreSQL's workers).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            stat_fields(*child).and_then(|f| f.get(1)?.parse::<u32>().ok()) == Some(pid)
        })
        .collect()
}

/// `VmRSS` of `pid` in KiB (0 when gone).
fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The summed resident memory of `pids`, human readable.
pub fn rss_of(pids: &[u32]) -> String {
    format_rss(pids.iter().map(|pid| rss_kib(*pid)).sum())
}

pub fn format_rss(kib: u64) -> String {
    if kib >= 1024 * 1024 {
        format!("{:.2} GiB", kib as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} MiB", kib / 1024)
    }
}

/// Something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use super::*;

    #[test]
    fn a_pid_file_names_its_first_line() {
        assert_eq!(parse_pid("1234\n/var/lib/postgresql\n55432\n"), Some(1234));
        assert_eq!(parse_pid("  77 \n"), Some(77));
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("\n42\n"), None);
        assert_eq!(parse_pid("0\n"), None);
        assert_eq!(parse_pid("not a pid"), None);
    }

    #[test]
    fn a_command_line_matches_across_its_arguments() {
        let cmdline = b"java\0-cp\0/libs/*\0kafka.Kafka\0/conf/server.properties\0";
        assert!(cmdline_matches(cmdline, "kafka.Kafka"));
        assert!(cmdline_matches(cmdline, "-cp /libs"));
        assert!(!cmdline_matches(cmdline, "CassandraDaemon"));
    }

    #[test]
    fn a_live_pid_counts_only_when_its_command_line_matches() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.pid");
        fs::write(&file, format!("{}\n", std::process::id())).unwrap();
        let own = fs::read(format!("/proc/{}/cmdline", std::process::id())).unwrap();
        let own = String::from_utf8_lossy(&own);
        let program = own.split('\0').next().unwrap().rsplit('/').next().unwrap();
        assert_eq!(pid_from_file(&file, program), Some(std::process::id()));
        // A pid reused by an unrelated process is stale.
        assert_eq!(pid_from_file(&file, "redis-server"), None);
    }

    #[test]
    fn a_dead_pid_or_a_missing_file_is_no_pid() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.pid");
        assert_eq!(pid_from_file(&file, "sleep"), None);
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        fs::write(&file, format!("{pid}\n")).unwrap();
        assert_eq!(pid_from_file(&file, "true"), None);
    }

    #[test]
    fn rss_is_shown_in_mib_then_gib() {
        assert_eq!(format_rss(0), "0 MiB");
        assert_eq!(format_rss(7 * 1024 + 512), "7 MiB");
        assert_eq!(format_rss(1024 * 1024), "1.00 GiB");
        assert_eq!(format_rss(1_520_000), "1.45 GiB");
    }

    #[test]
    fn a_detached_child_has_its_own_session_and_none_of_our_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        // A descriptor above 2 without CLOEXEC, as a caller's pipe or lock would be.
        let file = fs::File::create(dir.path().join("held")).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: dup of a descriptor we own; the copy is closed below.
        let inherited = unsafe { libc::dup(fd) };
        assert!(inherited > 2);
        let script = format!(
            "[ -e /proc/$$/fd/{inherited} ] && echo held || echo closed; \
             cut -d' ' -f6 /proc/$$/stat; echo $$"
        );
        let output = detach(Command::new("sh").args(["-c", &script]))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        // SAFETY: closes the copy made above.
        unsafe { libc::close(inherited) };
        let text = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines[0], "closed", "{text}");
        assert_eq!(
            lines[1], lines[2],
            "the child leads its own session: {text}"
        );
    }

    #[test]
    fn stop_pid_ends_a_process() {
        let mut child = Command::new("sleep").arg("600").spawn().unwrap();
        let pid = child.id();
        let reaper = std::thread::spawn(move || child.wait());
        stop_pid("sleep", pid, Duration::from_secs(30)).unwrap();
        assert!(
            !reaper.join().unwrap().unwrap().success(),
            "ended by SIGTERM"
        );
    }
}
