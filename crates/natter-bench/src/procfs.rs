//! Readings from /proc: a process's CPU seconds, resident memory, open file descriptors and
//! threads, its children, and the kernel's socket memory. Parsing is split from reading so it can be tested on fixed text.

use std::fs;

/// Clock ticks per second for /proc/PID/stat (USER_HZ). 100 on every Linux x86_64 and arm64
/// kernel; not worth a libc dependency to ask sysconf.
const CLOCK_TICKS_PER_S: f64 = 100.0;

/// utime + stime of `stat` text, in seconds. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat_cpu_s(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / CLOCK_TICKS_PER_S)
}

/// `VmRSS` of `status` text, in KiB.
pub fn parse_status_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `Threads` of `status` text.
pub fn parse_status_threads(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The parent pid (field 4) of `stat` text.
pub fn parse_stat_ppid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// TCP socket counts and buffer memory from /proc/net/sockstat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SockStat {
    pub tcp_inuse: u64,
    pub tcp_alloc: u64,
    /// Pages of memory held by TCP socket buffers.
    pub tcp_mem_pages: u64,
}

pub fn parse_sockstat(text: &str) -> Option<SockStat> {
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let value = |key: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1)?.parse().ok()
    };
    Some(SockStat {
        tcp_inuse: value("inuse")?,
        tcp_alloc: value("alloc")?,
        tcp_mem_pages: value("mem")?,
    })
}

/// `Slab:` of /proc/meminfo in KiB: kernel objects, sockets among them (machine-wide).
pub fn parse_meminfo_slab_kib(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Slab:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn cpu_s(pid: u32) -> Option<f64> {
    parse_stat_cpu_s(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    parse_status_rss_kib(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

pub fn sockstat() -> SockStat {
    fs::read_to_string("/proc/net/sockstat")
        .ok()
        .and_then(|t| parse_sockstat(&t))
        .unwrap_or_default()
}

pub fn slab_kib() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo_slab_kib(&t))
        .unwrap_or(0)
}

/// Open file descriptors of `pid` (entries of /proc/PID/fd).
pub fn fd_count(pid: u32) -> Option<u64> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

pub fn threads(pid: u32) -> Option<u64> {
    parse_status_threads(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The processes whose parent is `pid` (NGINX's workers under its master).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| parse_stat_ppid(&stat))
                == Some(pid)
        })
        .collect()
}

/// A process's counters at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub cpu_s: f64,
    pub rss_kib: u64,
}

pub fn sample(pid: u32) -> ProcSample {
    ProcSample {
        cpu_s: cpu_s(pid).unwrap_or(0.0),
        rss_kib: rss_kib(pid).unwrap_or(0),
    }
}

/// Several processes' counters summed (a cluster's nodes).
pub fn sample_all(pids: &[u32]) -> ProcSample {
    pids.iter()
        .map(|pid| sample(*pid))
        .fold(ProcSample::default(), |a, b| ProcSample {
            cpu_s: a.cpu_s + b.cpu_s,
            rss_kib: a.rss_kib + b.rss_kib,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_counts_fields_after_the_last_parenthesis() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 2531 0 0 0 150 25 0 0 20 0 3 0 \
                    8321 123456789 4096 18446744073709551615";
        assert_eq!(parse_stat_cpu_s(stat), Some(1.75));
        assert_eq!(parse_stat_cpu_s("garbage"), None);
    }

    #[test]
    fn status_rss_is_in_kib() {
        let status = "Name:\tnatter\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_status_rss_kib(status), Some(12345));
        assert_eq!(parse_status_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn threads_and_parent() {
        let status = "Name:\tnatter\nVmRSS:\t   12345 kB\nThreads:\t17\n";
        assert_eq!(parse_status_threads(status), Some(17));
        let stat = "4242 (nginx: worker) S 4200 4242 4242 0 -1 4194560";
        assert_eq!(parse_stat_ppid(stat), Some(4200));
        assert!(fd_count(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn sockstat_and_slab() {
        let text = "sockets: used 291\nTCP: inuse 20005 orphan 0 tw 12 alloc 20010 mem 257\nUDP: inuse 1 mem 0\n";
        assert_eq!(
            parse_sockstat(text),
            Some(SockStat {
                tcp_inuse: 20005,
                tcp_alloc: 20010,
                tcp_mem_pages: 257
            })
        );
        assert_eq!(
            parse_meminfo_slab_kib("MemTotal: 1 kB\nSlab:     345678 kB\n"),
            Some(345678)
        );
    }

    #[test]
    fn this_process_can_be_read() {
        let s = sample(std::process::id());
        assert!(s.rss_kib > 0);
        let twice = sample_all(&[std::process::id(), std::process::id()]);
        assert!(twice.rss_kib > s.rss_kib, "summed, not one of them");
        assert_eq!(sample_all(&[]).rss_kib, 0);
    }
}
