//! The soak's watch on the server processes: periodic readings of resident memory, open file
//! descriptors, threads and CPU, and the verdict on whether memory and descriptors stayed flat.
//!
//! "Flat" compares the mean of the first window (5 minutes, or a sixth of a shorter run) with
//! the mean of the last one: growth must stay within 10 % or 8 MiB of RSS (whichever is larger)
//! and within 10 % or 10 descriptors. The allowances absorb what is not a leak: allocator arenas
//! and caches still warming up in the first window, and the number of live sockets, which moves
//! with the churn. A descriptor leak does not fit in them: a soak makes thousands of reconnects,
//! so one descriptor kept per reconnect overshoots the bound a hundredfold. The memory bound is
//! coarser (10 % of a node's RSS); the least-squares slopes reported beside the verdict, over the
//! whole run and without the first window, are the finer evidence.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::procfs;

const RSS_BOUND_FRACTION: f64 = 0.10;
const RSS_BOUND_MIN_MIB: f64 = 8.0;
const FD_BOUND_FRACTION: f64 = 0.10;
const FD_BOUND_MIN: f64 = 10.0;
/// The first and last windows compared: 5 minutes, or a sixth of a shorter run.
const WINDOW_MAX_S: f64 = 300.0;

/// A process to watch, by a display name; NGINX counts with its workers.
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
    pub with_children: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    pub name: String,
    pub pid: u32,
    /// False once the process is gone (its readings are then zero).
    pub alive: bool,
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
    /// CPU seconds since the process started (user + system), summed with its children.
    pub cpu_s: f64,
    /// CPU use since the previous reading, in % of one core.
    pub cpu_pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub t_s: f64,
    /// Taken while the traffic ran (the trends use only these), not while it drained.
    pub traffic: bool,
    /// The machine's 1-minute load average (the machine is shared: builds show up here).
    pub load1: f64,
    pub procs: Vec<Reading>,
    /// The client's running totals.
    pub client: BTreeMap<&'static str, u64>,
}

/// Reads `w` now; `previous` (same process, earlier) gives the CPU rate.
pub fn read(w: &Watched, previous: Option<(&Reading, f64)>, t_s: f64) -> Reading {
    let mut pids = vec![w.pid];
    if w.with_children {
        pids.extend(procfs::children(w.pid));
    }
    let alive = procfs::rss_kib(w.pid).is_some();
    let mut r = Reading {
        name: w.name.clone(),
        pid: w.pid,
        alive,
        rss_kib: 0,
        fds: 0,
        threads: 0,
        cpu_s: 0.0,
        cpu_pct: 0.0,
    };
    for pid in pids {
        r.rss_kib += procfs::rss_kib(pid).unwrap_or(0);
        r.fds += procfs::fd_count(pid).unwrap_or(0);
        r.threads += procfs::threads(pid).unwrap_or(0);
        r.cpu_s += procfs::cpu_s(pid).unwrap_or(0.0);
    }
    // Over less than half a second (the last sample follows the end of the traffic at once) the
    // clock ticks of /proc make the rate meaningless.
    if let Some((before, before_t)) = previous
        && t_s - before_t >= 0.5
    {
        r.cpu_pct =
            ((r.cpu_s - before.cpu_s).max(0.0) / (t_s - before_t) * 100.0 * 10.0).round() / 10.0;
    }
    r
}

/// The 1-minute load average from /proc/loadavg.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Least-squares slope of `points` (seconds, value), per hour.
pub fn slope_per_hour(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_v = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_v)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    if var == 0.0 { 0.0 } else { cov / var * 3600.0 }
}

/// One process over the run.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub name: String,
    pub window_s: f64,
    pub rss_mib_start: f64,
    pub rss_mib_middle: f64,
    pub rss_mib_end: f64,
    pub rss_mib_first_window: f64,
    pub rss_mib_last_window: f64,
    pub rss_mib_per_hour: f64,
    /// The slope without the first window (start-up and set-up effects, such as the memory
    /// of the registrations' password hashing, fade in it).
    pub rss_mib_per_hour_after_first_window: f64,
    pub fds_start: u64,
    pub fds_middle: u64,
    pub fds_end: u64,
    pub fds_first_window: f64,
    pub fds_last_window: f64,
    pub fds_per_hour: f64,
    pub fds_per_hour_after_first_window: f64,
    pub threads_start: u64,
    pub threads_end: u64,
    pub cpu_pct_mean: f64,
    pub flat: bool,
}

fn within(first: f64, last: f64, fraction: f64, min: f64) -> bool {
    last - first <= (first * fraction).max(min)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// The trend of process `name` over `samples` (in time order), None if it was never read.
pub fn trend(samples: &[Sample], name: &str) -> Option<Trend> {
    let points: Vec<(f64, &Reading)> = samples
        .iter()
        .filter_map(|s| Some((s.t_s, s.procs.iter().find(|r| r.name == name && r.alive)?)))
        .collect();
    let (first, last) = (points.first()?, points.last()?);
    let middle = points[points.len() / 2];
    let span = last.0 - first.0;
    let window_s = WINDOW_MAX_S.min(span / 6.0);
    let in_first = || points.iter().filter(|p| p.0 <= first.0 + window_s);
    let in_last = || points.iter().filter(|p| p.0 >= last.0 - window_s);
    let mib = |r: &Reading| r.rss_kib as f64 / 1024.0;
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let rss_first = mean(in_first().map(|p| mib(p.1)));
    let rss_last = mean(in_last().map(|p| mib(p.1)));
    let fds_first = mean(in_first().map(|p| p.1.fds as f64));
    let fds_last = mean(in_last().map(|p| p.1.fds as f64));
    let rss_points: Vec<(f64, f64)> = points.iter().map(|p| (p.0, mib(p.1))).collect();
    let fd_points: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1.fds as f64)).collect();
    let later = |all: &[(f64, f64)]| -> Vec<(f64, f64)> {
        all.iter()
            .copied()
            .filter(|p| p.0 > first.0 + window_s)
            .collect()
    };
    Some(Trend {
        name: name.to_string(),
        window_s: round(window_s),
        rss_mib_start: round(mib(first.1)),
        rss_mib_middle: round(mib(middle.1)),
        rss_mib_end: round(mib(last.1)),
        rss_mib_first_window: round(rss_first),
        rss_mib_last_window: round(rss_last),
        rss_mib_per_hour: round(slope_per_hour(&rss_points)),
        rss_mib_per_hour_after_first_window: round(slope_per_hour(&later(&rss_points))),
        fds_start: first.1.fds,
        fds_middle: middle.1.fds,
        fds_end: last.1.fds,
        fds_first_window: round(fds_first),
        fds_last_window: round(fds_last),
        fds_per_hour: round(slope_per_hour(&fd_points)),
        fds_per_hour_after_first_window: round(slope_per_hour(&later(&fd_points))),
        threads_start: first.1.threads,
        threads_end: last.1.threads,
        cpu_pct_mean: round(mean(points.iter().skip(1).map(|p| p.1.cpu_pct))),
        flat: within(rss_first, rss_last, RSS_BOUND_FRACTION, RSS_BOUND_MIN_MIB)
            && within(fds_first, fds_last, FD_BOUND_FRACTION, FD_BOUND_MIN),
    })
}

/// One line per sample: every process, then the client's totals.
pub fn line(s: &Sample) -> String {
    let mut out = format!("[{:>6.0} s] load {:.1} |", s.t_s, s.load1);
    for r in &s.procs {
        if r.alive {
            out.push_str(&format!(
                " {} {:.1} MiB {} fd {} thr {:.0}% |",
                r.name,
                r.rss_kib as f64 / 1024.0,
                r.fds,
                r.threads,
                r.cpu_pct
            ));
        } else {
            out.push_str(&format!(" {} gone |", r.name));
        }
    }
    let c = |k: &str| s.client.get(k).copied().unwrap_or(0);
    out.push_str(&format!(
        " acked {} delivered {} updated {} online {} reconnects {} guests {} errors {} dup {}",
        c("acked_ws") + c("acked_rest"),
        c("delivered"),
        c("updated"),
        c("online"),
        c("reconnects"),
        c("guest_sessions"),
        c("errors"),
        c("duplicates")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, rss_mib: u64, fds: u64) -> Sample {
        Sample {
            t_s,
            traffic: true,
            load1: 1.0,
            procs: vec![Reading {
                name: "node-1".into(),
                pid: 1,
                alive: true,
                rss_kib: rss_mib * 1024,
                fds,
                threads: 4,
                cpu_s: 0.0,
                cpu_pct: 0.0,
            }],
            client: BTreeMap::new(),
        }
    }

    #[test]
    fn slope_is_per_hour() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64 * 60.0, i as f64)).collect();
        assert!((slope_per_hour(&points) - 60.0).abs() < 1e-9);
        assert_eq!(slope_per_hour(&[(0.0, 5.0)]), 0.0);
    }

    #[test]
    fn flat_within_the_bound_growing_beyond_it() {
        // 30 minutes every 30 s; noise of +-2 MiB and +-5 fds around 100 MiB and 150 fds.
        let flat: Vec<Sample> = (0..=60)
            .map(|i| sample(i as f64 * 30.0, 100 + (i % 3) * 2, 150 + (i % 2) * 5))
            .collect();
        let t = trend(&flat, "node-1").unwrap();
        assert!(t.flat, "{t:?}");
        assert_eq!(t.window_s, 300.0);
        // One descriptor kept per 10 s: +180 over the run.
        let leaking: Vec<Sample> = (0..=60)
            .map(|i| sample(i as f64 * 30.0, 100, 150 + i * 3))
            .collect();
        let t = trend(&leaking, "node-1").unwrap();
        assert!(!t.flat, "{t:?}");
        assert!((t.fds_per_hour - 360.0).abs() < 1.0, "{t:?}");
        assert!(
            (t.fds_per_hour_after_first_window - 360.0).abs() < 1.0,
            "{t:?}"
        );
        // 1 MiB a minute.
        let growing: Vec<Sample> = (0..=60)
            .map(|i| sample(i as f64 * 30.0, 100 + i / 2, 150))
            .collect();
        assert!(!trend(&growing, "node-1").unwrap().flat);
        assert!(trend(&growing, "node-2").is_none());
    }
}
