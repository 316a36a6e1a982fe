use std::sync::Arc;
use std::time::Duration;

use natter_domain::ConversationId;
use natter_domain::UserId;
use natter_domain::events::Event;
use natter_domain::ports::{BusItem, BusSubscription, EventBus};
use natter_redis::{BusOptions, RedisBus};

use crate::{message_event, raw, redis, unique, url, within};

fn options(channel: &str) -> BusOptions {
    BusOptions {
        channel: channel.into(),
        ..BusOptions::default()
    }
}

async fn next(subscription: &mut Box<dyn BusSubscription>, what: &str) -> BusItem {
    within(Duration::from_secs(10), what, subscription.next())
        .await
        .unwrap_or_else(|| panic!("bus closed while waiting for {what}"))
}

async fn next_event(subscription: &mut Box<dyn BusSubscription>, what: &str) -> Arc<Event> {
    match next(subscription, what).await {
        BusItem::Event(event) => event,
        other => panic!("unexpected {other:?} while waiting for {what}"),
    }
}

/// Nothing more arrives within a short while.
async fn quiet(subscription: &mut Box<dyn BusSubscription>) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), subscription.next()).await {
        panic!("unexpected extra item {item:?}");
    }
}

#[tokio::test]
async fn every_event_reaches_every_node_once_in_publish_order() {
    let channel = unique("bus-order");
    let a = Arc::new(
        RedisBus::start(&redis("bus-a").await, options(&channel))
            .await
            .unwrap(),
    );
    let b = Arc::new(
        RedisBus::start(&redis("bus-b").await, options(&channel))
            .await
            .unwrap(),
    );
    let mut at_a = a.subscribe();
    let mut at_b = b.subscribe();

    // Both nodes publish 500 events each, concurrently.
    let conversation = ConversationId::new();
    let (sender_a, sender_b) = (UserId::new(), UserId::new());
    let sent_a: Vec<Event> = (1..=500)
        .map(|seq| message_event(sender_a, conversation, seq))
        .collect();
    let sent_b: Vec<Event> = (1..=500)
        .map(|seq| message_event(sender_b, conversation, seq))
        .collect();
    let publish = |bus: Arc<RedisBus>, events: Vec<Event>| async move {
        for event in events {
            bus.publish(event).await.expect("publish");
        }
    };
    within(Duration::from_secs(30), "publishing 1,000 events", async {
        tokio::join!(
            publish(Arc::clone(&a), sent_a.clone()),
            publish(Arc::clone(&b), sent_b.clone())
        )
    })
    .await;

    for (node, subscription) in [("a", &mut at_a), ("b", &mut at_b)] {
        let mut got_a = Vec::new();
        let mut got_b = Vec::new();
        for i in 0..1_000 {
            let event = next_event(subscription, &format!("event {i} at node {node}")).await;
            let Event::MessageCreated(message) = &*event else {
                panic!("unexpected {event:?}");
            };
            if message.sender_id == sender_a {
                got_a.push((*event).clone());
            } else {
                got_b.push((*event).clone());
            }
        }
        assert!(
            got_a == sent_a,
            "node {node}: node a's events differ or are out of order"
        );
        assert!(
            got_b == sent_b,
            "node {node}: node b's events differ or are out of order"
        );
        quiet(subscription).await;
    }
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_lags_then_continues() {
    let channel = unique("bus-lag");
    let bus = RedisBus::start(
        &redis("bus-lag").await,
        BusOptions {
            subscriber_capacity: 8,
            ..options(&channel)
        },
    )
    .await
    .unwrap();
    let mut slow = bus.subscribe();
    let mut reader = bus.subscribe();
    let (sender, conversation) = (UserId::new(), ConversationId::new());
    let events: Vec<Event> = (1..=51)
        .map(|seq| message_event(sender, conversation, seq))
        .collect();
    for event in &events[..50] {
        bus.publish(event.clone()).await.unwrap();
        // The reading subscriber keeps up, so it never lags.
        assert_eq!(&*next_event(&mut reader, "an event").await, event);
    }
    // The slow one got the first 8, then the gap.
    for event in &events[..8] {
        assert_eq!(&*next_event(&mut slow, "a queued event").await, event);
    }
    assert!(matches!(
        next(&mut slow, "the lag marker").await,
        BusItem::Lagged
    ));
    // Then new events again.
    bus.publish(events[50].clone()).await.unwrap();
    assert_eq!(
        &*next_event(&mut slow, "the event after the gap").await,
        &events[50]
    );
    assert_eq!(
        &*next_event(&mut reader, "the last event").await,
        &events[50]
    );
    quiet(&mut slow).await;
}

#[tokio::test]
async fn a_killed_pubsub_connection_yields_lagged_and_delivery_resumes() {
    let channel = unique("bus-kill");
    let subscriber = RedisBus::start(&redis("bus-kill-sub").await, options(&channel))
        .await
        .unwrap();
    let publisher = RedisBus::start(&redis("bus-kill-pub").await, options(&channel))
        .await
        .unwrap();
    let mut subscription = subscriber.subscribe();
    let (sender, conversation) = (UserId::new(), ConversationId::new());

    let before = message_event(sender, conversation, 1);
    publisher.publish(before.clone()).await.unwrap();
    assert_eq!(
        &*next_event(&mut subscription, "the first event").await,
        &before
    );

    // Kill exactly this bus's pub/sub connection (other tests and users share the server).
    let mut admin = raw(&url()).await;
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin)
        .await
        .unwrap();
    let name = format!("name={}", subscriber.client_name());
    let id = clients
        .lines()
        .find(|line| line.split(' ').any(|field| field == name))
        .and_then(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .unwrap_or_else(|| panic!("no pub/sub client {name} in:\n{clients}"))
        .to_owned();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&id)
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 1);

    assert!(matches!(
        next(&mut subscription, "Down at the kill").await,
        BusItem::Down
    ));
    assert!(matches!(
        next(&mut subscription, "Lagged after resubscribing").await,
        BusItem::Lagged
    ));
    // The subscription is live again once Lagged is delivered.
    let after = message_event(sender, conversation, 2);
    publisher.publish(after.clone()).await.unwrap();
    assert_eq!(
        &*next_event(&mut subscription, "the event after resubscribing").await,
        &after
    );
    quiet(&mut subscription).await;
}

#[tokio::test]
async fn dropping_the_bus_ends_its_subscriptions() {
    let bus = RedisBus::start(&redis("bus-drop").await, options(&unique("bus-drop")))
        .await
        .unwrap();
    let mut subscription = bus.subscribe();
    drop(bus);
    assert!(
        within(
            Duration::from_secs(5),
            "the end of the subscription",
            subscription.next()
        )
        .await
        .is_none()
    );
}
