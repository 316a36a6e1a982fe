//! The notifier: carries each committed message's notifications to FCM, APNs and Web Push
//! through the durable [`PushQueue`] (docs/push.md). Two tasks: [`fanout`] plans each queued
//! entry (in commit order) into one delivery per device, [`drain`] sends due deliveries and
//! acts on each provider's answer. Both loop at once while there is work; idle, they wait for a
//! wake-up (`wake.rs`: the bus announces commits) or at most [`IDLE_POLL`].
//! Messages are queued with their commit in every mode; scaled out they are planned as their
//! Kafka records arrive (`from_kafka.rs`) and from the queue only when a record is late, and
//! every process of the notifier role runs both tasks on the shared PostgreSQL pipeline, which
//! keeps them from planning or sending anything twice.
//!
//! They run on a thread of their own ([`Notifier`]), not among the connections' tasks: when the
//! sends saturate the server, a task woken there waits behind thousands of others, and the
//! planner, which waits for a read and a write at every look, planned ~2,300-4,400 messages a
//! second of 20,000 offered (a look's write commits with the writer's next batch or two, yet
//! the planner saw its answer 45-135 ms later), so its backlog grew as long as the load lasted.
//! On its own thread it gets the operating system's share of the cores instead.

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
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::config::NotifierConfig;

/// How long an idle task waits before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Scaled out, how long a queued message is left to its Kafka record before the queue's
/// planner takes it (its record was lost with a node that died right after the commit, or
/// Kafka is down): far longer than a record takes, so the two rarely both plan one.
pub const KAFKA_GRACE: Duration = Duration::from_secs(15);

/// The running notifier: its tasks and the thread they run on. [`Notifier::stop`] stops the
/// tasks; dropping it stops them too (without waiting) and ends the thread. Drop it only once
/// nothing else uses the stores: a pooled connection (PostgreSQL, scaled out) first opened by
/// one of its tasks is driven by its runtime, and fails everywhere once that runtime is gone.
pub struct Notifier {
    tasks: Vec<JoinHandle<()>>,
    runtime: Option<Runtime>,
}

/// Start the fan-out and the drain on a thread of their own. A delivery in flight when they
/// stop is sent again at the next start of the same `owner`, or by anyone once its lease ends.
/// `owner` names this process among the notifiers sharing the queue, the same after a restart;
/// `kafka_first`: a Kafka consumer plans messages (`KafkaPlanner`), the queue is the safety net.
pub fn spawn(
    queue: Arc<dyn PushQueue>,
    ports: Ports,
    sender: Arc<dyn PushSender>,
    config: NotifierConfig,
    owner: String,
    kafka_first: bool,
) -> std::io::Result<Notifier> {
    register_metrics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("natter-notifier")
        .enable_all()
        .build()?;
    let config = Arc::new(config);
    let wake = Arc::new(wake::Wake::default());
    let bus = ports.bus.clone();
    let listener = wake.clone();
    let tasks = vec![
        runtime.spawn(async move { listener.listen(bus.as_ref(), kafka_first).await }),
        runtime.spawn(fanout::run(
            queue.clone(),
            ports.clone(),
            config.clone(),
            kafka_first,
            wake.clone(),
        )),
        runtime.spawn(drain::run(queue, ports, sender, config, owner, wake)),
    ];
    Ok(Notifier {
        tasks,
        runtime: Some(runtime),
    })
}

impl Notifier {
    /// Stop the tasks and wait until none runs any more. Their thread stays until the notifier
    /// is dropped, for the connections it drives.
    pub async fn stop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(runtime) = self.runtime.take() {
            // Unlike dropping it, allowed inside another runtime's task.
            runtime.shutdown_background();
        }
    }
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

#[cfg(test)]
mod tests {
    use natter_domain::Chat;
    use natter_domain::UserId;
    use natter_domain::model::NewUser;
    use natter_domain::service::{NewGroup, OutgoingMessage};
    use natter_domain::values::{ClientMsgId, DisplayName, GroupName, MessageText, Username};

    use super::*;
    use crate::ServerConfig;

    fn runtime() -> Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    async fn user(chat: &Chat, name: &str) -> UserId {
        let new = NewUser {
            id: UserId::new(),
            username: Username::parse(name).expect("name"),
            display_name: DisplayName::parse(name).expect("display name"),
            password_hash: "not used".into(),
            created_at_ms: 1,
        };
        chat.ports()
            .accounts
            .create_user(new)
            .await
            .expect("user")
            .id
    }

    /// The runtime that started the notifier (in the server, the connections') is never
    /// driven again, as when it is saturated: the notifier plans the queued message anyway.
    #[test]
    fn the_notifier_works_while_the_runtime_that_started_it_is_stuck() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ServerConfig::default();
        config.server.data_dir = dir.path().to_owned();
        let starter = runtime();
        let (queue, mut notifier) = starter.block_on(async {
            let backends = crate::backends::open(&config).await.expect("backends");
            let queue = backends.push_queue.clone().expect("an embedded push queue");
            let chat = Chat::new(backends.ports.clone(), 1);
            let (alice, bob) = (user(&chat, "alice").await, user(&chat, "bob").await);
            let group = NewGroup {
                name: GroupName::parse("g").expect("name"),
                topic: None,
                member_ids: vec![bob],
            };
            let id = chat
                .create_group(alice, group)
                .await
                .expect("group")
                .conversation
                .id;
            let message = OutgoingMessage {
                client_msg_id: ClientMsgId::parse("1").expect("id"),
                text: MessageText::parse("hello").expect("text"),
                reply_to_seq: None,
                mentions: Vec::new(),
                attachments: Vec::new(),
            };
            chat.send_message(alice, id, message).await.expect("send");
            assert_eq!(queue.queued(10, i64::MAX).await.expect("queue").len(), 1);
            let sender = Arc::new(
                natter_push::Pusher::from_config(&config.push).expect("push configuration"),
            );
            let notifier = spawn(
                queue.clone(),
                backends.ports,
                sender,
                NotifierConfig::default(),
                "test".into(),
                false,
            )
            .expect("notifier");
            (queue, notifier)
        });
        // From here on `starter` is not driven; another runtime only watches the queue.
        runtime().block_on(async {
            let planned = async {
                while !queue.queued(10, i64::MAX).await.expect("queue").is_empty() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(30), planned)
                .await
                .expect("the message planned without the starting runtime");
            notifier.stop().await;
        });
    }
}
