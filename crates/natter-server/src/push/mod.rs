//! The notifier: carries each committed message's notifications to FCM, APNs and Web Push
//! through the durable [`PushQueue`] (docs/push.md). Two tasks: [`fanout`] plans each queued
//! entry (in commit order) into one delivery per device, [`drain`] sends due deliveries and
//! acts on each provider's answer. Both loop at once while there is work; idle, they wait for a
//! wake-up (`wake.rs`: the bus announces commits) or at most [`IDLE_POLL`].
//! Messages are queued with their commit in every mode; scaled out they are planned as their
//! Kafka records arrive (`from_kafka.rs`) and from the queue only when a record is late, and
//! every process of the notifier role runs both tasks on the shared PostgreSQL pipeline, which
//! keeps them from planning or sending anything twice.

mod backoff;
mod drain;
mod fanout;
#[cfg(feature = "kafka")]
mod from_kafka;
mod wake;

#[cfg(feature = "kafka")]
pub use from_kafka::KafkaPlanner;

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
/// Scaled out, how long a queued message is left to its Kafka record before the queue's
/// planner takes it (its record was lost with a node that died right after the commit, or
/// Kafka is down): far longer than a record takes, so the two rarely both plan one.
pub const KAFKA_GRACE: Duration = Duration::from_secs(15);

/// Start the fan-out and the drain; abort the handles to stop them (a delivery in flight then
/// is sent again at the next start of the same `owner`, or by anyone once its lease ends).
/// `owner` names this process among the notifiers sharing the queue, the same after a restart;
/// `kafka_first`: a Kafka consumer plans messages (`KafkaPlanner`), the queue is the safety net.
pub fn spawn(
    queue: Arc<dyn PushQueue>,
    ports: Ports,
    sender: Arc<dyn PushSender>,
    config: NotifierConfig,
    owner: String,
    kafka_first: bool,
) -> Vec<JoinHandle<()>> {
    register_metrics();
    let config = Arc::new(config);
    let wake = Arc::new(wake::Wake::default());
    let bus = ports.bus.clone();
    let listener = wake.clone();
    vec![
        tokio::spawn(async move { listener.listen(bus.as_ref()).await }),
        tokio::spawn(fanout::run(
            queue.clone(),
            ports.clone(),
            config.clone(),
            kafka_first,
            wake.clone(),
        )),
        tokio::spawn(drain::run(queue, ports, sender, config, owner, wake)),
    ]
}

/// Every series of the notifier exists from its start, at 0: a dashboard sees "none yet"
/// rather than nothing, and the set of series does not change with traffic.
fn register_metrics() {
    metrics::counter!("natter_push_deliveries_planned_total").increment(0);
    metrics::counter!("natter_push_messages_too_old_total").increment(0);
    for outcome in drain::OUTCOMES {
        metrics::counter!("natter_push_sends_total", "outcome" => outcome).increment(0);
    }
}

/// Tests only: while `notifier.pause_file` exists, neither task does anything.
fn paused(config: &NotifierConfig) -> bool {
    !config.pause_file.is_empty() && Path::new(&config.pause_file).exists()
}
