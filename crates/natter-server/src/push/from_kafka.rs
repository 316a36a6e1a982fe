//! Scaled out, messages reach the notifiers through Kafka first: this is the handler of the
//! notifier consumer group, which spreads the conversations over the notifier processes by
//! partition. Each `created` record is planned like a queue entry
//! ([`super::fanout::deliveries_for`]) and written with [`PushQueue::fan_out_message`], which
//! removes the message's queue entry in the same transaction, so a record Kafka delivers again
//! (a crash before the offset commit, a rebalance) adds nothing, whichever notifier gets it.
//! The conversation's earlier messages still queued are planned first, so a device gets them
//! in seq order even when two nodes' records reach the broker out of order. A
//! record Kafka never got (its node died within the producer's linger) is planned from the
//! queue after [`super::KAFKA_GRACE`]. `updated` records notify nobody.

use std::sync::Arc;

use async_trait::async_trait;
use natter_domain::Ports;
use natter_domain::events::Event;
use natter_domain::notify::PushQueue;
use natter_kafka::{HandlerError, MessageRecord, RecordHandler, RecordKind};

use crate::config::NotifierConfig;

/// At most this many earlier messages planned before a record (a conversation's backlog beyond
/// it is the queue planner's).
const EARLIER_MAX: u32 = 256;

pub struct KafkaPlanner {
    queue: Arc<dyn PushQueue>,
    ports: Ports,
    config: Arc<NotifierConfig>,
}

impl KafkaPlanner {
    pub fn new(queue: Arc<dyn PushQueue>, ports: Ports, config: NotifierConfig) -> Self {
        Self {
            queue,
            ports,
            config: Arc::new(config),
        }
    }
}

#[async_trait]
impl RecordHandler for KafkaPlanner {
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError> {
        while super::paused(&self.config) {
            tokio::time::sleep(super::IDLE_POLL).await;
        }
        if record.kind != RecordKind::Created {
            return Ok(());
        }
        let Event::MessageCreated(message) = record
            .to_event()
            .map_err(|err| HandlerError::Permanent(err.to_string()))?
        else {
            return Ok(());
        };
        // Records of one conversation can arrive out of commit order (two nodes' producers
        // race): its earlier messages still queued are planned first, from the queue.
        let earlier = self
            .queue
            .queued_before(message.conversation_id, message.seq, EARLIER_MAX)
            .await?;
        super::fanout::plan_all(self.queue.as_ref(), &self.ports, &self.config, earlier).await?;
        let now_ms = self.ports.clock.now_ms();
        let deliveries = super::fanout::deliveries_for(
            self.queue.as_ref(),
            &self.ports,
            &message,
            &self.config,
            now_ms,
        )
        .await?;
        self.queue
            .fan_out_message(message.conversation_id, message.seq, &deliveries, now_ms)
            .await?;
        Ok(())
    }
}
