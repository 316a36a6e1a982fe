//! Message search over REST (`GET /search/messages`), driven through the SDK and raw: what a
//! member finds and what others never do, snippets, filters, paging, edits and deletes, and the
//! typed refusals of bad queries. Scaled out (`NATTER_E2E_CLUSTER=1`) the index follows the
//! Kafka log, so what must be found is waited for (bounded); what must not be found is checked
//! at once, since every hit is checked against the message as it is now.

use std::time::Duration;

use natter_sdk::protocol::{MessageSearchPage, MessageSearchParams, SearchOrderParam};
use natter_sdk::{Client, Method};
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{api_error, raw_json, user};

fn params(q: &str) -> MessageSearchParams {
    MessageSearchParams {
        q: q.into(),
        ..Default::default()
    }
}

/// One search, waiting out the per-user search rate limit as a well-behaved client does (its
/// `retry_after_ms`): scaled out, the polling of `until_found` spends the burst.
async fn search(
    client: &Client,
    params: &MessageSearchParams,
) -> natter_sdk::Result<MessageSearchPage> {
    for _ in 0..100 {
        match client.search_messages(params).await {
            Err(error) if error.status() == Some(429) => {
                let wait = error.body().and_then(|b| b.retry_after_ms).unwrap_or(200);
                tokio::time::sleep(Duration::from_millis(wait.clamp(1, 1_000))).await;
            }
            other => return other,
        }
    }
    panic!("search {:?}: rate limited 100 times in a row", params.q);
}

/// The seqs of one page of hits.
async fn seqs(client: &Client, params: &MessageSearchParams) -> Vec<i64> {
    let page = search(client, params).await.expect("search");
    page.hits.iter().map(|h| h.message.seq).collect()
}

/// Search until the page holds `want` (the index may lag a send by the log's delay scaled out).
async fn until_found(
    client: &Client,
    params: &MessageSearchParams,
    want: &[i64],
) -> MessageSearchPage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = search(client, params).await.expect("search");
        let got: Vec<i64> = page.hits.iter().map(|h| h.message.seq).collect();
        if got == want {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "search {:?}: found {got:?}, want {want:?}",
            params.q
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_find_messages_with_snippets_and_outsiders_find_nothing() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (mallory, _) = user(&server, "mallory").await;
    let room = alice
        .create_group("plans", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let cafe = alice
        .send_text(room, "Lunch at the Café Crème? Bring the big cat")
        .await
        .expect("send");
    alice.send_text(room, "something else").await.expect("send");

    let page = until_found(&bob, &params("cafe creme"), &[cafe.seq]).await;
    let hit = &page.hits[0];
    assert_eq!(hit.message.text, cafe.text);
    let shown: String = hit.snippet.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(shown, cafe.text, "a short text is shown whole");
    let marked: Vec<&str> = hit
        .snippet
        .iter()
        .filter(|p| p.hit)
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(marked, ["Café", "Crème"]);
    assert!(page.next_cursor.is_none());

    assert_eq!(seqs(&bob, &params("\"big cat\"")).await, [cafe.seq]);
    assert_eq!(seqs(&bob, &params("lun*")).await, [cafe.seq]);
    assert!(seqs(&bob, &params("\"cat big\"")).await.is_empty());
    assert!(
        seqs(&mallory, &params("cafe")).await.is_empty(),
        "not a member"
    );
    let (status, code) = api_error(
        search(
            &mallory,
            &MessageSearchParams {
                conversation_id: Some(room),
                ..params("cafe")
            },
        )
        .await,
    );
    assert_eq!((status, code.as_str()), (404, "not_found"));

    alice
        .remove_member(room, bob_user.id)
        .await
        .expect("remove bob");
    assert!(
        seqs(&bob, &params("cafe")).await.is_empty(),
        "removed: at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_deletes_show_at_once_and_pages_follow_the_cursor() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let room = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            alice
                .send_text(room, &format!("standup note {i}"))
                .await
                .expect("send")
                .seq,
        );
    }
    sent.reverse();
    until_found(&bob, &params("standup"), &sent).await;

    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..5 {
        let page = search(
            &bob,
            &MessageSearchParams {
                limit: Some(2),
                cursor: cursor.clone(),
                ..params("standup")
            },
        )
        .await
        .expect("page");
        seen.extend(page.hits.iter().map(|h| h.message.seq));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, sent, "every hit once, newest first");

    let relevance = MessageSearchParams {
        order: Some(SearchOrderParam::Relevance),
        ..params("standup")
    };
    assert_eq!(seqs(&bob, &relevance).await.len(), 5);
    let (status, code) = api_error(
        search(
            &bob,
            &MessageSearchParams {
                cursor: Some("b1".into()),
                ..relevance.clone()
            },
        )
        .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "invalid"),
        "a cursor of the other order"
    );

    let edited = sent[0];
    alice
        .edit_message(room, edited, "retro note")
        .await
        .expect("edit");
    alice.delete_message(room, sent[1]).await.expect("delete");
    assert_eq!(
        seqs(&bob, &params("standup")).await,
        sent[2..],
        "edited away and deleted: at once"
    );
    until_found(&bob, &params("retro"), &[edited]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_get_typed_errors() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    for query in [
        "/search/messages",
        "/search/messages?q=",
        "/search/messages?q=%21%21%21",
        "/search/messages?q=a&limit=x",
        "/search/messages?q=a&order=best",
        "/search/messages?q=a&cursor=zzz",
        "/search/messages?q=a&unknown=1",
        "/search/messages?q=a&conversation_id=not-a-uuid",
    ] {
        let response = raw_json(&alice, Method::GET, query, None).await;
        assert_eq!(response.status, 400, "{query}");
        let body: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
        assert_eq!(body["code"], "invalid", "{query}");
    }
    let long = "a".repeat(257);
    let response = raw_json(
        &alice,
        Method::GET,
        &format!("/search/messages?q={long}"),
        None,
    )
    .await;
    assert_eq!(response.status, 400);
    let words = "a+".repeat(17);
    let response = raw_json(
        &alice,
        Method::GET,
        &format!("/search/messages?q={words}"),
        None,
    )
    .await;
    assert_eq!(response.status, 400);
    let response = raw_json(
        &alice.anonymous(),
        Method::GET,
        "/search/messages?q=a",
        None,
    )
    .await;
    assert_eq!(response.status, 401);
    // A conversation that does not exist is the same answer as one the caller is not in.
    let (status, _) = api_error(
        search(
            &alice,
            &MessageSearchParams {
                conversation_id: Some(Uuid::from_u128(0x5ea2c4)),
                ..params("a")
            },
        )
        .await,
    );
    assert_eq!(status, 404);
}

/// `statement` on the PostgreSQL database at `url` (psql, as the cluster's helpers use).
fn psql(url: &str, statement: &str) {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-c", statement])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Scaled out, messages the index never saw (sent before it existed, or whose records the log
/// no longer holds) are found once the indexer's backfill has walked them: here a cluster on a
/// database whose index was emptied and whose log is new, so only the backfill can find them,
/// reading the bodies from Cassandra.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)"]
async fn messages_the_index_never_saw_are_found_once_the_backfill_walked_them() {
    assert!(
        crate::cluster::enabled(),
        "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)"
    );
    let env = crate::cluster::own_database("search_backfill");
    let url = env
        .iter()
        .find(|(k, _)| *k == "NATTER__POSTGRES__URL")
        .map(|(_, v)| v.clone())
        .expect("the database's URL");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut first = TestServer::spawn_with_env(&[], &env);
    let (alice, _) = user(&first, "alice").await;
    let (bob, bob_user) = user(&first, "bob").await;
    let room = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let mut sent = Vec::new();
    for text in ["walked one", "walked two", "walked three"] {
        sent.push(alice.send_text(room, text).await.expect("send").seq);
    }
    alice.delete_message(room, sent[1]).await.expect("delete");
    until_found(&bob, &params("walked"), &[sent[2], sent[0]]).await;
    first.kill();

    // As if the index had never seen them: no rows, the walk not begun.
    psql(
        &url,
        "DELETE FROM message_search; UPDATE search_backfill SET \
         conversation_id = '00000000-0000-0000-0000-000000000000', seq = 0, read = 0, \
         indexed = 0, started_at_ms = NULL, done_at_ms = NULL",
    );
    // A cluster on the same database with a log of its own (empty).
    let second = TestServer::spawn_with_env(&[], &env);
    let bob = second.client();
    bob.login(&bob_user.username, "correct horse battery staple")
        .await
        .expect("login");
    assert!(seqs(&bob, &params("zzz")).await.is_empty());
    until_found(&bob, &params("walked"), &[sent[2], sent[0]]).await;
    until_found(&bob, &params("three"), &[sent[2]]).await;
    assert!(seqs(&bob, &params("two")).await.is_empty(), "deleted");
}
