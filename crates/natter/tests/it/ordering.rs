//! One order: concurrent senders in one group; every member's session receives every message
//! once, with seqs 1..=n in increasing order, in the same order as every other member.

use std::sync::Arc;
use std::time::Duration;

use natter_sdk::Session;

use crate::server::TestServer;
use crate::support::{all_messages, collect_new_messages, user};

const SENDERS: usize = 4;
const PER_SENDER: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_every_member_sees_one_gap_free_order() {
    let server = TestServer::spawn();
    let (owner, _) = user(&server, "owner").await;
    let mut clients = vec![owner.clone()];
    let mut ids = Vec::new();
    for i in 0..SENDERS {
        let (client, view) = user(&server, &format!("s{i}")).await;
        clients.push(client);
        ids.push(view.id);
    }
    // The owner only watches; the others send.
    let group = owner
        .create_group("race", None, &ids)
        .await
        .expect("group")
        .conversation
        .id;
    let mut sessions = Vec::new();
    for client in &clients {
        sessions.push(Arc::new(client.connect().await.expect("connect")));
    }

    let mut tasks = Vec::new();
    for (index, session) in sessions.iter().enumerate().skip(1) {
        let session: Arc<Session> = Arc::clone(session);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..PER_SENDER {
                let message = session
                    .send(
                        group,
                        format!("s{index}-{n}"),
                        format!("sender {index} message {n}"),
                    )
                    .await
                    .expect("send");
                seqs.push(message.seq);
            }
            seqs
        }));
    }
    let total = SENDERS * PER_SENDER;
    let mut acked = Vec::new();
    for task in tasks {
        let seqs = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("senders finish")
            .expect("task");
        // One sender's own sends (each awaited before the next) get increasing seqs.
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a sender's seqs go up: {seqs:?}"
        );
        acked.extend(seqs);
    }
    acked.sort_unstable();
    assert_eq!(
        acked,
        (1..=total as i64).collect::<Vec<_>>(),
        "acks cover 1..=n once each"
    );

    let mut orders = Vec::new();
    for session in &sessions {
        let got = collect_new_messages(session, group, total, Duration::from_secs(30)).await;
        let seqs: Vec<i64> = got.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            (1..=total as i64).collect::<Vec<_>>(),
            "seqs exactly 1..=n, in order, no duplicates"
        );
        orders.push(
            got.iter()
                .map(|m| (m.seq, m.id.clone(), m.client_msg_id.clone()))
                .collect::<Vec<_>>(),
        );
        crate::support::assert_no_event(session, Duration::from_millis(200), |e| {
            matches!(e, natter_sdk::protocol::ServerFrame::MessageNew { .. })
        })
        .await;
        assert_eq!(session.gaps_seen(), 0);
    }
    for order in &orders[1..] {
        assert_eq!(order, &orders[0], "every member sees the same order");
    }

    // The stored history agrees with what was delivered.
    let history = all_messages(&owner, group).await;
    let stored: Vec<_> = history
        .iter()
        .map(|m| (m.seq, m.id.clone(), m.client_msg_id.clone()))
        .collect();
    assert_eq!(stored, orders[0]);
    for session in &sessions {
        session.close().await;
    }
}
