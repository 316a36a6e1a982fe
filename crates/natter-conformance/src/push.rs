//! Cases for the [`PushDevices`] port: devices count only while their session is live, one
//! address is one device, the oldest go past the maximum, settings default and round-trip.

use std::collections::HashSet;
use std::sync::Arc;

use natter_domain::push::{
    DeviceId, NotificationSettings, NotifyLevel, PreviewLevel, PushDevice, PushDevices, PushKind,
    PushTarget, QuietHours,
};
use natter_domain::{ConversationId, SessionId, StoreError, UserId};

use crate::Stores;
use crate::support::{Fixture, T0, token};

/// A backend's stores (for users and sessions) and its device store.
pub struct Push {
    pub stores: Stores,
    pub devices: Arc<dyn PushDevices>,
}

struct Case {
    fixture: Fixture,
    devices: Arc<dyn PushDevices>,
}

impl Case {
    fn new(push: Push) -> Self {
        Self {
            fixture: Fixture::new(push.stores),
            devices: push.devices,
        }
    }

    /// A user with one live session.
    async fn user(&self, name: &str) -> (UserId, SessionId) {
        let user = self.fixture.user(name).await.id;
        let session = self.fixture.new_session(user, T0, token(1)).await.id;
        (user, session)
    }

    async fn register(
        &self,
        user: UserId,
        session: SessionId,
        target: PushTarget,
        at_ms: i64,
    ) -> PushDevice {
        self.devices
            .register_device(
                PushDevice {
                    id: DeviceId::new(),
                    user,
                    session,
                    target,
                    created_at_ms: at_ms,
                },
                MAX,
            )
            .await
            .expect("register")
    }

    async fn addresses(&self, user: UserId) -> Vec<String> {
        self.devices
            .devices(user)
            .await
            .expect("devices")
            .into_iter()
            .map(|d| d.target.address().to_owned())
            .collect()
    }
}

const MAX: u32 = 3;

/// An FCM target with a token no other case uses (cases may share a database).
fn fcm(n: u32) -> PushTarget {
    PushTarget::Fcm {
        token: format!("fcm-{}-{n}", UserId::new().0.simple()),
    }
}

pub async fn every_kind_of_device_is_kept_as_registered(push: Push) {
    let case = Case::new(push);
    let (user, session) = case.user("kinds").await;
    let apns = PushTarget::Apns {
        token: format!("{}{}", UserId::new().0.simple(), UserId::new().0.simple()),
        topic: "chat.natter.ios".into(),
        sandbox: true,
    };
    let web = PushTarget::WebPush {
        endpoint: format!("https://push.example.net/{}", UserId::new().0.simple()),
        p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
            .into(),
        auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
    };
    let registered = vec![
        case.register(user, session, fcm(1), T0).await,
        case.register(user, session, apns, T0 + 1).await,
        case.register(user, session, web, T0 + 2).await,
    ];
    assert_eq!(case.devices.devices(user).await.unwrap(), registered);
    assert_eq!(case.devices.devices_of(&[user]).await.unwrap(), registered);
}

pub async fn an_address_is_one_device_and_moves_to_whoever_registers_it(push: Push) {
    let case = Case::new(push);
    let (alice, alice_session) = case.user("alice").await;
    let (bob, bob_session) = case.user("bob").await;
    let phone = fcm(1);
    let first = case.register(alice, alice_session, phone.clone(), T0).await;
    // Registered again (the app restarted): the same device, not a second one.
    let again = case
        .register(alice, alice_session, phone.clone(), T0 + 1)
        .await;
    assert_eq!(again.id, first.id);
    assert_eq!(
        case.addresses(alice).await,
        vec![phone.address().to_owned()]
    );
    // Bob signs in on Alice's old phone: the token is his now.
    let moved = case.register(bob, bob_session, phone.clone(), T0 + 2).await;
    assert_eq!((moved.id, moved.user), (first.id, bob));
    assert!(case.addresses(alice).await.is_empty());
    assert_eq!(case.addresses(bob).await, vec![phone.address().to_owned()]);
}

pub async fn a_conversations_member_devices_are_its_current_members_live_ones(push: Push) {
    let case = Case::new(push);
    let (alice, alice_session) = case.user("md-alice").await;
    let (bob, bob_session) = case.user("md-bob").await;
    let (carol, carol_session) = case.user("md-carol").await;
    let (erin, erin_session) = case.user("md-erin").await;
    let (outsider, outsider_session) = case.user("md-outsider").await;
    let group = case.fixture.group(alice, &[bob, carol, erin]).await;
    let expected = [
        case.register(alice, alice_session, fcm(1), T0).await.id.0,
        case.register(bob, bob_session, fcm(2), T0).await.id.0,
        case.register(bob, bob_session, fcm(3), T0 + 1).await.id.0,
    ];
    case.register(carol, carol_session, fcm(4), T0).await;
    case.register(erin, erin_session, fcm(5), T0).await;
    case.register(outsider, outsider_session, fcm(6), T0).await;
    case.fixture
        .conversations
        .remove_member(group.id, carol, T0 + 1)
        .await
        .unwrap();
    case.fixture
        .accounts
        .revoke_session(erin_session)
        .await
        .unwrap();

    let devices = case.devices.member_devices(group.id).await.unwrap();
    let mut found: Vec<_> = devices.iter().map(|d| d.id.0).collect();
    found.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(
        found, expected,
        "not a former member's, an outsider's or a revoked session's"
    );

    let (dave, _) = case.user("md-dave").await;
    let (frank, _) = case.user("md-frank").await;
    let quiet = case.fixture.group(dave, &[frank]).await;
    assert!(
        case.devices
            .member_devices(quiet.id)
            .await
            .unwrap()
            .is_empty(),
        "nobody there has a device"
    );
    // Where only a former member or a revoked session has one, nobody does.
    let ghosts = case.fixture.group(dave, &[carol, erin]).await;
    case.fixture
        .conversations
        .remove_member(ghosts.id, carol, T0 + 2)
        .await
        .unwrap();
    let with = case
        .devices
        .with_member_devices(&[group.id, quiet.id, ghosts.id, ConversationId::new()])
        .await
        .unwrap();
    assert_eq!(with, HashSet::from([group.id]));
    assert!(
        case.devices
            .with_member_devices(&[])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_revoked_sessions_devices_no_longer_count(push: Push) {
    let case = Case::new(push);
    let (user, laptop) = case.user("revoked").await;
    let phone = case.fixture.new_session(user, T0, token(2)).await.id;
    let on_laptop = fcm(1);
    let on_phone = fcm(2);
    case.register(user, laptop, on_laptop.clone(), T0).await;
    case.register(user, phone, on_phone.clone(), T0 + 1).await;
    case.fixture.accounts.revoke_session(laptop).await.unwrap();
    assert_eq!(
        case.addresses(user).await,
        vec![on_phone.address().to_owned()]
    );
    let of: Vec<String> = case
        .devices
        .devices_of(&[user])
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.target.address().to_owned())
        .collect();
    assert_eq!(of, vec![on_phone.address().to_owned()]);
}

pub async fn the_oldest_devices_go_past_the_maximum(push: Push) {
    let case = Case::new(push);
    let (user, session) = case.user("many").await;
    let targets: Vec<PushTarget> = (0..=MAX).map(fcm).collect();
    for (n, target) in targets.iter().enumerate() {
        case.register(user, session, target.clone(), T0 + n as i64)
            .await;
    }
    let kept: Vec<String> = targets[1..]
        .iter()
        .map(|t| t.address().to_owned())
        .collect();
    assert_eq!(case.addresses(user).await, kept);
}

pub async fn only_its_owner_removes_a_device(push: Push) {
    let case = Case::new(push);
    let (alice, session) = case.user("owner").await;
    let (bob, _) = case.user("other").await;
    let device = case.register(alice, session, fcm(1), T0).await;
    assert_eq!(
        case.devices.remove_device(bob, device.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(case.addresses(alice).await.len(), 1);
    case.devices.remove_device(alice, device.id).await.unwrap();
    assert!(case.addresses(alice).await.is_empty());
    assert_eq!(
        case.devices.remove_device(alice, device.id).await,
        Err(StoreError::NotFound)
    );
}

pub async fn an_address_the_provider_forgot_is_removed(push: Push) {
    let case = Case::new(push);
    let (user, session) = case.user("gone").await;
    let (kept, gone) = (fcm(1), fcm(2));
    case.register(user, session, kept.clone(), T0).await;
    case.register(user, session, gone.clone(), T0 + 1).await;
    case.devices
        .forget_address(PushKind::Fcm, gone.address())
        .await
        .unwrap();
    // Another kind with the same address is another device: untouched (and absent here).
    case.devices
        .forget_address(PushKind::Apns, kept.address())
        .await
        .unwrap();
    assert_eq!(case.addresses(user).await, vec![kept.address().to_owned()]);
}

pub async fn settings_default_and_round_trip(push: Push) {
    let case = Case::new(push);
    let (quiet, _) = case.user("quiet").await;
    let (loud, _) = case.user("loud").await;
    let chosen = NotificationSettings {
        level: NotifyLevel::MentionsAndDirect,
        preview: PreviewLevel::SenderOnly,
        quiet_hours: Some(QuietHours {
            start_min: 22 * 60,
            end_min: 7 * 60 + 30,
            time_zone: "Europe/Paris".into(),
        }),
    };
    case.devices
        .set_notification_settings(quiet, &chosen)
        .await
        .unwrap();
    assert_eq!(
        case.devices
            .notification_settings(&[loud, quiet])
            .await
            .unwrap(),
        vec![
            (loud, NotificationSettings::default()),
            (quiet, chosen.clone())
        ]
    );
    // Set again: replaced, quiet hours cleared.
    let plain = NotificationSettings {
        level: NotifyLevel::Nothing,
        preview: PreviewLevel::Hidden,
        quiet_hours: None,
    };
    case.devices
        .set_notification_settings(quiet, &plain)
        .await
        .unwrap();
    assert_eq!(
        case.devices.notification_settings(&[quiet]).await.unwrap(),
        vec![(quiet, plain)]
    );
}

/// Expands to one `#[tokio::test]` per push case. The factory returns a future of [`Push`].
#[macro_export]
macro_rules! push_conformance_suite {
    ($factory:expr) => {
        mod push_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__push_tests!(
                ($factory)
                every_kind_of_device_is_kept_as_registered,
                an_address_is_one_device_and_moves_to_whoever_registers_it,
                a_conversations_member_devices_are_its_current_members_live_ones,
                a_revoked_sessions_devices_no_longer_count,
                the_oldest_devices_go_past_the_maximum,
                only_its_owner_removes_a_device,
                an_address_the_provider_forgot_is_removed,
                settings_default_and_round_trip,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __push_tests {
    (($factory:expr) $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let push: $crate::push::Push = ($factory)().await;
                $crate::push::$case(push).await;
            }
        )*
    };
}
