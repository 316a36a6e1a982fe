//! Where the log lives and how its clients connect. One value shared by the producer
//! ([`crate::KafkaEventLog`]), the consumers ([`crate::run_consumer`]) and [`crate::ensure_topic`].

use std::time::Duration;

use rdkafka::ClientConfig;

/// The default topic of message events.
pub const DEFAULT_TOPIC: &str = "natter.messages";

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub brokers: String,
    /// The message event topic.
    pub topic: String,
    /// How long the producer keeps retrying one record (broker restarts, leader moves) before
    /// reporting it failed (`message.timeout.ms`).
    pub delivery_timeout: Duration,
    /// How long the producer waits to batch records (`linger.ms`).
    pub linger: Duration,
    /// Consumer group liveness (`session.timeout.ms`): a consumer that dies is replaced after
    /// this long.
    pub session_timeout: Duration,
    /// How long `publish` waits for the broker to have a message event the real-time bus
    /// refused, holding the conversation's order lock (see [`crate::KafkaEventLog`]). Short, so an
    /// outage of both Redis and Kafka costs each send little; tests lengthen it to check the
    /// mechanism without depending on the broker's speed.
    pub log_wait: Duration,
    /// Extra librdkafka properties (security, tuning), applied last to every client.
    pub properties: Vec<(String, String)>,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: DEFAULT_TOPIC.to_owned(),
            delivery_timeout: Duration::from_secs(30),
            linger: Duration::from_millis(5),
            session_timeout: Duration::from_secs(10),
            log_wait: Duration::from_secs(1),
            properties: Vec::new(),
        }
    }

    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// A client's settings: the brokers, then `settings` (the client kind's own), then the
    /// extra properties, which therefore win.
    pub(crate) fn client_config<'a>(
        &self,
        settings: impl IntoIterator<Item = (&'a str, String)>,
    ) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in settings {
            config.set(key, value);
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

pub(crate) fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}
