//! The users of a push run and the messages they send. Every user registers one device (even
//! ones FCM, odd ones a Web Push subscription made by the lab, so both senders and the lab's
//! decryption run) and never connects a WebSocket, so every member but the sender is owed a push
//! for every message. Users are grouped into conversations of `group_size`; a message is sent by
//! a member picked at random (SplitMix, fixed seed) over REST, and its acknowledgement gives the
//! id and `created_at_ms` the check matches pushes with.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use natter_push_lab::Lab;
use natter_sdk::Client;
use natter_sdk::protocol::{RegisterDeviceRequest, WebPushKeys, WebPushSubscription};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::check::SentMessage;
use crate::sched::{SplitMix, Ticks, intended_offset, total_events};
use crate::stats::{Sharded, Summary, summarize};

/// Passes the server's password-strength check.
const PASSWORD: &str = "push-Heron-copper-57";
/// Registrations and group creations at once while setting up.
const SETUP_CONCURRENCY: usize = 8;
/// A notification of a typical length.
const TEXT: &str = "Are we still on for the review at three? I have moved it to the small room.";

pub struct World {
    users: Vec<Client>,
    /// The device of each user: its FCM token or Web Push endpoint.
    devices: Vec<String>,
    /// Each user's conversation, and its members.
    conversation_of: Vec<usize>,
    conversations: Vec<(Uuid, Vec<usize>)>,
    rng: Mutex<SplitMix>,
}

/// The messages of one phase, as acknowledged.
#[derive(Default)]
pub struct Sends {
    pub sent: Vec<SentMessage>,
    pub failed: usize,
    /// From each message's intended send time to its acknowledgement.
    pub ack: Summary,
    pub seconds: f64,
}

impl World {
    pub async fn build(
        url: &str,
        lab: &Lab,
        users: usize,
        group_size: usize,
    ) -> anyhow::Result<Self> {
        let base = Client::new(url)?;
        base.health().await.context("the server does not answer")?;
        let tag = format!("push{}", std::process::id());
        let clients: Vec<(Client, (String, Uuid))> = stream::iter(0..users)
            .map(|i| {
                let client = base.anonymous();
                let name = format!("{tag}-{i}");
                let (device, request) = if i % 2 == 0 {
                    let token = format!("fcm-{tag}-{i}");
                    let request = RegisterDeviceRequest::Fcm {
                        token: token.clone(),
                    };
                    (token, request)
                } else {
                    let subscription = lab.subscribe();
                    let request = RegisterDeviceRequest::WebPush {
                        subscription: WebPushSubscription {
                            endpoint: subscription.endpoint.clone(),
                            expiration_time: None,
                            keys: WebPushKeys {
                                p256dh: subscription.p256dh,
                                auth: subscription.auth,
                            },
                        },
                    };
                    (subscription.endpoint, request)
                };
                async move {
                    let id = client
                        .register(&name, PASSWORD)
                        .await
                        .with_context(|| format!("register {name}"))?
                        .user
                        .id;
                    client
                        .register_device(&request)
                        .await
                        .with_context(|| format!("register {name}'s device"))?;
                    anyhow::Ok((client, (device, id)))
                }
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;
        let (users, identities): (Vec<Client>, Vec<(String, Uuid)>) = clients.into_iter().unzip();
        let (devices, ids): (Vec<String>, Vec<Uuid>) = identities.into_iter().unzip();
        let groups: Vec<Vec<usize>> = (0..users.len())
            .collect::<Vec<_>>()
            .chunks(group_size.max(2))
            .map(<[usize]>::to_vec)
            .collect();
        let conversations: Vec<(Uuid, Vec<usize>)> = stream::iter(groups)
            .map(|members| {
                let (users, ids) = (&users, &ids);
                async move {
                    let others: Vec<Uuid> = members[1..].iter().map(|&m| ids[m]).collect();
                    let id = users[members[0]]
                        .create_group("push bench", None, &others)
                        .await
                        .context("create a group")?
                        .conversation
                        .id;
                    anyhow::Ok((id, members))
                }
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;
        let mut conversation_of = vec![0; users.len()];
        for (index, (_, members)) in conversations.iter().enumerate() {
            for &member in members {
                conversation_of[member] = index;
            }
        }
        Ok(Self {
            users,
            devices,
            conversation_of,
            conversations,
            rng: Mutex::new(SplitMix::new(0x5eed_9a55)),
        })
    }

    /// The devices a message from `sender` owes a push to.
    fn owed(&self, sender: usize) -> Vec<String> {
        let (_, members) = &self.conversations[self.conversation_of[sender]];
        members
            .iter()
            .filter(|&&m| m != sender && members.len() > 1)
            .map(|&m| self.devices[m].clone())
            .collect()
    }

    fn pick_sender(&self) -> usize {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.below(self.users.len() as u64) as usize
    }

    async fn send_one(&self, sender: usize) -> anyhow::Result<SentMessage> {
        let (conversation, _) = self.conversations[self.conversation_of[sender]];
        let view = self.users[sender].send_text(conversation, TEXT).await?;
        Ok(SentMessage {
            message_id: view.id,
            created_at_ms: view.created_at_ms,
            acked_at: SystemTime::now(),
            devices: self.owed(sender),
        })
    }

    /// Open loop: message `i` is due at `i / rate` whether or not earlier ones were answered
    /// (at most `in_flight` outstanding; beyond that the sends fall behind and the ack times
    /// show it).
    pub async fn send_at_rate(
        self: &Arc<Self>,
        rate: f64,
        duration: Duration,
        in_flight: usize,
    ) -> Sends {
        let total = total_events(duration, rate);
        let gate = Arc::new(Semaphore::new(in_flight.max(1)));
        let acks = Arc::new(Sharded::default());
        let results = Arc::new(Mutex::new(Sends::default()));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let ticks = Ticks::start(started, rate, total);
        for i in 0..total {
            let due = started + intended_offset(i, rate);
            ticks.release(i).await;
            let permit = gate.clone().acquire_owned().await;
            let (world, acks, results) = (self.clone(), acks.clone(), results.clone());
            tasks.spawn(async move {
                let _permit = permit;
                let outcome = world.send_one(world.pick_sender()).await;
                acks.record(i as usize, due.elapsed().as_micros() as u64);
                let mut results = results.lock().unwrap_or_else(|p| p.into_inner());
                match outcome {
                    Ok(sent) => results.sent.push(sent),
                    Err(err) => {
                        results.failed += 1;
                        eprintln!("push: a send failed: {err:#}");
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        let mut sends = std::mem::take(&mut *results.lock().unwrap_or_else(|p| p.into_inner()));
        sends.ack = summarize(&acks.merged());
        sends.seconds = started.elapsed().as_secs_f64();
        sends
    }

    /// `count` messages as fast as the server takes them, `in_flight` at a time.
    pub async fn send_burst(&self, count: usize, in_flight: usize) -> Sends {
        let started = Instant::now();
        let outcomes: Vec<anyhow::Result<SentMessage>> = stream::iter(0..count)
            .map(|_| self.send_one(self.pick_sender()))
            .buffer_unordered(in_flight.max(1))
            .collect()
            .await;
        let mut sends = Sends {
            seconds: started.elapsed().as_secs_f64(),
            ..Sends::default()
        };
        for outcome in outcomes {
            match outcome {
                Ok(sent) => sends.sent.push(sent),
                Err(err) => {
                    sends.failed += 1;
                    eprintln!("push: a send failed: {err:#}");
                }
            }
        }
        sends
    }
}

impl Sends {
    pub fn expected_pushes(&self) -> usize {
        self.sent.iter().map(|m| m.devices.len()).sum()
    }
}
