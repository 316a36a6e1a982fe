//! The senders alone (formerly natter-push's ignored `throughput` test): one `Pusher`, in this
//! process, configured for the lab as natter configures it, sends `pushes` notifications per
//! provider to one device, `IN_FLIGHT` at once. Pushes per second, and per CPU-second of this
//! process, which runs the sender and the lab (TLS, JWT checks, Web Push decryption) together:
//! the ceiling of one process sending, without the server's queue and planning.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use natter_push::{
    Alert, ApnsConfig, FcmConfig, Notification, Outcome, PushConfig, PushSender, PushTarget,
    Pusher, Urgency, WebPushConfig,
};
use natter_push_lab::{APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, Lab};
use serde::Serialize;

use crate::procfs;

const IN_FLIGHT: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct SenderRun {
    pub provider: String,
    pub pushes: usize,
    pub seconds: f64,
    pub pushes_per_s: f64,
    /// CPU of the bench process (sender and lab together).
    pub pushes_per_cpu_s: f64,
}

pub async fn measure(pushes: usize) -> anyhow::Result<Vec<SenderRun>> {
    let lab = Lab::start().await.context("start the push lab")?;
    let dir = tempfile::tempdir()?;
    let files = lab.write_files(dir.path())?;
    let path = |p: &std::path::Path| p.display().to_string();
    let config = PushConfig {
        extra_root_ca_file: path(&files.ca),
        request_timeout_s: 10,
        fcm: FcmConfig {
            service_account_file: path(&files.fcm_service_account),
            project_id: String::new(),
            endpoint: lab.base_url().to_owned(),
        },
        apns: ApnsConfig {
            key_file: path(&files.apns_key),
            key_id: APNS_KEY_ID.into(),
            team_id: APNS_TEAM_ID.into(),
            topic: APNS_TOPIC.into(),
            production_endpoint: lab.base_url().to_owned(),
            sandbox_endpoint: lab.apns_sandbox_url(),
            ..ApnsConfig::default()
        },
        web_push: WebPushConfig {
            vapid_key_file: path(&files.vapid_key),
            subject: "mailto:push@natter.example".into(),
            // The lab's subscriptions are on its own host.
            allowed_hosts: vec!["127.0.0.1".into()],
        },
    };
    let pusher = Pusher::from_config(&config)?;
    let subscription = lab.subscribe();
    let devices = [
        (
            "fcm",
            PushTarget::Fcm {
                token: "tok-1".into(),
            },
        ),
        (
            "apns",
            PushTarget::Apns {
                token: "ab12".into(),
                topic: APNS_TOPIC.into(),
                sandbox: false,
            },
        ),
        (
            "webpush",
            PushTarget::WebPush {
                endpoint: subscription.endpoint.clone(),
                p256dh: subscription.p256dh.clone(),
                auth: subscription.auth.clone(),
            },
        ),
    ];
    let notification = Notification::Alert(Alert {
        title: "Ada in #general".into(),
        body: "A message of a typical length, about a hundred characters, with an émoji 🎉.".into(),
        conversation_id: "0190f2a4-5b6c-7d8e-9f00-112233445566".into(),
        message_id: "7263514982736451".into(),
        seq: 42,
        badge: Some(3),
        collapse_key: "0190f2a4-5b6c-7d8e-9f00-112233445566".into(),
        ttl: Duration::from_secs(3600),
        urgency: Urgency::High,
        silent: false,
    });
    let mut runs = Vec::new();
    for (provider, device) in &devices {
        let before = lab.accepted();
        let started = Instant::now();
        let cpu_started = procfs::cpu_s(std::process::id()).unwrap_or(0.0);
        let sends = (0..pushes).map(|_| pusher.send(device, &notification));
        let mut outcomes = futures_util::stream::iter(sends).buffer_unordered(IN_FLIGHT);
        while let Some(outcome) = outcomes.next().await {
            if outcome != Outcome::Accepted {
                bail!("{provider}: a push was not accepted: {outcome:?}");
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = procfs::cpu_s(std::process::id()).unwrap_or(0.0) - cpu_started;
        let accepted = lab.accepted() - before;
        if accepted != pushes {
            bail!("{provider}: the lab accepted {accepted} of {pushes} pushes");
        }
        lab.take_pushes();
        let run = SenderRun {
            provider: (*provider).to_owned(),
            pushes,
            seconds,
            pushes_per_s: pushes as f64 / seconds,
            pushes_per_cpu_s: pushes as f64 / cpu.max(0.01),
        };
        eprintln!("push: senders alone {run:?}");
        runs.push(run);
    }
    Ok(runs)
}
