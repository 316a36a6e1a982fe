//! The collector: uploads never completed are deleted, bytes and row, once they are older than
//! `files.incomplete_max_age_s` (24 h by default), looked for every `files.collect_interval_s`.
//! Each pass removes a bounded batch, so a backlog drains over a few passes without holding the
//! store for long.

use std::time::Duration;

use super::FileService;

/// Runs until aborted at shutdown.
pub async fn collect_forever(files: FileService) {
    let mut every = tokio::time::interval(Duration::from_secs(
        files.config().collect_interval_s.max(1),
    ));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match files.collect().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "abandoned uploads collected"),
            Err(err) => tracing::warn!(%err, "collecting abandoned uploads failed; will retry"),
        }
    }
}
