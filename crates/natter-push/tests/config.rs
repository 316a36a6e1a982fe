//! Loading the configuration: key files are read and checked at start, errors name the file,
//! nothing secret is shown, and a provider without keys is off.

mod common;

use common::{alert, config_for, fcm};
use natter_push::{ConfigError, Outcome, Provider, PushConfig, PushSender, Pusher};
use natter_push_lab::Lab;

#[tokio::test]
async fn a_provider_without_keys_is_off_and_its_devices_are_refused() {
    let pusher = Pusher::from_config(&PushConfig::default()).unwrap();
    for provider in [Provider::Fcm, Provider::Apns, Provider::WebPush] {
        assert!(!pusher.supports(provider));
    }
    assert_eq!(pusher.vapid_public_key(), None);
    let outcome = pusher.send(&fcm("tok"), &alert("hi")).await;
    assert_eq!(
        outcome,
        Outcome::Rejected {
            reason: "fcm is not configured".into()
        }
    );
}

#[tokio::test]
async fn key_files_are_checked_at_start_and_errors_name_them() {
    let lab = Lab::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let good = config_for(&lab, &files);
    let pusher = Pusher::from_config(&good).unwrap();
    assert!(pusher.supports(Provider::Fcm) && pusher.supports(Provider::Apns));
    assert_eq!(
        pusher.vapid_public_key(),
        Some(lab.keys().vapid_public_key.as_str())
    );
    let shown = format!("{pusher:?}");
    assert_eq!(shown, "Pusher { fcm: true, apns: true, web_push: true }");

    let mut missing = good.clone();
    missing.apns.key_file = dir.path().join("nope.p8").to_str().unwrap().into();
    let err = Pusher::from_config(&missing).unwrap_err();
    assert!(
        matches!(err, ConfigError::File { ref path, .. } if path.ends_with("nope.p8")),
        "{err}"
    );

    // An RSA key where a P-256 one belongs, and the other way round.
    let mut swapped = good.clone();
    swapped.web_push.vapid_key_file = good.fcm.service_account_file.clone();
    assert!(Pusher::from_config(&swapped).is_err());
    let mut swapped = good.clone();
    swapped.apns.key_file = good.extra_root_ca_file.clone();
    assert!(Pusher::from_config(&swapped).is_err());

    let mut no_team = good.clone();
    no_team.apns.team_id.clear();
    assert!(matches!(
        Pusher::from_config(&no_team),
        Err(ConfigError::Invalid(_))
    ));

    for refresh in [60, 3600] {
        let mut too_often_or_late = good.clone();
        too_often_or_late.apns.token_refresh_s = refresh;
        assert!(matches!(
            Pusher::from_config(&too_often_or_late),
            Err(ConfigError::Invalid(_))
        ));
    }

    let mut bad_subject = good.clone();
    bad_subject.web_push.subject = "push@natter.example".into();
    assert!(matches!(
        Pusher::from_config(&bad_subject),
        Err(ConfigError::Invalid(_))
    ));

    let mut bad_ca = good.clone();
    bad_ca.extra_root_ca_file = good.apns.key_file.clone();
    assert!(Pusher::from_config(&bad_ca).is_err());
}

#[tokio::test]
async fn without_the_lab_ca_the_lab_is_not_trusted() {
    let lab = Lab::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let mut config = config_for(&lab, &files);
    config.extra_root_ca_file.clear();
    let pusher = Pusher::from_config(&config).unwrap();
    assert_eq!(
        pusher.send(&fcm("tok"), &alert("hi")).await,
        Outcome::Retry { after: None }
    );
    assert!(lab.pushes().is_empty());
    assert_eq!(lab.oauth_exchanges(), 0);
}
