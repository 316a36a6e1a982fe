//! HTTP requests at a fixed rate (history pages, searches), and how their latencies are reported.
//! Open loop: request `i` is due at `i / rate` and timed from then, so a slow answer delays no
//! later request and queueing shows in the figures (no coordinated omission).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{PhaseEnd, measured};
use crate::report::Results;
use crate::sched::{Ticks, intended_offset};
use crate::stats::{Sharded, Summary};

/// What a run of requests gave: every latency (µs, by request index) and the failures.
pub struct Requests {
    pub histogram: Sharded,
    pub errors: u64,
}

/// Sends `total` requests at `rate` per second: `make(i)` builds request `i`, `judge(i, response)`
/// reads its answer and says whether it succeeded, `timed(i, µs)` sees each latency as it comes
/// (for per-kind figures).
pub async fn at_rate<J, F>(
    rate: f64,
    total: u64,
    mut make: impl FnMut(u64) -> reqwest::RequestBuilder,
    judge: J,
    timed: impl Fn(u64, u64) + Send + Sync + 'static,
) -> Requests
where
    J: Fn(u64, reqwest::Response) -> F + Send + Sync + 'static,
    F: Future<Output = bool> + Send,
{
    let histogram = Arc::new(Sharded::default());
    let errors = Arc::new(AtomicU64::new(0));
    let (judge, timed) = (Arc::new(judge), Arc::new(timed));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let ticks = Ticks::start(start, rate, total);
    for i in 0..total {
        let intended = start + intended_offset(i, rate);
        ticks.release(i).await;
        let request = make(i);
        let (histogram, errors) = (histogram.clone(), errors.clone());
        let (judge, timed) = (judge.clone(), timed.clone());
        tasks.spawn(async move {
            let ok = match request.send().await {
                Ok(response) if response.status().is_success() => judge(i, response).await,
                _ => false,
            };
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            let took = intended.elapsed().as_micros() as u64;
            histogram.record(i as usize, took);
            timed(i, took);
        });
    }
    while tasks.join_next().await.is_some() {}
    Requests {
        histogram: Arc::into_inner(histogram).expect("every request task has ended"),
        errors: errors.load(Ordering::Acquire),
    }
}

/// A response that succeeded once its whole body arrived.
pub async fn body_read(_: u64, response: reqwest::Response) -> bool {
    response.bytes().await.is_ok()
}

/// p50, p99 and p99.9 of `what` (e.g. "page") and how many were answered per server CPU-second.
#[allow(clippy::too_many_arguments)]
pub fn report(
    results: &mut Results,
    scenario: &str,
    case: &str,
    what: &str,
    per_cpu_second: &str,
    target: &str,
    summary: &Summary,
    phase: &PhaseEnd,
) {
    for (metric, v) in [
        (format!("{what}, p50"), summary.p50_ms),
        (format!("{what}, p99"), summary.p99_ms),
        (format!("{what}, p99.9"), summary.p999_ms),
    ] {
        results.add(
            scenario,
            case,
            &metric,
            "ms",
            false,
            target,
            measured(v, phase),
        );
    }
    results.add(
        scenario,
        case,
        per_cpu_second,
        "1/s",
        true,
        target,
        measured(summary.count as f64 / phase.cpu_s.max(0.01), phase),
    );
}
