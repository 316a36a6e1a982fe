//! Session behaviour against a scripted mock server (see `mock.rs`): what can be proven without
//! the real server. End-to-end tests against natter itself live with the server.

mod mock;

use std::time::Duration;

use mock::{CONV, Mock, Script};
use natter_protocol::{ClientFrame, ServerFrame};
use natter_sdk::{Client, ConnectionState, Error, Session, SessionConfig};

const WAIT: Duration = Duration::from_secs(15);

async fn connect(mock: &Mock, config: SessionConfig) -> Session {
    let client = Client::new(&mock.url).unwrap().with_token("good");
    client.connect_with(config).await.unwrap()
}

fn fast() -> SessionConfig {
    SessionConfig {
        command_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        ..SessionConfig::default()
    }
}

async fn next_message(session: &Session) -> (i64, String) {
    match session.next_event_timeout(WAIT).await.unwrap() {
        ServerFrame::MessageNew { message } => (message.mod_seq, message.text),
        other => panic!("unexpected event {other:?}"),
    }
}

async fn assert_no_event(session: &Session) {
    let event = session.next_event_timeout(Duration::from_millis(200)).await;
    assert!(matches!(event, Err(Error::Timeout)), "unexpected {event:?}");
}

#[tokio::test]
async fn commands_resolve_with_their_ack_and_events_stream() {
    let mock = Mock::spawn(Script::default()).await;
    let session = connect(&mock, fast()).await;
    assert_eq!(session.state(), ConnectionState::Connected);
    assert_eq!(session.hello().unwrap().user_id, mock::USER);

    let sent = session.send(CONV, "c1", "hello").await.unwrap();
    assert_eq!((sent.seq, sent.text.as_str()), (1, "hello"));
    assert_eq!(next_message(&session).await, (1, "hello".into()));
    session.ping().await.unwrap();

    let error = session.send(CONV, "c2", "forbidden").await.unwrap_err();
    assert_eq!(error.code(), Some("forbidden"));
    assert!(matches!(error, Error::Command { .. }));
    session.close().await;
}

#[tokio::test]
async fn acks_are_typed_per_command() {
    let mock = Mock::spawn(Script::default()).await;
    let session = connect(&mock, fast()).await;
    let request = |text: &str| natter_protocol::SendMessageRequest {
        client_msg_id: "c1".into(),
        text: text.into(),
        reply_to_seq: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    };
    let first = session.send_deduped(CONV, request("one")).await.unwrap();
    let again = session.send_deduped(CONV, request("again")).await.unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate, "the repeat is flagged");
    assert_eq!(again.message, first.message, "the original comes back");

    // The mock answers `read` with an empty ack: the wrong kind for it.
    let error = session.read(CONV, 1).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::WrongAck {
                expected: "member",
                got: "empty"
            }
        ),
        "{error:?}"
    );
    session.close().await;
}

#[tokio::test]
async fn a_send_in_flight_during_a_drop_is_resent_and_resume_fills_the_gap_once() {
    let mock = Mock::spawn(Script {
        drop_after_storing_send: Some(2),
        ..Script::default()
    })
    .await;
    let session = connect(&mock, fast()).await;
    session.send(CONV, "c1", "one").await.unwrap();
    assert_eq!(next_message(&session).await, (1, "one".into()));

    // Stored, then the connection dies before the ack and before the event.
    let second = session.send(CONV, "c2", "two").await.unwrap();
    assert_eq!(second.seq, 2, "the re-sent command got the original back");
    assert_eq!(session.reconnects(), 1);
    assert_eq!(
        mock.state().log.len(),
        2,
        "no duplicate message server-side"
    );
    assert_eq!(
        next_message(&session).await,
        (2, "two".into()),
        "replayed on resume"
    );
    assert_no_event(&session).await;

    let hellos = mock.state().hellos.clone();
    let ClientFrame::Hello {
        sync_cursor,
        cursors,
        ..
    } = &hellos[1]
    else {
        panic!()
    };
    assert_eq!(
        *sync_cursor,
        Some(100),
        "the sync cursor of the previous HelloOk"
    );
    assert_eq!(cursors.get(&CONV), Some(&1));
    assert_eq!(session.sync_cursor(), Some(200));
    session.close().await;
}

#[tokio::test]
async fn replayed_changes_already_seen_are_dropped() {
    let mock = Mock::spawn(Script {
        replay_everything: true,
        ..Script::default()
    })
    .await;
    let session = connect(&mock, fast()).await;
    mock.publish_from_other("a");
    mock.publish_from_other("b");
    assert_eq!(next_message(&session).await, (1, "a".into()));
    assert_eq!(next_message(&session).await, (2, "b".into()));

    session.force_disconnect().await;
    mock.publish_from_other("c"); // missed while disconnected
    session
        .wait_for_state(ConnectionState::Connected, WAIT)
        .await
        .unwrap();
    assert_eq!(next_message(&session).await, (3, "c".into()));
    assert_no_event(&session).await;
    assert_eq!(session.duplicates_dropped(), 2);
    assert_eq!(session.reconnects(), 1);
    assert_eq!(session.cursors().get(&CONV), Some(&3));
    session.close().await;
}

#[tokio::test]
async fn track_seeds_the_cursor_and_drops_older_events() {
    let mock = Mock::spawn(Script::default()).await;
    let session = connect(&mock, fast()).await;
    session.track(CONV, 1);
    mock.publish_from_other("known already");
    mock.publish_from_other("new");
    assert_eq!(next_message(&session).await, (2, "new".into()));
    session.close().await;
}

#[tokio::test]
async fn server_closes_other_than_revocation_lead_to_a_reconnect() {
    let mock = Mock::spawn(Script::default()).await;
    let session = connect(&mock, fast()).await;
    for (round, code) in [4000u16, 4008, 4009, 1001].into_iter().enumerate() {
        mock.close_all(code);
        tokio::time::timeout(WAIT, async {
            while session.reconnects() < u64::try_from(round).unwrap() + 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    }
    session.ping().await.unwrap();
    session.close().await;
}

#[tokio::test]
async fn revocation_ends_the_session() {
    let mock = Mock::spawn(Script::default()).await;
    let session = connect(&mock, fast()).await;
    mock.publish_from_other("before");
    mock.close_all(4002);
    session
        .wait_for_state(ConnectionState::Closed, WAIT)
        .await
        .unwrap();
    assert_eq!(
        next_message(&session).await,
        (1, "before".into()),
        "queued events are still readable"
    );
    assert!(session.next_event().await.is_none());
    assert_eq!(
        session.close_reason().and_then(|e| e.close_code()),
        Some(4002)
    );
    let error = session.ping().await.unwrap_err();
    assert_eq!(error.close_code(), Some(4002));
    assert_eq!(mock.state().hellos.len(), 1, "no reconnect");
}

#[tokio::test]
async fn a_refused_token_without_refresh_fails_connect() {
    let mock = Mock::spawn(Script::default()).await;
    let client = Client::new(&mock.url).unwrap().with_token("bad");
    let error = client.connect_with(fast()).await.unwrap_err();
    assert_eq!(error.code(), Some("unauthenticated"));
}

#[tokio::test]
async fn commands_time_out_when_unanswered() {
    let mock = Mock::spawn(Script {
        silent: true,
        ..Script::default()
    })
    .await;
    let config = SessionConfig {
        command_timeout: Duration::from_millis(200),
        ..fast()
    };
    let session = connect(&mock, config).await;
    assert!(matches!(session.ping().await, Err(Error::Timeout)));
    session.close().await;
}

#[tokio::test]
async fn heartbeats_follow_the_idle_timeout() {
    // One ping every third of the idle timeout: checked as "pings keep coming" and "never
    // faster than that period", which a loaded machine cannot break (it only delays timers).
    let mock = Mock::spawn(Script {
        idle_timeout_ms: 1_500,
        ..Script::default()
    })
    .await;
    let started = std::time::Instant::now();
    let session = connect(&mock, fast()).await;
    let deadline = started + Duration::from_secs(30);
    while mock.state().pings < 4 {
        assert!(std::time::Instant::now() < deadline, "pings stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pings = mock.state().pings as u128;
    let periods = started.elapsed().as_millis() / 500;
    assert!(
        pings <= periods + 1,
        "{pings} pings in {periods} periods of 500 ms: faster than one per period"
    );
    assert_eq!(session.reconnects(), 0);
    session.close().await;
}

#[tokio::test]
async fn close_ends_cleanly_and_unparsed_frame_errors_surface_as_events() {
    let mock = Mock::spawn(Script::default()).await;
    let session = connect(&mock, fast()).await;
    session.send_raw("{not json").await.unwrap();
    match session.next_event_timeout(WAIT).await.unwrap() {
        ServerFrame::Error { id: None, error } => assert_eq!(error.code, "bad_frame"),
        other => panic!("unexpected {other:?}"),
    }
    session.close().await;
    assert_eq!(session.state(), ConnectionState::Closed);
    assert!(session.next_event().await.is_none());
    assert_eq!(
        session.close_reason().and_then(|e| e.close_code()),
        Some(1000)
    );
    assert!(matches!(
        session.send(CONV, "x", "y").await,
        Err(Error::Closed { .. })
    ));
}

fn tokens(access: &str, refresh: &str) -> natter_protocol::AuthTokens {
    natter_protocol::AuthTokens {
        user: natter_protocol::UserView {
            id: mock::USER,
            username: "alice".into(),
            display_name: "Alice".into(),
            created_at_ms: 0,
            online: None,
            last_seen_ms: None,
            avatar: None,
        },
        session_id: uuid::Uuid::nil(),
        access_token: access.into(),
        expires_in_s: 900,
        refresh_token: refresh.into(),
    }
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_on_connect() {
    let mock = Mock::spawn(Script::default()).await;
    let client = Client::new(&mock.url)
        .unwrap()
        .with_tokens(&tokens("bad", "r1"));
    let session = client.connect_with(fast()).await.unwrap();
    assert_eq!(mock.state().refreshes, 1);
    assert_eq!(client.access_token().as_deref(), Some("good"));
    assert_eq!(
        client.refresh_token().as_deref(),
        Some("spent"),
        "the single-use token was replaced"
    );
    session.close().await;
}

#[tokio::test]
async fn a_4001_close_refreshes_and_reconnects_then_ends_when_refresh_is_refused() {
    let mock = Mock::spawn(Script::default()).await;
    let client = Client::new(&mock.url)
        .unwrap()
        .with_tokens(&tokens("good", "r1"));
    let session = client.connect_with(fast()).await.unwrap();

    mock.close_all(4001);
    tokio::time::timeout(WAIT, async {
        while session.reconnects() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(mock.state().refreshes, 1);

    // The refresh token is now `spent`: the next 4001 cannot be cured.
    mock.close_all(4001);
    session
        .wait_for_state(ConnectionState::Closed, WAIT)
        .await
        .unwrap();
    assert_eq!(
        session.close_reason().and_then(|e| e.close_code()),
        Some(4001)
    );
    assert_eq!(mock.state().refreshes, 2);
    assert!(session.next_event().await.is_none());
}
