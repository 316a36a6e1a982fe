//! The embedded notifier: carries each committed message's notifications to FCM, APNs and Web
//! Push through the durable [`PushQueue`] (docs/push.md). Two tasks: [`fanout`] plans each queued
//! message (in commit order) into one delivery per device, [`drain`] sends due deliveries and
//! acts on each provider's answer. Both poll the queue and loop at once while there is work.

mod backoff;
mod drain;
mod fanout;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use natter_domain::Ports;
use natter_domain::notify::PushQueue;
use natter_push::PushSender;
use tokio::task::JoinHandle;

use crate::config::NotifierConfig;

/// How long an idle task waits before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Start the fan-out and the drain; abort the handles to stop them (a delivery in flight then
/// is sent again at the next start).
pub fn spawn(
    queue: Arc<dyn PushQueue>,
    ports: Ports,
    sender: Arc<dyn PushSender>,
    config: NotifierConfig,
) -> Vec<JoinHandle<()>> {
    let config = Arc::new(config);
    vec![
        tokio::spawn(fanout::run(queue.clone(), ports.clone(), config.clone())),
        tokio::spawn(drain::run(queue, ports, sender, config)),
    ]
}

/// Tests only: while `notifier.pause_file` exists, neither task does anything.
fn paused(config: &NotifierConfig) -> bool {
    !config.pause_file.is_empty() && Path::new(&config.pause_file).exists()
}
