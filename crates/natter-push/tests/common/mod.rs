//! A lab and a Pusher configured for it through the ordinary configuration: the lab's endpoints,
//! its key files and its CA as the extra root.

#![allow(dead_code)]

use std::time::Duration;

use natter_push::{
    Alert, ApnsConfig, FcmConfig, Notification, PushConfig, PushSender, PushTarget, Pusher,
    Urgency, WebPushConfig, Withdraw,
};
use natter_push_lab::{APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, Lab, LabFiles, LabKeys};
use tempfile::TempDir;

pub struct Setup {
    pub lab: Lab,
    pub pusher: Pusher,
    pub dir: TempDir,
}

impl Setup {
    pub async fn send(
        &self,
        device: &PushTarget,
        notification: &Notification,
    ) -> natter_push::Outcome {
        self.pusher.send(device, notification).await
    }

    /// A second Pusher with another set of keys (same ids): the lab must refuse it.
    pub fn impostor(&self) -> Pusher {
        let other = LabKeys::generate(&format!("{}/token", self.lab.base_url()));
        let dir = self.dir.path().join("impostor");
        std::fs::create_dir_all(&dir).unwrap();
        let files = self.lab.write_other_files(&other, &dir).unwrap();
        Pusher::from_config(&config_for(&self.lab, &files)).unwrap()
    }
}

pub async fn setup() -> Setup {
    setup_with(|_| {}).await
}

pub async fn setup_with(adjust: impl FnOnce(&mut PushConfig)) -> Setup {
    let lab = Lab::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let mut config = config_for(&lab, &files);
    adjust(&mut config);
    let pusher = Pusher::from_config(&config).unwrap();
    Setup { lab, pusher, dir }
}

pub fn config_for(lab: &Lab, files: &LabFiles) -> PushConfig {
    let path = |path: &std::path::Path| path.to_str().unwrap().to_owned();
    PushConfig {
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
    }
}

pub fn alert(body: &str) -> Notification {
    Notification::Alert(Alert {
        title: "Ada in #general".into(),
        body: body.into(),
        conversation_id: "0190f2a4-5b6c-7d8e-9f00-112233445566".into(),
        message_id: "7263514982736451".into(),
        seq: 42,
        badge: Some(3),
        collapse_key: "0190f2a4-5b6c-7d8e-9f00-112233445566".into(),
        ttl: Duration::from_secs(3600),
        urgency: Urgency::High,
        silent: false,
    })
}

pub fn withdraw() -> Notification {
    Notification::Withdraw(Withdraw {
        conversation_id: "0190f2a4-5b6c-7d8e-9f00-112233445566".into(),
        read_seq: 42,
        badge: Some(0),
        collapse_key: "0190f2a4-5b6c-7d8e-9f00-112233445566".into(),
        ttl: Duration::from_secs(600),
    })
}

pub fn fcm(token: &str) -> PushTarget {
    PushTarget::Fcm {
        token: token.into(),
    }
}

pub fn apns(token: &str, sandbox: bool) -> PushTarget {
    PushTarget::Apns {
        token: token.into(),
        topic: APNS_TOPIC.into(),
        sandbox,
    }
}
