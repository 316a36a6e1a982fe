//! Accounts over REST: registration and login errors, several devices, refresh-token rotation
//! with reuse detection, logout and revocation, profiles, user search, presence visibility and
//! the auth rate limit.

use std::time::Duration;

use natter_sdk::protocol::{AuthTokens, ErrorBody, LoginRequest, RegisterRequest, SessionList};
use natter_sdk::{Client, Method};
use serde_json::json;
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{api_error, raw_json, user, username};

/// `POST /auth/refresh` with an explicit refresh token, bypassing any client state.
async fn refresh_with(client: &Client, refresh_token: &str) -> natter_sdk::RawResponse {
    raw_json(
        &client.anonymous(),
        Method::POST,
        "/auth/refresh",
        Some(json!({ "refresh_token": refresh_token })),
    )
    .await
}

/// The status and code of `GET /users/me` with exactly this access token (no refresh).
async fn me_with(client: &Client, access_token: &str) -> Result<(), (u16, String)> {
    match client.with_token(access_token).me().await {
        Ok(_) => Ok(()),
        Err(err) => Err((
            err.status().unwrap_or(0),
            err.code().unwrap_or_default().to_owned(),
        )),
    }
}

fn unauthenticated() -> Result<(), (u16, String)> {
    Err((401, "unauthenticated".to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_creates_a_user_and_rejects_duplicates_and_bad_input() {
    let server = TestServer::spawn();
    let client = server.client();
    let name = username("Reg");
    let response = raw_json(
        &client,
        Method::POST,
        "/auth/register",
        Some(json!({"username": name, "password": "correct horse battery staple", "display_name": "Reggie", "device_name": "laptop"})),
    )
    .await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let tokens: AuthTokens = response.json().expect("AuthTokens");
    assert_eq!(
        tokens.user.username,
        name.to_ascii_lowercase(),
        "usernames are lower-cased"
    );
    assert_eq!(tokens.user.display_name, "Reggie");
    assert!(!tokens.access_token.is_empty() && !tokens.refresh_token.is_empty());
    assert!(tokens.expires_in_s > 0);
    let me = client
        .with_token(&tokens.access_token)
        .me()
        .await
        .expect("the new token works");
    assert_eq!(me.id, tokens.user.id);

    // The same name again, in any case, is taken.
    for taken in [name.clone(), name.to_ascii_uppercase()] {
        let (status, code) = api_error(
            client
                .anonymous()
                .register(&taken, "another correct horse battery")
                .await,
        );
        assert_eq!((status, code.as_str()), (409, "conflict"), "{taken}");
    }

    // Invalid usernames and passwords.
    for (bad_name, password) in [
        ("ab", "correct horse battery staple"),
        ("has space", "correct horse battery staple"),
        ("-dash", "correct horse battery staple"),
        ("ålice", "correct horse battery staple"),
        (&"a".repeat(33) as &str, "correct horse battery staple"),
        (&username("okname") as &str, "short"),
        (&username("okname") as &str, &"p".repeat(257) as &str),
    ] {
        let (status, code) = api_error(client.anonymous().register(bad_name, password).await);
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid"),
            "{bad_name:?} / {} chars",
            password.len()
        );
    }
    // An invalid display name is refused too, and nothing was created by any of the above.
    let request = RegisterRequest {
        username: username("dn"),
        password: "correct horse battery staple".into(),
        display_name: Some("   ".into()),
        device_name: None,
    };
    let (status, code) = api_error(client.anonymous().register_with(&request).await);
    assert_eq!((status, code.as_str()), (400, "invalid"));
    let (status, code) = api_error(
        client
            .anonymous()
            .login(&request.username, "correct horse battery staple")
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (401, "bad_credentials"),
        "a refused registration creates no user"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_accepts_the_password_and_refuses_wrong_ones_alike() {
    let server = TestServer::spawn();
    let (_alice, alice_user) = user(&server, "alice").await;
    let client = server.client();
    let tokens = client
        .login(
            &alice_user.username.to_ascii_uppercase(),
            "correct horse battery staple",
        )
        .await
        .expect("login, any case");
    assert_eq!(tokens.user.id, alice_user.id);
    assert_eq!(client.me().await.expect("me").id, alice_user.id);

    let wrong = raw_json(
        &server.client(),
        Method::POST,
        "/auth/login",
        Some(json!({"username": alice_user.username, "password": "wrong-password"})),
    )
    .await;
    let unknown = raw_json(
        &server.client(),
        Method::POST,
        "/auth/login",
        Some(json!({"username": username("nobody"), "password": "wrong-password"})),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let (wrong, unknown): (ErrorBody, ErrorBody) = (wrong.json().unwrap(), unknown.json().unwrap());
    assert_eq!(wrong.code, "bad_credentials");
    assert_eq!(
        wrong, unknown,
        "an unknown user and a wrong password must look the same"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_devices_have_their_own_sessions() {
    let server = TestServer::spawn();
    let name = username("multi");
    let laptop = server.client();
    let first = laptop
        .register_with(&RegisterRequest {
            username: name.clone(),
            password: "correct horse battery staple".into(),
            display_name: None,
            device_name: Some("laptop".into()),
        })
        .await
        .expect("register");
    let phone = server.client();
    let second = phone
        .login_with(&LoginRequest {
            username: name.clone(),
            password: "correct horse battery staple".into(),
            device_name: Some("phone".into()),
        })
        .await
        .expect("login");
    assert_ne!(first.session_id, second.session_id);

    let check = |list: &SessionList, current: Uuid| {
        assert_eq!(list.sessions.len(), 2, "{list:?}");
        for session in &list.sessions {
            assert_eq!(session.current, session.id == current, "{list:?}");
            let expected = if session.id == first.session_id {
                "laptop"
            } else {
                "phone"
            };
            assert_eq!(session.device_name, expected);
        }
        assert!(list.sessions.iter().any(|s| s.id == first.session_id));
        assert!(list.sessions.iter().any(|s| s.id == second.session_id));
    };
    check(
        &laptop.sessions().await.expect("sessions"),
        first.session_id,
    );
    check(
        &phone.sessions().await.expect("sessions"),
        second.session_id,
    );

    // The laptop signs the phone out.
    laptop
        .revoke_session(second.session_id)
        .await
        .expect("revoke the phone");
    assert_eq!(
        me_with(&server.client(), &second.access_token).await,
        unauthenticated()
    );
    let refused = refresh_with(&laptop, &second.refresh_token).await;
    assert_eq!(refused.status, 401, "a revoked session cannot refresh");
    let left = laptop.sessions().await.expect("sessions");
    assert_eq!(left.sessions.len(), 1);
    assert_eq!(left.sessions[0].id, first.session_id);
    assert!(left.sessions[0].current);
    assert!(
        laptop.me().await.is_ok(),
        "the laptop's own session is untouched"
    );

    // Someone else's session, or no session at all: 404, and it stays alive.
    let (other, _) = user(&server, "other").await;
    let other_session = other.sessions().await.expect("sessions").sessions[0].id;
    let (status, code) = api_error(laptop.revoke_session(other_session).await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, code) = api_error(laptop.revoke_session(Uuid::now_v7()).await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(
        other.me().await.is_ok(),
        "the other user's session survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_a_reused_token_revokes_the_session() {
    let server = TestServer::spawn();
    let client = server.client();
    let t0 = client
        .register(&username("rot"), "correct horse battery staple")
        .await
        .expect("register");

    let r1 = refresh_with(&client, &t0.refresh_token).await;
    assert_eq!(r1.status, 200);
    let t1: AuthTokens = r1.json().unwrap();
    assert_eq!(t1.session_id, t0.session_id, "refresh keeps the session");
    assert_ne!(
        t1.refresh_token, t0.refresh_token,
        "refresh rotates the refresh token"
    );
    assert_eq!(me_with(&client, &t1.access_token).await, Ok(()));

    // The new refresh token works once.
    let r2 = refresh_with(&client, &t1.refresh_token).await;
    assert_eq!(r2.status, 200);
    let t2: AuthTokens = r2.json().unwrap();
    assert_eq!(me_with(&client, &t2.access_token).await, Ok(()));

    // Presenting a spent one is theft: 401, and the whole session is revoked.
    let reused = refresh_with(&client, &t1.refresh_token).await;
    assert_eq!(reused.status, 401);
    assert_eq!(
        reused.error_body().expect("ErrorBody").code,
        "unauthenticated"
    );
    assert_eq!(
        me_with(&client, &t2.access_token).await,
        unauthenticated(),
        "the newest access token dies with the session"
    );
    assert_eq!(
        refresh_with(&client, &t2.refresh_token).await.status,
        401,
        "the newest refresh token too"
    );
    // A refresh token that never existed.
    assert_eq!(
        refresh_with(&client, "not-a-refresh-token").await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_access_and_refresh_tokens() {
    let server = TestServer::spawn();
    let client = server.client();
    let tokens = client
        .register(&username("bye"), "correct horse battery staple")
        .await
        .expect("register");
    let other_device = server.client();
    other_device
        .login(&tokens.user.username, "correct horse battery staple")
        .await
        .expect("second device");

    client.logout().await.expect("logout");
    assert!(
        client.access_token().is_none(),
        "the SDK forgets the tokens"
    );
    assert_eq!(
        me_with(&client, &tokens.access_token).await,
        unauthenticated()
    );
    assert_eq!(
        refresh_with(&client, &tokens.refresh_token).await.status,
        401
    );
    // Logging out again with the dead token is refused as well.
    let again = client.with_token(&tokens.access_token).logout().await;
    assert_eq!(api_error(again), (401, "unauthenticated".to_owned()));
    // Only that session ended.
    let sessions = other_device
        .sessions()
        .await
        .expect("the other device still works");
    assert_eq!(sessions.sessions.len(), 1);
    assert_ne!(sessions.sessions[0].id, tokens.session_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_can_be_read_and_renamed() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let me = alice.me().await.expect("me");
    assert_eq!(me.id, alice_user.id);
    assert_eq!(
        me.display_name, alice_user.username,
        "the display name defaults to the username"
    );

    let renamed = alice
        .update_profile("  Alice Liddell  ")
        .await
        .expect("rename");
    assert_eq!(renamed.display_name, "Alice Liddell", "trimmed");
    assert_eq!(alice.me().await.unwrap().display_name, "Alice Liddell");
    assert_eq!(
        bob.user(alice_user.id).await.unwrap().display_name,
        "Alice Liddell",
        "others see it"
    );

    for bad in ["", "   ", "tab\u{7}bell", &"x".repeat(65)] {
        let (status, code) = api_error(alice.update_profile(bad).await);
        assert_eq!((status, code.as_str()), (400, "invalid"), "{bad:?}");
    }
    assert_eq!(
        alice.me().await.unwrap().display_name,
        "Alice Liddell",
        "refused updates change nothing"
    );

    let (status, code) = api_error(alice.user(Uuid::now_v7()).await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_users_by_case_insensitive_prefix() {
    let server = TestServer::spawn();
    let (searcher, _) = user(&server, "searcher").await;
    let prefix = format!("qz{}", std::process::id() % 10_000);
    let mut ids = Vec::new();
    for suffix in ["Anna", "anton", "Bert"] {
        let tokens = server
            .client()
            .register(&format!("{prefix}{suffix}"), "correct horse battery staple")
            .await
            .expect("register");
        ids.push(tokens.user.id);
    }
    let found = searcher
        .search_users(&format!("{}AN", prefix.to_ascii_uppercase()), None)
        .await
        .expect("search");
    let mut found_ids: Vec<Uuid> = found.users.iter().map(|u| u.id).collect();
    found_ids.sort();
    let mut expected = vec![ids[0], ids[1]];
    expected.sort();
    assert_eq!(found_ids, expected, "{found:?}");
    assert!(
        found.users.iter().all(|u| u.online.is_none()),
        "search shows no presence"
    );

    assert_eq!(
        searcher
            .search_users(&prefix, None)
            .await
            .unwrap()
            .users
            .len(),
        3
    );
    assert_eq!(
        searcher
            .search_users(&prefix, Some(1))
            .await
            .unwrap()
            .users
            .len(),
        1,
        "limit"
    );
    assert!(
        searcher
            .search_users("zzzzunknownprefix", None)
            .await
            .unwrap()
            .users
            .is_empty()
    );

    for empty in ["", "   "] {
        let (status, code) = api_error(searcher.search_users(empty, None).await);
        assert_eq!((status, code.as_str()), (400, "invalid"), "{empty:?}");
    }
    let (status, _) = api_error(searcher.anonymous().search_users(&prefix, None).await);
    assert_eq!(status, 401, "search needs a session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_users_by_the_words_of_their_display_name() {
    let server = TestServer::spawn();
    let (searcher, _) = user(&server, "searcher").await;
    // A word only this test's users have (servers of a cluster run share their database).
    let tag = username("w");
    let register = |name: &str, display: Option<String>| {
        let client = server.client();
        let request = RegisterRequest {
            username: format!("{tag}{name}"),
            password: "correct horse battery staple".into(),
            display_name: display,
            device_name: None,
        };
        async move {
            client.register_with(&request).await.expect("register");
            client
        }
    };
    register("ann", Some(format!("Ann Smith {tag}"))).await;
    register("elo", Some(format!("Éloïse Martin {tag}"))).await;
    let bob = register("bob", Some("Bob".into())).await;
    let find = |text: String, limit: Option<u32>| {
        let searcher = searcher.clone();
        let tag = tag.clone();
        async move {
            searcher
                .search_users(&text, limit)
                .await
                .expect("search")
                .users
                .into_iter()
                .map(|u| u.username[tag.len()..].to_owned())
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(find(format!("ann {tag}"), None).await, ["ann"]);
    assert_eq!(find(format!("Ann Smi {tag}"), None).await, ["ann"]);
    assert_eq!(find(format!("smith ANN {tag}"), None).await, ["ann"]);
    for elo in ["élo", "ELO", "ｅｌｏ", "Eloïse"] {
        assert_eq!(find(format!("{elo} {tag}"), None).await, ["elo"], "{elo}");
    }
    assert!(
        find(format!("nn {tag}"), None).await.is_empty(),
        "beginnings only"
    );
    // Chinese characters written together stand together in the name, in that order.
    register("li", Some(format!("李明华 {tag}"))).await;
    assert_eq!(find(format!("李明 {tag}"), None).await, ["li"]);
    assert_eq!(find(format!("明华 {tag}"), None).await, ["li"]);
    assert!(
        find(format!("明李 {tag}"), None).await.is_empty(),
        "another order"
    );
    assert!(
        find(format!("李华 {tag}"), None).await.is_empty(),
        "not together"
    );
    assert_eq!(
        find(format!("李 华 {tag}"), None).await,
        ["li"],
        "apart in the query"
    );

    // Usernames by prefix as before: the tag begins all three (Bob's name has no tag).
    assert_eq!(
        find(tag.to_uppercase(), None).await,
        ["ann", "bob", "elo", "li"]
    );
    assert_eq!(find(tag.clone(), Some(2)).await, ["ann", "bob"]);

    // A rename is found at once, and the old name no more.
    bob.update_profile(&format!("Annie Jones {tag}"))
        .await
        .expect("rename");
    assert_eq!(find(format!("ann {tag}"), None).await, ["ann", "bob"]);
    assert!(find(format!("bob {tag}"), None).await.is_empty());

    // The exact username first, then the usernames it begins, then display names alone.
    register("zed", Some("Zed".into())).await;
    register("zedd", Some("Zed".into())).await;
    register("amy", Some(format!("{tag}zedekiah"))).await;
    assert_eq!(
        find(format!("{tag}zed"), None).await,
        ["zed", "zedd", "amy"]
    );

    let words = vec!["a"; 17].join(" ");
    let (status, code) = api_error(searcher.search_users(&words, None).await);
    assert_eq!((status, code.as_str()), (400, "invalid"), "17 words");
    let (status, code) = api_error(searcher.search_users(&"a".repeat(257), None).await);
    assert_eq!((status, code.as_str()), (400, "invalid"), "257 characters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_visible_only_to_contacts() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (carol, _) = user(&server, "carol").await;

    let seen = alice.user(bob_user.id).await.expect("user");
    assert_eq!(seen.online, None, "strangers see no presence: {seen:?}");
    assert_eq!(seen.last_seen_ms, None);
    assert_eq!(
        alice.me().await.unwrap().online,
        Some(false),
        "you always see your own presence"
    );

    // An unsolicited direct message shows the sender's presence, not the recipient's.
    let direct = alice
        .create_direct(bob_user.id)
        .await
        .expect("direct")
        .conversation
        .id;
    alice.send_text(direct, "hi, stranger").await.expect("send");
    let unsolicited = alice.user(bob_user.id).await.unwrap();
    assert_eq!(
        (unsolicited.online, unsolicited.last_seen_ms),
        (None, None),
        "bob has not replied: alice may not watch him"
    );
    assert_eq!(bob.user(alice_user.id).await.unwrap().online, Some(false));
    // Bob replies: now alice sees him too.
    bob.send_text(direct, "hello").await.expect("reply");
    assert_eq!(
        alice.user(bob_user.id).await.unwrap().online,
        Some(false),
        "a contact, offline"
    );

    let session = bob.connect().await.expect("bob connects");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if alice.user(bob_user.id).await.unwrap().online == Some(true) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never appeared online to alice"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stranger_view = carol.user(bob_user.id).await.unwrap();
    assert_eq!(
        (stranger_view.online, stranger_view.last_seen_ms),
        (None, None),
        "still hidden from strangers"
    );
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_are_rate_limited() {
    // 4 per minute, burst 2 (the CLI's rule: half the rate, at least 1).
    let server = TestServer::spawn_with(&["--auth-per-minute", "4"]);
    let (_victim, victim) = user(&server, "victim").await;
    let attempt = |name: String, password: &'static str| {
        let client = server.client();
        async move {
            raw_json(
                &client,
                Method::POST,
                "/auth/login",
                Some(json!({"username": name, "password": password})),
            )
            .await
        }
    };
    let mut statuses = Vec::new();
    let limited = loop {
        let response = attempt(victim.username.clone(), "wrong-password").await;
        statuses.push(response.status);
        match response.status {
            401 => assert_eq!(response.error_body().unwrap().code, "bad_credentials"),
            429 => break response,
            other => panic!("unexpected status {other}"),
        }
        assert!(statuses.len() < 10, "never rate limited: {statuses:?}");
    };
    assert!(
        statuses.len() >= 2,
        "the first attempt must not be limited: {statuses:?}"
    );
    let body = limited.error_body().expect("ErrorBody");
    assert_eq!(body.code, "rate_limited");
    let retry_after_ms = body.retry_after_ms.expect("retry_after_ms");
    assert!(
        retry_after_ms > 0 && retry_after_ms <= 60_000,
        "{retry_after_ms}"
    );
    let header = limited
        .headers
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .to_owned();
    let seconds: u64 = header.parse().expect("Retry-After in seconds");
    assert!(
        seconds >= 1 && seconds * 1000 >= retry_after_ms,
        "{seconds}s vs {retry_after_ms}ms"
    );

    // The right password is limited too (the limit is per username, before checking) ...
    assert_eq!(
        attempt(victim.username.clone(), "correct horse battery staple")
            .await
            .status,
        429
    );
    // ... and other usernames are not affected.
    let other = attempt(username("someoneelse"), "wrong-password").await;
    assert_eq!(other.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_responses_are_never_cached() {
    let server = TestServer::spawn();
    let client = server.client();
    let name = username("cache");
    let credentials = json!({"username": name, "password": "correct horse battery staple"});
    let registered = raw_json(
        &client,
        Method::POST,
        "/auth/register",
        Some(credentials.clone()),
    )
    .await;
    let logged_in = raw_json(&client, Method::POST, "/auth/login", Some(credentials)).await;
    let tokens: AuthTokens = logged_in.json().expect("AuthTokens");
    let refreshed = refresh_with(&client, &tokens.refresh_token).await;
    for (route, response) in [
        ("register", registered),
        ("login", logged_in),
        ("refresh", refreshed),
    ] {
        assert!(response.status < 300, "{route}: {}", response.status);
        assert_eq!(response.headers["cache-control"], "no-store", "{route}");
        assert_eq!(response.headers["pragma"], "no-cache", "{route}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_passwords_are_refused_at_registration() {
    let server = TestServer::spawn();
    let client = server.client();
    let name = username("weak");
    for weak in ["password", "12345678", "password123", name.as_str()] {
        let response = raw_json(
            &client,
            Method::POST,
            "/auth/register",
            Some(json!({"username": name, "password": weak})),
        )
        .await;
        assert_eq!(response.status, 400, "{weak}");
        let body = response.error_body().expect("error body");
        assert_eq!(body.code, "weak_password", "{weak}");
        assert!(
            body.message.contains("too easy to guess"),
            "{}",
            body.message
        );
    }
    let (status, code) = api_error(client.login(&name, "password").await);
    assert_eq!(
        (status, code.as_str()),
        (401, "bad_credentials"),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let server = TestServer::spawn();
    let (laptop, alice) = user(&server, "alice").await;
    let phone = server.client();
    phone
        .login(&alice.username, "correct horse battery staple")
        .await
        .expect("second device");
    let phone_tokens = (
        phone.access_token().unwrap(),
        phone.refresh_token().unwrap(),
    );
    let new_password = "violet kettle under the moss";

    // A wrong current password, a weak or invalid new one, no token: refused, nothing changes.
    let (status, code) = api_error(
        laptop
            .change_password("not my password", new_password)
            .await,
    );
    assert_eq!((status, code.as_str()), (401, "bad_credentials"));
    let (status, code) = api_error(
        laptop
            .change_password("correct horse battery staple", "12345678")
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "weak_password"));
    let (status, code) = api_error(
        laptop
            .change_password("correct horse battery staple", "short")
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "invalid"));
    let (status, code) = api_error(
        server
            .client()
            .change_password("correct horse battery staple", new_password)
            .await,
    );
    assert_eq!((status, code.as_str()), (401, "unauthenticated"));
    assert_eq!(me_with(&phone, &phone_tokens.0).await, Ok(()));

    laptop
        .change_password("correct horse battery staple", new_password)
        .await
        .expect("changed");
    assert_eq!(laptop.me().await.expect("this session stays").id, alice.id);
    assert_eq!(me_with(&phone, &phone_tokens.0).await, unauthenticated());
    assert_eq!(refresh_with(&phone, &phone_tokens.1).await.status, 401);
    assert_eq!(
        laptop.sessions().await.expect("sessions").sessions.len(),
        1,
        "only the laptop's session is left"
    );

    let (status, code) = api_error(
        server
            .client()
            .login(&alice.username, "correct horse battery staple")
            .await,
    );
    assert_eq!((status, code.as_str()), (401, "bad_credentials"));
    server
        .client()
        .login(&alice.username, new_password)
        .await
        .expect("the new password works");
}
