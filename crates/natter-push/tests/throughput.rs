//! How many pushes one Pusher gets accepted per second by the lab, per provider, 64 in flight.
//! A measurement, not a check (nothing is asserted about time): run it with
//! `cargo test -p natter-push --test throughput -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use common::{alert, apns, fcm, setup};
use futures_util::StreamExt;
use natter_push::{Device, Outcome, PushSender};

const PUSHES: usize = 2000;
const IN_FLIGHT: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand"]
async fn pushes_per_second() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    let devices = [
        ("fcm", fcm("tok-1")),
        ("apns", apns("ab12", false)),
        (
            "webpush",
            Device::WebPush {
                endpoint: subscription.endpoint.clone(),
                p256dh: subscription.p256dh.clone(),
                auth: subscription.auth.clone(),
            },
        ),
    ];
    let notification =
        alert("A message of a typical length, about a hundred characters, with an émoji 🎉.");
    for (name, device) in &devices {
        let before = s.lab.pushes().len();
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let sends = (0..PUSHES).map(|_| s.pusher.send(device, &notification));
        let mut stream = futures_util::stream::iter(sends).buffer_unordered(IN_FLIGHT);
        let mut accepted = 0;
        while let Some(outcome) = stream.next().await {
            assert_eq!(outcome, Outcome::Accepted);
            accepted += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_started;
        assert_eq!(s.lab.pushes().len() - before, PUSHES);
        println!(
            "{name}: {accepted} pushes in {elapsed:.2} s = {:.0}/s; process CPU {cpu:.2} s (sender and lab together) = {:.0} pushes per CPU-second",
            accepted as f64 / elapsed,
            accepted as f64 / cpu,
        );
    }
}

/// This process's user + system CPU time (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |at: usize| {
        fields
            .get(at)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
