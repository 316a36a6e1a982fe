//! Scaled out, messages reach the notifiers through Kafka first: this is the handler of the
//! notifier consumer group, which spreads the conversations over the notifier processes by
//! partition. Each `created` record is planned like a queue entry
//! ([`super::fanout::deliveries_for`]) and written with [`PushQueue::fan_out_message`], which
//! removes the message's queue entry in the same transaction, so a record Kafka delivers again
//! (a crash before the offset commit, a rebalance) adds nothing, whichever notifier gets it. A
//! record Kafka never got (its node died within the producer's linger) is planned from the
//! queue after [`super::KAFKA_GRACE`]. `updated` records notify nobody.

use std::sync::Arc;

use async_trait::async_trait;
use natter_domain::Ports;
use natter_domain::events::Event;
use natter_domain::notify::PushQueue;
use natter_kafka::{HandlerError, MessageRecord, RecordHandler, RecordKind};

use crate::config::NotifierConfig;

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
