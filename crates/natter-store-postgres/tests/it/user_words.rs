//! The display-name word index: users written without their words (before migration 0011, or
//! by a node of an older version) are indexed by `migrate`, also by several processes at once.

use natter_domain::names::UserQuery;
use natter_domain::ports::AccountStore;
use natter_store_postgres::PgStore;
use uuid::Uuid;

use crate::support;

async fn find(store: &PgStore, text: &str) -> Vec<String> {
    store
        .search_users(&UserQuery::parse(text).unwrap(), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username.into_inner())
        .collect()
}

/// Insert users as a node of an older version does: no words, `words_indexed` left false.
async fn insert_unindexed(users: &[(String, String)]) {
    let mut conn = support::connection_to(&support::own_url("user_words")).await;
    let (names, displays): (Vec<String>, Vec<String>) = users.iter().cloned().unzip();
    let ids: Vec<Uuid> = users.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, created_at_ms) \
         SELECT id, username, display_name, 'x', 1 \
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, username, display_name)",
    )
    .bind(ids)
    .bind(names)
    .bind(displays)
    .execute(&mut conn)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_indexes_users_without_words_once() {
    let store = support::own_store("user_words", 4).await;
    insert_unindexed(&[
        ("eloise".into(), "Éloïse Martin".into()),
        ("bob".into(), "Robert Martinez".into()),
        ("party".into(), "🎉".into()),
    ])
    .await;
    // Many more than a batch, so that two migrating stores share the work.
    let crowd: Vec<(String, String)> = (0..2_500)
        .map(|i| (format!("crowd{i:04}"), format!("Crowd Member {i}")))
        .collect();
    insert_unindexed(&crowd).await;
    assert!(find(&store, "mart").await.is_empty(), "not indexed yet");
    assert_eq!(
        find(&store, "pa").await,
        ["party"],
        "usernames need no index"
    );

    let other = PgStore::connect(&support::own_url("user_words"), 4)
        .await
        .unwrap();
    let (a, b) = tokio::join!(store.migrate(), other.migrate());
    a.unwrap();
    b.unwrap();

    assert_eq!(find(&store, "MART").await, ["bob", "eloise"]);
    assert_eq!(find(&store, "élo mar").await, ["eloise"]);
    assert_eq!(find(&store, "crowd member 2499").await, ["crowd2499"]);
    let mut conn = support::connection_to(&support::own_url("user_words")).await;
    let (unindexed, words): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users WHERE NOT words_indexed), \
                (SELECT count(*) FROM user_words)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // eloise, martin, robert, martinez; three words for each of the crowd.
    assert_eq!((unindexed, words), (0, 4 + 3 * 2_500));
    store.migrate().await.unwrap();
}

/// How long the backfill and searches take over many users (measured, not asserted):
/// `cargo test -p natter-store-postgres --test it -- --ignored --nocapture people_at_scale`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: 200,000 users"]
async fn people_at_scale() {
    const USERS: usize = 200_000;
    let store = support::own_store("people_at_scale", 4).await;
    let url = support::own_url("people_at_scale");
    let first = [
        "Ann", "Bob", "Chloé", "David", "Éloïse", "Farid", "Grace", "Hiro", "Ines", "Jamal",
    ];
    let last = [
        "Smith", "Martin", "Nguyen", "Okafor", "Schmidt", "Rossi", "Tanaka", "Silva",
    ];
    let mut conn = support::connection_to(&url).await;
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(20_000) {
        let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
        let names: Vec<String> = chunk.iter().map(|i| format!("user{i:06}")).collect();
        // A made-up third word per user, so that prefixes spread like real names.
        let displays: Vec<String> = chunk
            .iter()
            .map(|i| {
                let tail: String = format!("{:x}", i.wrapping_mul(2_654_435_761) % 0xffffff)
                    .chars()
                    .map(|c| (b'a' + c.to_digit(16).unwrap() as u8) as char)
                    .collect();
                format!(
                    "{} {} {tail}",
                    first[i % first.len()],
                    last[i / 7 % last.len()]
                )
            })
            .collect();
        sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, created_at_ms) \
             SELECT id, username, display_name, 'x', 1 \
             FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, username, display_name)",
        )
        .bind(ids)
        .bind(names)
        .bind(displays)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
    let started = std::time::Instant::now();
    store.migrate().await.unwrap();
    println!("backfill of {USERS} users: {:?}", started.elapsed());
    // As autovacuum leaves it: the index's entries visible without reading the table.
    sqlx::query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();
    for text in [
        "a",
        "ann",
        "élo mar",
        "ann smi",
        "bob okafor bc",
        "user01234",
        "zzz",
    ] {
        let query = UserQuery::parse(text).unwrap();
        store.search_users(&query, 50).await.unwrap();
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..20 {
            let started = std::time::Instant::now();
            found = store.search_users(&query, 50).await.unwrap().len();
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "{text:>14}: {found:>2} found, median {:?}, max {:?}",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}
