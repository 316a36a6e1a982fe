//! `natter-push-lab [--listen 127.0.0.1:0] [--dir DIR]`: runs the lab until Ctrl-C, writes its
//! CA and credentials into DIR (default: a new directory under the system's temp dir), and
//! prints one JSON line saying where everything is, for the bench and manual runs. Then one JSON
//! line per accepted push (`{"push": {...}}`, Web Push payloads decrypted), so a test outside Rust
//! (the web app's, which hands the decrypted payload to a browser's service worker) sees what a
//! device would get. Printed pushes are forgotten, so a long run keeps its memory bounded.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use natter_push_lab::{Lab, Pushed, Service};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(value)) => listen = value.parse()?,
            ("--dir", Some(value)) => dir = Some(value.into()),
            _ => {
                eprintln!("usage: natter-push-lab [--listen ADDR] [--dir DIR]");
                std::process::exit(2);
            }
        }
    }
    let lab = Lab::start_on(listen).await?;
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("natter-push-lab-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let files = lab.write_files(&dir)?;
    let subscription = lab.subscribe();
    println!(
        "{}",
        serde_json::json!({
            "base_url": lab.base_url(),
            "apns_sandbox_url": lab.apns_sandbox_url(),
            "ca": files.ca,
            "fcm_service_account": files.fcm_service_account,
            "apns_key": files.apns_key,
            "apns_key_id": lab.keys().apns_key_id,
            "apns_team_id": lab.keys().apns_team_id,
            "apns_topic": natter_push_lab::APNS_TOPIC,
            "vapid_key": files.vapid_key,
            "vapid_public_key": lab.keys().vapid_public_key,
            "web_push_subscription": {
                "endpoint": subscription.endpoint,
                "keys": { "p256dh": subscription.p256dh, "auth": subscription.auth },
            },
        })
    );
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        result = print_pushes(&lab) => result?,
    }
    eprintln!("{} pushes accepted", lab.accepted());
    Ok(())
}

/// Prints every accepted push as it comes, one JSON line each, flushed (the reader may be a
/// pipe or a file another process follows).
async fn print_pushes(lab: &Lab) -> std::io::Result<()> {
    let mut printed = 0;
    loop {
        // Waits for the next push; the bound only keeps the wait finite.
        if lab
            .wait_for_pushes(printed + 1, Duration::from_secs(3600))
            .await
            .is_err()
        {
            continue;
        }
        let pushes = lab.take_pushes();
        printed += pushes.len();
        let mut out = std::io::stdout().lock();
        for push in &pushes {
            writeln!(out, "{}", push_line(push))?;
        }
        out.flush()?;
    }
}

fn push_line(push: &Pushed) -> serde_json::Value {
    let service = match push.service {
        Service::Fcm => "fcm",
        Service::Apns => "apns",
        Service::WebPush => "web_push",
    };
    serde_json::json!({
        "push": {
            "service": service,
            "device": push.device,
            "path": push.path,
            "headers": push.headers,
            "payload": push.payload,
        }
    })
}
