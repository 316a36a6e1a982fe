//! Scaled out, messages reach the notifiers through Kafka first: this is the handler of the
//! notifier consumer group, which spreads the conversations over the notifier processes by
//! partition. The consumer hands over the records it has ready as one batch; the batch is
//! planned like a look at the queue ([`super::fanout::plan_all_knowing`]): one read finds every
//! queued message of the batch's conversations up to the newest record of each, one finds which
//! of them have a member with a device, and one transaction writes the plans and removes the
//! queue entries. A record Kafka delivers again (a crash before the offset commit, a rebalance)
//! finds its entry gone and adds nothing, whichever notifier gets it; a conversation's earlier
//! messages still queued are planned with it, in seq order, so a device gets them in order even
//! when two nodes' records reach the broker out of order. A record Kafka never got (its node
//! died within the producer's linger) is planned from the queue after [`super::KAFKA_GRACE`].
//! `updated` records notify nobody.
//!
//! One record at a time, a message cost five statements of its own (the earlier entries, the
//! devices, and a transaction removing its entry); in a batch those are shared by every record
//! of the batch.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use natter_domain::events::Event;
use natter_domain::model::Message;
use natter_domain::notify::PushQueue;
use natter_domain::{ConversationId, Ports};
use natter_kafka::{HandlerError, MessageRecord, RecordHandler, RecordKind};

use crate::config::NotifierConfig;

/// At most this many queued messages of one conversation planned per batch, up to its newest
/// record (a longer backlog is the queue planner's).
const PER_CONVERSATION_MAX: u32 = 256;
/// The most records the consumer hands over at once.
const BATCH_MAX: usize = 512;

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
        self.handle_batch(std::slice::from_ref(record)).await
    }

    fn batch_max(&self) -> usize {
        BATCH_MAX
    }

    async fn handle_batch(&self, records: &[MessageRecord]) -> Result<(), HandlerError> {
        while super::paused(&self.config) {
            tokio::time::sleep(super::IDLE_POLL).await;
        }
        let mut created: HashMap<(ConversationId, i64), Message> = HashMap::new();
        let mut newest: HashMap<ConversationId, i64> = HashMap::new();
        for record in records
            .iter()
            .filter(|record| record.kind == RecordKind::Created)
        {
            let Event::MessageCreated(message) = record
                .to_event()
                .map_err(|err| HandlerError::Permanent(err.to_string()))?
            else {
                continue;
            };
            let (conversation, seq) = (message.conversation_id, message.seq);
            let newest = newest.entry(conversation).or_insert(seq);
            *newest = (*newest).max(seq);
            created.insert((conversation, seq), message);
        }
        if newest.is_empty() {
            return Ok(());
        }
        // Each conversation up to and including its newest record.
        let bounds: Vec<(ConversationId, i64)> = newest
            .into_iter()
            .map(|(conversation, seq)| (conversation, seq + 1))
            .collect();
        let queued = self
            .queue
            .queued_before(&bounds, PER_CONVERSATION_MAX)
            .await?;
        super::fanout::plan_all_knowing(
            self.queue.as_ref(),
            &self.ports,
            &self.config,
            queued,
            &created,
        )
        .await?;
        Ok(())
    }
}
