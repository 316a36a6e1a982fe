//! Cases for [`AccountStore`](natter_domain::ports::AccountStore): users, credentials, search,
//! sessions and refresh-token rotation with reuse detection.

use natter_domain::model::*;
use natter_domain::names::UserQuery;
use natter_domain::values::DisplayName;
use natter_domain::{SessionId, StoreError, UserId};

use crate::Stores;
use crate::support::*;

pub async fn create_and_fetch_user(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await;
    let bob = f.user("bob").await;
    assert_eq!(alice.username, f.username("alice"));
    assert_eq!(alice.last_seen_ms, None);
    assert_eq!(
        f.accounts.user(alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(f.accounts.user(UserId::new()).await.unwrap(), None);

    let (user, hash) = f
        .accounts
        .credentials(&alice.username)
        .await
        .unwrap()
        .expect("credentials");
    assert_eq!(user, alice);
    assert_eq!(hash, password_hash(alice.username.as_str()));
    assert_eq!(
        f.accounts.credentials(&f.username("nobody")).await.unwrap(),
        None
    );

    let mut found = f
        .accounts
        .users(&[bob.id, UserId::new(), alice.id])
        .await
        .unwrap();
    found.sort_by_key(|u| u.id);
    let mut expected = vec![alice, bob];
    expected.sort_by_key(|u| u.id);
    assert_eq!(found, expected);
    assert!(f.accounts.users(&[]).await.unwrap().is_empty());
}

pub async fn username_taken_is_conflict(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await;
    let again = f
        .accounts
        .create_user(NewUser {
            id: UserId::new(),
            username: alice.username.clone(),
            display_name: DisplayName::parse("Impostor").unwrap(),
            password_hash: "other".into(),
            created_at_ms: T0,
        })
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let (user, hash) = f
        .accounts
        .credentials(&alice.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user, hash),
        (alice.clone(), password_hash(alice.username.as_str()))
    );
}

pub async fn search_users_by_prefix(stores: Stores) {
    let f = Fixture::new(stores);
    for name in ["annabel", "ann", "bob", "anna", "a_x", "abx"] {
        f.user(name).await;
    }
    let names = |users: Vec<User>| {
        users
            .into_iter()
            .map(|u| u.username.into_inner())
            .collect::<Vec<_>>()
    };
    let tagged = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("{}{n}", f.tag))
            .collect::<Vec<_>>()
    };

    let found = f
        .accounts
        .search_users(&query(&format!("{}ann", f.tag)), 10)
        .await
        .unwrap();
    assert_eq!(names(found), tagged(&["ann", "anna", "annabel"]));
    let limited = f
        .accounts
        .search_users(&query(&format!("{}ann", f.tag)), 2)
        .await
        .unwrap();
    assert_eq!(names(limited), tagged(&["ann", "anna"]));
    // LIKE wildcards in the prefix are literal characters.
    let underscore = f
        .accounts
        .search_users(&query(&format!("{}a_", f.tag)), 10)
        .await
        .unwrap();
    assert_eq!(names(underscore), tagged(&["a_x"]));
    assert!(
        f.accounts
            .search_users(&query(&format!("{}%", f.tag)), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.accounts
            .search_users(&query(&format!("{}zz", f.tag)), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = f.accounts.search_users(&query(&f.tag), 50).await.unwrap();
    assert_eq!(
        names(all),
        tagged(&["a_x", "abx", "ann", "anna", "annabel", "bob"])
    );
}

/// A user query as the service parses it.
fn query(text: &str) -> UserQuery {
    UserQuery::parse(text).expect("query")
}

/// A user of the case named `name` whose display name is `display`.
async fn user_named(f: &Fixture, name: &str, display: &str) -> User {
    let username = f.username(name);
    f.accounts
        .create_user(NewUser {
            id: UserId::new(),
            password_hash: password_hash(username.as_str()),
            display_name: DisplayName::parse(display).unwrap(),
            username,
            created_at_ms: T0,
        })
        .await
        .expect("create user")
}

/// Display names are found by the beginnings of their words, folded like message search, from
/// creation and after each rename. Every display name and query holds the case's tag as a word,
/// so only this case's users match (cases share a database).
pub async fn search_users_by_display_name(stores: Stores) {
    let f = Fixture::new(stores);
    let tag = f.tag.clone();
    for (name, display) in [
        ("ann", "Ann Smith"),
        ("bel", "Annabel Smithers"),
        ("jon", "Ann Jones"),
        ("elo", "Éloïse Martin"),
        ("smi", "Smith, Ann"),
        ("tar", "山田 太郎"),
    ] {
        user_named(&f, name, &format!("{display} {tag}")).await;
    }
    let find = |text: String, limit: u32| {
        let accounts = f.accounts.clone();
        let tag = tag.clone();
        async move {
            accounts
                .search_users(&query(&text), limit)
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.username.into_inner()[tag.len()..].to_owned())
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(
        find(format!("ann {tag}"), 10).await,
        ["ann", "bel", "jon", "smi"]
    );
    assert_eq!(find(format!("ann {tag}"), 2).await, ["ann", "bel"]);
    assert_eq!(
        find(format!("Ann Smi {tag}"), 10).await,
        ["ann", "bel", "smi"],
        "every word begins a word, in any order"
    );
    assert_eq!(
        find(format!("{tag} SMITH annabel"), 10).await,
        ["bel"],
        "all the words"
    );
    for elo in ["élo", "ELO", "ｅｌｏ", "eloise mart"] {
        assert_eq!(find(format!("{elo} {tag}"), 10).await, ["elo"], "{elo}");
    }
    assert_eq!(find(format!("山田 {tag}"), 10).await, ["tar"]);
    assert!(
        find(format!("nn {tag}"), 10).await.is_empty(),
        "only beginnings"
    );
    assert!(find(format!("ann zed {tag}"), 10).await.is_empty());

    // A rename replaces the words.
    let jon = f
        .accounts
        .credentials(&f.username("jon"))
        .await
        .unwrap()
        .unwrap()
        .0;
    let renamed = DisplayName::parse(&format!("Bob Jones {tag}")).unwrap();
    f.accounts.set_display_name(jon.id, &renamed).await.unwrap();
    assert_eq!(find(format!("ann {tag}"), 10).await, ["ann", "bel", "smi"]);
    assert_eq!(find(format!("bob jo {tag}"), 10).await, ["jon"]);
    assert_eq!(find(format!("jones {tag}"), 10).await, ["jon"]);

    // The exact username first, then the usernames it begins, then display names only.
    user_named(&f, "z", "Zed").await;
    user_named(&f, "zed", "Zed").await;
    user_named(&f, "a", &format!("{tag}zora")).await;
    user_named(&f, "b", &format!("Other {tag}zz {tag}zy")).await;
    user_named(&f, "zoe", &format!("{tag}zoe")).await;
    assert_eq!(
        find(format!("{tag}z"), 10).await,
        ["z", "zed", "zoe", "a", "b"],
        "each user once"
    );
    assert_eq!(find(format!("{tag}z"), 4).await, ["z", "zed", "zoe", "a"]);
    assert_eq!(find(format!("{tag}ZE"), 10).await, ["zed"]);
    assert_eq!(find(format!("{tag}zo"), 10).await, ["zoe", "a"]);

    // A longer word than the tag leads; the tag and the rest are checked on its rows.
    user_named(&f, "max", &format!("Maximiliana Ann {tag}")).await;
    assert_eq!(find(format!("maximilian ann {tag}"), 10).await, ["max"]);
    assert!(find(format!("maximilian bob {tag}"), 10).await.is_empty());
}

pub async fn set_display_name_and_last_seen(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await;
    let name = DisplayName::parse("Alice Liddell").unwrap();
    let renamed = f.accounts.set_display_name(alice.id, &name).await.unwrap();
    assert_eq!(
        renamed,
        User {
            display_name: name.clone(),
            ..alice.clone()
        }
    );
    assert_eq!(
        f.accounts
            .user(alice.id)
            .await
            .unwrap()
            .unwrap()
            .display_name,
        name
    );
    let missing = f.accounts.set_display_name(UserId::new(), &name).await;
    assert_eq!(missing, Err(StoreError::NotFound));

    let bob = f.user("bob").await;
    let seen = [(alice.id, T0 + 5), (bob.id, T0 + 7), (UserId::new(), T0)];
    f.accounts.record_last_seen(&seen).await.unwrap();
    assert_eq!(
        f.accounts
            .user(alice.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_ms,
        Some(T0 + 5)
    );
    assert_eq!(
        f.accounts.user(bob.id).await.unwrap().unwrap().last_seen_ms,
        Some(T0 + 7)
    );
    // An older time never overwrites a newer one.
    f.accounts
        .record_last_seen(&[(alice.id, T0 + 1)])
        .await
        .unwrap();
    assert_eq!(
        f.accounts
            .user(alice.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_ms,
        Some(T0 + 5)
    );
}

pub async fn sessions_lifecycle(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await;
    let bob = f.user("bob").await;
    // Created out of order: listing is by creation time, not insertion.
    let later = f.new_session(alice.id, T0 + 20, token(1)).await;
    let earlier = f.new_session(alice.id, T0 + 10, token(2)).await;
    let bobs = f.new_session(bob.id, T0, token(3)).await;

    assert_eq!(
        f.accounts.session(later.id).await.unwrap(),
        Some(later.clone())
    );
    assert_eq!(
        f.accounts.sessions(alice.id).await.unwrap(),
        vec![earlier.clone(), later.clone()]
    );
    assert_eq!(
        f.accounts.sessions(bob.id).await.unwrap(),
        vec![bobs.clone()]
    );

    f.accounts.revoke_session(earlier.id).await.unwrap();
    assert_eq!(f.accounts.session(earlier.id).await.unwrap(), None);
    assert_eq!(
        f.accounts.sessions(alice.id).await.unwrap(),
        vec![later.clone()]
    );
    // Idempotent, also for ids that never existed.
    f.accounts.revoke_session(earlier.id).await.unwrap();
    f.accounts.revoke_session(SessionId::new()).await.unwrap();
    assert_eq!(f.accounts.sessions(alice.id).await.unwrap(), vec![later]);
    assert_eq!(f.accounts.session(bobs.id).await.unwrap(), Some(bobs));
}

pub async fn refresh_rotation_and_reuse_detection(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await;
    let (h1, h2, h3, h4) = (token(1), token(2), token(3), token(4));
    let session = f.new_session(alice.id, T0, h1).await;

    let first = f
        .accounts
        .rotate_refresh(h1, h2, T0 + 100, SessionCutoff::NONE)
        .await
        .unwrap();
    let expected = Session {
        last_used_at_ms: T0 + 100,
        ..session.clone()
    };
    assert_eq!(first, RefreshOutcome::Rotated(expected.clone()));
    assert_eq!(
        f.accounts.session(session.id).await.unwrap(),
        Some(expected)
    );

    let second = f
        .accounts
        .rotate_refresh(h2, h3, T0 + 200, SessionCutoff::NONE)
        .await
        .unwrap();
    assert!(
        matches!(&second, RefreshOutcome::Rotated(s) if s.id == session.id && s.last_used_at_ms == T0 + 200),
        "{second:?}"
    );

    // h1 was spent: presenting it again means it leaked. The session dies.
    let replay = f
        .accounts
        .rotate_refresh(h1, h4, T0 + 300, SessionCutoff::NONE)
        .await
        .unwrap();
    assert_eq!(
        replay,
        RefreshOutcome::Reused {
            session_id: session.id,
            user_id: session.user_id
        }
    );
    assert_eq!(f.accounts.session(session.id).await.unwrap(), None);
    assert!(f.accounts.sessions(alice.id).await.unwrap().is_empty());
    // Even the current token of the revoked session no longer works.
    assert_eq!(
        f.accounts
            .rotate_refresh(h3, h4, T0 + 400, SessionCutoff::NONE)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    assert_eq!(
        f.accounts
            .rotate_refresh(token(9), token(10), T0, SessionCutoff::NONE)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
}

pub async fn refresh_after_revoke_is_invalid(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await;
    let (a1, b1) = (token(1), token(2));
    let a = f.new_session(alice.id, T0, a1).await;
    let b = f.new_session(alice.id, T0 + 1, b1).await;
    f.accounts.revoke_session(a.id).await.unwrap();
    assert_eq!(
        f.accounts
            .rotate_refresh(a1, token(3), T0 + 5, SessionCutoff::NONE)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    // The other session is untouched.
    let rotated = f
        .accounts
        .rotate_refresh(b1, token(4), T0 + 5, SessionCutoff::NONE)
        .await
        .unwrap();
    assert_eq!(
        rotated,
        RefreshOutcome::Rotated(Session {
            last_used_at_ms: T0 + 5,
            ..b
        })
    );
}

pub async fn set_password_revokes_the_other_sessions(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await;
    let bob = f.user("bob").await;
    let kept = f.new_session(alice.id, T0, token(1)).await;
    let other = f.new_session(alice.id, T0 + 1, token(2)).await;
    let gone = f.new_session(alice.id, T0 + 2, token(3)).await;
    let bobs = f.new_session(bob.id, T0, token(4)).await;
    f.accounts.revoke_session(gone.id).await.unwrap();

    let revoked = f
        .accounts
        .set_password(alice.id, "new-hash", kept.id, T0 + 10)
        .await
        .unwrap();
    assert_eq!(
        revoked,
        vec![other.id],
        "only sessions still active, never the kept one"
    );
    assert_eq!(f.accounts.sessions(alice.id).await.unwrap(), vec![kept]);
    assert_eq!(f.accounts.sessions(bob.id).await.unwrap(), vec![bobs]);
    let (_, hash) = f
        .accounts
        .credentials(&alice.username)
        .await
        .unwrap()
        .expect("credentials");
    assert_eq!(hash, "new-hash");

    let missing = f
        .accounts
        .set_password(UserId::new(), "x", SessionId::new(), T0)
        .await;
    assert_eq!(missing, Err(StoreError::NotFound));
}

pub async fn refresh_past_the_cutoff_expires_the_session(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await;
    let (h1, h2, h3) = (token(1), token(2), token(3));
    // Each last used when created.
    let old = f.new_session(alice.id, T0, h1).await;
    let idle = f.new_session(alice.id, T0 + 50, h2).await;
    let fresh = f.new_session(alice.id, T0 + 100, h3).await;

    // Absolute lifetime: created before T0 + 10 is too old, however recently used.
    let cutoff = SessionCutoff {
        created_after_ms: T0 + 10,
        used_after_ms: T0 + 60,
    };
    let outcome = f
        .accounts
        .rotate_refresh(h1, token(11), T0 + 200, cutoff)
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Invalid);
    // Idle: last used before T0 + 60.
    let outcome = f
        .accounts
        .rotate_refresh(h2, token(12), T0 + 200, cutoff)
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Invalid);
    assert_eq!(f.accounts.session(old.id).await.unwrap(), None, "revoked");
    assert_eq!(f.accounts.session(idle.id).await.unwrap(), None, "revoked");

    let outcome = f
        .accounts
        .rotate_refresh(h3, token(13), T0 + 200, cutoff)
        .await
        .unwrap();
    let RefreshOutcome::Rotated(session) = outcome else {
        panic!("a live session rotates: {outcome:?}")
    };
    assert_eq!(session.id, fresh.id);
    assert_eq!(session.last_used_at_ms, T0 + 200);
    assert_eq!(f.accounts.sessions(alice.id).await.unwrap(), vec![session]);
}
