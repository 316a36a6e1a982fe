//! Sync cursors when transactions commit out of stamp order: a change whose stamp was taken
//! before the reader's cursor but committed after it must still reach the client, in this
//! page or the next. (A cursor read straight off the sequence loses it.) And readers never make
//! writers wait.

use std::time::Duration;

use natter_domain::ConversationId;
use natter_domain::model::SyncPage;
use natter_domain::ports::ConversationStore;
use natter_domain::values::GroupName;

use crate::support;

fn ids(page: &SyncPage) -> Vec<ConversationId> {
    page.changed.iter().map(|s| s.conversation.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_below_the_cursor_is_not_lost() {
    let store = support::store(4).await;
    let f = support::fixture(&store);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let slow = f.group(alice, &[bob]).await.id;
    let fast = f.group(alice, &[bob]).await.id;
    let start = store.changed_since(bob, 0).await.unwrap().cursor;

    // A writer takes its stamp and has not committed yet...
    let mut writer = support::connection().await;
    sqlx::query("BEGIN").execute(&mut writer).await.unwrap();
    sqlx::query(
        "UPDATE conversations SET name = 'late', changed_at = natter_change_stamp() WHERE id = $1",
    )
    .bind(slow.0)
    .execute(&mut writer)
    .await
    .unwrap();
    // ...while another change, with a larger stamp, commits (writers never wait for each other
    // or for readers).
    let renamed = tokio::time::timeout(
        Duration::from_secs(5),
        store.update_conversation(fast, Some(GroupName::parse("fast").unwrap()), None, 0),
    )
    .await
    .expect("an unrelated write is not held up by an open stamp");
    renamed.unwrap();

    // bob syncs meanwhile.
    let reader = {
        let store = store.clone();
        tokio::spawn(async move { store.changed_since(bob, start).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Writers are not held up by a waiting reader either.
    tokio::time::timeout(
        Duration::from_secs(5),
        store.update_conversation(fast, Some(GroupName::parse("faster").unwrap()), None, 0),
    )
    .await
    .expect("a reader does not block writers")
    .unwrap();

    sqlx::query("COMMIT").execute(&mut writer).await.unwrap();
    let page = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the reader finishes once the writer commits")
        .unwrap()
        .unwrap();
    assert!(ids(&page).contains(&fast), "{:?}", ids(&page));

    let next = store.changed_since(bob, page.cursor).await.unwrap();
    let seen_late = [&page, &next]
        .iter()
        .flat_map(|p| p.changed.iter())
        .any(|s| {
            s.conversation.id == slow
                && s.conversation.name.as_ref().map(|n| n.as_str()) == Some("late")
        });
    assert!(
        seen_late,
        "the late commit is in the page or after its cursor: {page:?} then {next:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_stamp_does_not_hold_readers() {
    let store = support::store(2).await;
    let f = support::fixture(&store);
    let id = support::group(&f).await;
    let bob = store.members(id).await.unwrap()[1].user_id;

    let mut writer = support::connection().await;
    sqlx::query("BEGIN").execute(&mut writer).await.unwrap();
    sqlx::query("UPDATE conversations SET changed_at = natter_change_stamp() WHERE id = $1")
        .bind(id.0)
        .execute(&mut writer)
        .await
        .unwrap();
    let reader = {
        let store = store.clone();
        tokio::spawn(async move { store.changed_since(bob, 0).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("ROLLBACK").execute(&mut writer).await.unwrap();
    let page = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("a rolled-back stamp releases the reader")
        .unwrap()
        .unwrap();
    assert_eq!(ids(&page), vec![id]);
}
