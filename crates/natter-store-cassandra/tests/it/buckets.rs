//! Partition buckets: pages and change feeds that cross bucket boundaries return exactly what
//! a single ordered table would, and rows sit in the partition their seq names.

use std::collections::BTreeMap;
use std::time::Instant;

use natter_domain::UserId;
use natter_domain::model::*;
use natter_domain::ports::MessageStore;
use natter_domain::values::Reaction;
use uuid::Uuid;

use crate::support::*;

/// What a single ordered table returns for `query` over seqs `1..=last`.
fn expected_page(query: HistoryQuery, last: i64) -> Vec<i64> {
    let all: Vec<i64> = (1..=last).collect();
    match query {
        HistoryQuery::Latest { limit } => expected_page(
            HistoryQuery::Before {
                before: i64::MAX,
                limit,
            },
            last,
        ),
        HistoryQuery::Before { before, limit } => {
            let older: Vec<i64> = all.into_iter().filter(|s| *s < before).collect();
            older[older.len().saturating_sub(limit as usize)..].to_vec()
        }
        HistoryQuery::After { after, limit } => all
            .into_iter()
            .filter(|s| *s > after)
            .take(limit as usize)
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_across_small_buckets() {
    let env = Env::new(10).await;
    let alice = UserId::new();
    let conversation = env.conversation().await;
    let mut sent = Vec::new();
    for n in 1..=25 {
        sent.push(env.send(conversation, alice, &format!("m{n}")).await);
    }
    let page = async |query| env.messages.history(conversation, query).await.unwrap();

    for limit in [0, 1, 3, 9, 10, 11, 20, 25, 30] {
        let latest = HistoryQuery::Latest { limit };
        assert_eq!(
            seqs(&page(latest).await),
            expected_page(latest, 25),
            "{latest:?}"
        );
        for bound in -1..=27 {
            for query in [
                HistoryQuery::Before {
                    before: bound,
                    limit,
                },
                HistoryQuery::After {
                    after: bound,
                    limit,
                },
            ] {
                assert_eq!(
                    seqs(&page(query).await),
                    expected_page(query, 25),
                    "{query:?}"
                );
            }
        }
    }
    // Whole messages, not just seqs, across two boundaries.
    assert_eq!(
        page(HistoryQuery::After {
            after: 8,
            limit: 14
        })
        .await,
        sent[8..22].to_vec()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_sit_in_the_partition_of_their_bucket() {
    let env = Env::new(10).await;
    let alice = UserId::new();
    let conversation = env.conversation().await;
    for n in 1..=25 {
        env.send(conversation, alice, &format!("m{n}")).await;
    }
    let raw = raw_session().await;
    let in_partition = async |table: &str, key: &str, bucket: i64| {
        let column = if table == "messages" {
            "seq"
        } else {
            "mod_seq"
        };
        let cql = format!(
            "SELECT {column} FROM {KEYSPACE}.{table} WHERE conversation_id = ? AND {key} = ?"
        );
        let rows = raw
            .query_unpaged(cql, (conversation.0, bucket))
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let mut found: Vec<i64> = rows
            .rows::<(i64,)>()
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect();
        found.sort();
        found
    };
    for (table, key) in [("messages", "bucket"), ("changes", "mod_bucket")] {
        assert_eq!(
            in_partition(table, key, 0).await,
            (1..=9).collect::<Vec<_>>()
        );
        assert_eq!(
            in_partition(table, key, 1).await,
            (10..=19).collect::<Vec<_>>()
        );
        assert_eq!(
            in_partition(table, key, 2).await,
            (20..=25).collect::<Vec<_>>()
        );
        assert!(in_partition(table, key, 3).await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_since_across_mod_buckets_skips_stale_entries() {
    let env = Env::new(10).await;
    let (alice, bob) = (UserId::new(), UserId::new());
    let conversation = env.conversation().await;
    // seq -> its latest mod_seq, the model the feed must match.
    let mut latest: BTreeMap<i64, i64> = BTreeMap::new();
    for n in 1..=12 {
        let m = env.send(conversation, alice, &format!("m{n}")).await;
        latest.insert(m.seq, m.mod_seq);
    }
    let thumbs = Reaction::parse("👍").unwrap();
    for (seq, user) in [
        (1, bob),
        (5, bob),
        (12, alice),
        (5, alice),
        (1, alice),
        (9, bob),
    ] {
        let react = MessageChange::AddReaction {
            user_id: user,
            emoji: thumbs.clone(),
        };
        let changed = env
            .messages
            .change(conversation, seq, react, T0)
            .await
            .unwrap();
        latest.insert(seq, changed.mod_seq);
    }
    let last_mod = *latest.values().max().unwrap();
    assert_eq!(last_mod, 18);
    let mut by_mod: Vec<(i64, i64)> = latest.iter().map(|(s, m)| (*s, *m)).collect();
    by_mod.sort_by_key(|(_, m)| *m);

    for after in 0..=last_mod + 1 {
        for limit in [0, 1, 2, 3, 5, 100] {
            let expected: Vec<(i64, i64)> = by_mod
                .iter()
                .filter(|(_, m)| *m > after)
                .take(limit)
                .copied()
                .collect();
            let feed = env
                .messages
                .changes_since(conversation, after, limit as u32)
                .await
                .unwrap();
            let got: Vec<(i64, i64)> = feed.iter().map(|m| (m.seq, m.mod_seq)).collect();
            assert_eq!(got, expected, "after {after}, limit {limit}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_buckets_across_999_1000_1001() {
    let env = Env::new(natter_store_cassandra::DEFAULT_BUCKET_SIZE).await;
    let alice = UserId::new();
    let conversation = env.conversation().await;
    let started = Instant::now();
    for n in 1..=1_002 {
        env.send(conversation, alice, &format!("m{n}")).await;
    }
    let elapsed = started.elapsed();
    println!(
        "1,002 sequential appends in {elapsed:?} ({:.2} ms each)",
        elapsed.as_secs_f64() * 1_000.0 / 1_002.0
    );
    let page = async |query| seqs(&env.messages.history(conversation, query).await.unwrap());
    let span = |lo: i64, hi: i64| (lo..=hi).collect::<Vec<_>>();
    assert_eq!(
        page(HistoryQuery::Latest { limit: 4 }).await,
        span(999, 1_002)
    );
    assert_eq!(
        page(HistoryQuery::Before {
            before: 1_001,
            limit: 3
        })
        .await,
        span(998, 1_000)
    );
    assert_eq!(
        page(HistoryQuery::Before {
            before: 1_000,
            limit: 2
        })
        .await,
        span(998, 999)
    );
    assert_eq!(
        page(HistoryQuery::After {
            after: 998,
            limit: 3
        })
        .await,
        span(999, 1_001)
    );
    assert_eq!(
        page(HistoryQuery::Latest { limit: 50 }).await,
        span(953, 1_002)
    );
    for seq in [999, 1_000, 1_001] {
        let message = env
            .messages
            .message(conversation, seq)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(message.text, format!("m{seq}"));
    }
    let feed = env
        .messages
        .changes_since(conversation, 997, 5)
        .await
        .unwrap();
    assert_eq!(seqs(&feed), span(998, 1_002));

    let started = Instant::now();
    let mut before = 1_003;
    let mut pages = 0;
    while before > 1 {
        let older = env
            .messages
            .history(conversation, HistoryQuery::Before { before, limit: 50 })
            .await
            .unwrap();
        before = older[0].seq;
        pages += 1;
    }
    println!(
        "{pages} history pages of 50 back to seq 1 in {:?}",
        started.elapsed()
    );
    let _ = Uuid::nil();
}
