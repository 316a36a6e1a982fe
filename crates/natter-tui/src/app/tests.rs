//! `App::update` without a terminal or a server: keys and events in, state and effects out.

use natter_sdk::protocol::ServerFrame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::fixtures::*;
use super::*;

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| press(app, KeyCode::Char(c)))
        .collect()
}

/// `app()` with the direct conversation open and `page` loaded.
fn open_direct(page: Vec<MessageView>) -> App {
    let mut app = app();
    assert_eq!(app.order, vec![DIRECT, TEAM], "most recent first");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        effects,
        vec![Effect::LoadHistory {
            conversation_id: DIRECT,
            before: None
        }]
    );
    app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: page,
    });
    app
}

fn direct(app: &App) -> &Conv {
    &app.convs[&DIRECT]
}

#[test]
fn the_list_keeps_the_servers_counts_and_opening_marks_read() {
    let mut app = app();
    assert_eq!((app.convs[&TEAM].unread, app.convs[&TEAM].mentions), (5, 1));
    assert_eq!(direct(&app).unread, 2);
    press(&mut app, KeyCode::Enter);
    let effects = app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: page(1, 3),
    });
    assert_eq!(
        effects,
        vec![Effect::Read {
            conversation_id: DIRECT,
            seq: 3
        }]
    );
    assert_eq!((direct(&app).unread, direct(&app).read_seq), (0, 3));
    assert_eq!(app.focus, Focus::Input, "opening is ready to write");
}

#[test]
fn a_resumed_replay_adds_no_duplicate_line_and_no_extra_count() {
    let mut app = open_direct(page(1, 3));
    let fourth = message(DIRECT, 4, BOB, "four");
    app.update(new(fourth.clone()));
    // After a reconnect the same change may come again (replay), and a stale state of it.
    app.update(new(fourth.clone()));
    let mut stale = fourth.clone();
    stale.text = "stale".into();
    stale.mod_seq = 2;
    app.update(Event::Frame(ServerFrame::MessageUpdated { message: stale }));
    let seqs: Vec<i64> = direct(&app).messages.keys().copied().collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert_eq!(direct(&app).messages[&4].text, "four");

    // A conversation that is not open counts each new message once.
    app.update(new(message(TEAM, 120, BOB, "already counted")));
    assert_eq!(app.convs[&TEAM].unread, 5);
    app.update(new(message(TEAM, 121, BOB, "new")));
    app.update(new(message(TEAM, 121, BOB, "new")));
    assert_eq!(app.convs[&TEAM].unread, 6);
    let mut mention = message(TEAM, 122, CAROL, "@me look");
    mention.mentions = vec![ME];
    app.update(new(mention));
    assert_eq!((app.convs[&TEAM].unread, app.convs[&TEAM].mentions), (7, 2));
    assert_eq!(app.order[0], TEAM, "the newest activity moves up");
    assert_eq!(app.open, Some(DIRECT));
}

#[test]
fn a_history_page_and_live_events_merge_in_any_order() {
    let mut app = app();
    press(&mut app, KeyCode::Enter);
    // A live message arrives while the newest page is on its way, and is in it too.
    app.update(new(message(DIRECT, 4, BOB, "live")));
    app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: [page(1, 3), vec![message(DIRECT, 4, BOB, "live")]].concat(),
    });
    assert_eq!(direct(&app).messages.len(), 4);
}

#[test]
fn sending_shows_the_line_at_once_and_once() {
    let mut app = open_direct(page(1, 3));
    let typed = type_text(&mut app, "hi bob");
    assert_eq!(
        typed,
        vec![Effect::Typing {
            conversation_id: DIRECT
        }],
        "one typing indicator for the whole burst"
    );
    let effects = press(&mut app, KeyCode::Enter);
    let [
        Effect::Send {
            conversation_id,
            client_msg_id,
            text,
            reply_to_seq: None,
            mentions,
        },
    ] = effects.as_slice()
    else {
        panic!("expected one send, got {effects:?}");
    };
    assert_eq!((*conversation_id, text.as_str()), (DIRECT, "hi bob"));
    assert!(mentions.is_empty());
    assert_eq!(direct(&app).pending.len(), 1);
    assert!(app.input.text.is_empty());

    let mut sent = message(DIRECT, 4, ME, "hi bob");
    sent.client_msg_id = client_msg_id.clone();
    app.update(Event::Message(sent.clone())); // the ack
    app.update(new(sent)); // and the event
    assert!(direct(&app).pending.is_empty());
    assert_eq!(direct(&app).messages.len(), 4);
    assert_eq!(direct(&app).unread, 0);
}

#[test]
fn a_failed_send_gives_the_text_back() {
    let mut app = open_direct(page(1, 3));
    type_text(&mut app, "lost?");
    let effects = press(&mut app, KeyCode::Enter);
    let Some(Effect::Send { client_msg_id, .. }) = effects.first() else {
        panic!("no send");
    };
    app.update(Event::Failed {
        what: "sending".into(),
        error: "rate limited".into(),
        client_msg_id: Some(client_msg_id.clone()),
    });
    assert!(direct(&app).pending.is_empty());
    assert_eq!(app.input.text, "lost?");
    assert!(app.notice.as_ref().unwrap().0.contains("rate limited"));
}

#[test]
fn typing_goes_out_at_most_every_interval_and_shows_until_it_expires() {
    let mut app = open_direct(page(1, 3));
    assert_eq!(type_text(&mut app, "abc").len(), 1);
    app.update(Event::Tick {
        now_ms: NOW_MS + TYPING_INTERVAL_MS,
    });
    assert_eq!(type_text(&mut app, "d").len(), 1);

    app.update(Event::Frame(ServerFrame::Typing {
        conversation_id: DIRECT,
        user_id: BOB,
        expires_in_ms: 6_000,
    }));
    assert_eq!(app.typing_names(direct(&app)), vec!["Bob".to_owned()]);
    app.update(new(message(DIRECT, 4, BOB, "done typing")));
    assert!(
        app.typing_names(direct(&app)).is_empty(),
        "a message ends it"
    );
    app.update(Event::Frame(ServerFrame::Typing {
        conversation_id: DIRECT,
        user_id: BOB,
        expires_in_ms: 6_000,
    }));
    app.update(Event::Tick {
        now_ms: app.now_ms + 6_001,
    });
    assert!(app.typing_names(direct(&app)).is_empty());
}

#[test]
fn scrolling_to_the_top_loads_older_pages_once_at_a_time() {
    let mut app = app();
    app.update(Event::Conversation(summary(
        DIRECT,
        None,
        Some(BOB),
        120,
        120,
        0,
        0,
        NOW_MS,
    )));
    press(&mut app, KeyCode::Enter);
    app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: page(71, 120),
    });
    assert!(direct(&app).has_older());
    let mut asked = Vec::new();
    for _ in 0..20 {
        asked.extend(press(&mut app, KeyCode::PageUp));
    }
    assert_eq!(
        asked,
        vec![Effect::LoadHistory {
            conversation_id: DIRECT,
            before: Some(71)
        }]
    );
    let scroll = direct(&app).scroll;
    app.update(Event::History {
        conversation_id: DIRECT,
        before: Some(71),
        messages: page(21, 70),
    });
    assert!(!direct(&app).loading_older);
    assert_eq!(direct(&app).messages.len(), 100);
    assert_eq!(
        direct(&app).scroll,
        scroll,
        "older lines do not move the view"
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::End);
    assert_eq!(direct(&app).scroll, 0);
}

#[test]
fn selecting_up_past_the_oldest_loads_older() {
    let mut app = app();
    app.update(Event::Conversation(summary(
        DIRECT,
        None,
        Some(BOB),
        12,
        12,
        0,
        0,
        NOW_MS,
    )));
    press(&mut app, KeyCode::Enter);
    app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: page(10, 12),
    });
    press(&mut app, KeyCode::Up);
    assert_eq!(app.focus, Focus::Messages);
    assert_eq!(direct(&app).selected, Some(12));
    press(&mut app, KeyCode::Up);
    let effects = press(&mut app, KeyCode::Up);
    assert_eq!(direct(&app).selected, Some(10));
    assert!(
        effects.contains(&Effect::LoadHistory {
            conversation_id: DIRECT,
            before: Some(10)
        }),
        "{effects:?}"
    );
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(direct(&app).selected, None);
    assert_eq!(app.focus, Focus::Input, "down past the newest writes");
}

#[test]
fn reply_edit_delete_and_react_act_on_the_selection() {
    let mut app = open_direct(page(1, 3));
    press(&mut app, KeyCode::Up); // 3: Bob's
    assert_eq!(press(&mut app, KeyCode::Char('r')), vec![]);
    assert_eq!(app.compose, Compose::Reply(3));
    type_text(&mut app, "yes");
    let effects = press(&mut app, KeyCode::Enter);
    assert!(matches!(
        effects.as_slice(),
        [Effect::Send {
            reply_to_seq: Some(3),
            ..
        }]
    ));

    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up); // 2: mine
    press(&mut app, KeyCode::Char('e'));
    assert_eq!(app.input.text, "message number 2");
    press(&mut app, KeyCode::Char('!'));
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        effects,
        vec![Effect::Edit {
            conversation_id: DIRECT,
            seq: 2,
            text: "message number 2!".into(),
            mentions: vec![],
        }]
    );

    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up); // 2 again
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(app.mode, Mode::ConfirmDelete(2));
    assert_eq!(press(&mut app, KeyCode::Char('n')), vec![]);
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        vec![Effect::Delete {
            conversation_id: DIRECT,
            seq: 2
        }]
    );

    press(&mut app, KeyCode::Up); // 1: Bob's
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(app.mode, Mode::Normal, "not mine: nothing to confirm");
    press(&mut app, KeyCode::Char('+'));
    let react = press(&mut app, KeyCode::Char('1'));
    assert_eq!(
        react,
        vec![Effect::React {
            conversation_id: DIRECT,
            seq: 1,
            emoji: "👍".into()
        }]
    );
    let mut reacted = message(DIRECT, 1, BOB, "message number 1");
    reacted.mod_seq = 10;
    reacted.reactions = serde_json::from_value(serde_json::json!([
        {"emoji": "👍", "user_ids": [ME]}
    ]))
    .unwrap();
    app.update(Event::Frame(ServerFrame::MessageUpdated {
        message: reacted,
    }));
    press(&mut app, KeyCode::Char('+'));
    assert!(matches!(
        press(&mut app, KeyCode::Char('1')).as_slice(),
        [Effect::Unreact { seq: 1, .. }]
    ));
}

#[test]
fn receipts_and_presence() {
    let mut app = open_direct(page(1, 4));
    app.update(Event::Frame(ServerFrame::Receipt {
        conversation_id: DIRECT,
        user_id: BOB,
        read_seq: 4,
        delivered_seq: 4,
    }));
    assert_eq!(direct(&app).read_by_others(), 4);
    app.update(Event::Frame(ServerFrame::Receipt {
        conversation_id: TEAM,
        user_id: ME,
        read_seq: 120,
        delivered_seq: 120,
    }));
    assert_eq!(
        (app.convs[&TEAM].unread, app.convs[&TEAM].mentions),
        (0, 0),
        "read on another device"
    );
    assert_eq!(app.peer_online(direct(&app)), Some(true));
    app.update(Event::Frame(ServerFrame::Presence {
        user_id: BOB,
        online: false,
        last_seen_ms: Some(NOW_MS),
    }));
    assert_eq!(app.peer_online(direct(&app)), Some(false));
}

#[test]
fn unknown_people_and_conversations_are_fetched_once() {
    let mut app = app();
    let stranger = Uuid::from_u128(77);
    let elsewhere = Uuid::from_u128(300);
    let effects = app.update(new(message(elsewhere, 1, stranger, "hello?")));
    assert_eq!(effects, vec![Effect::LoadConversation(elsewhere)]);
    assert_eq!(
        app.update(new(message(elsewhere, 2, stranger, "?"))),
        vec![]
    );
    let effects = app.update(new(message(TEAM, 121, stranger, "hi")));
    assert_eq!(effects, vec![Effect::LoadUsers(vec![stranger])]);
    assert_eq!(app.update(new(message(TEAM, 122, stranger, "hi"))), vec![]);
}

#[test]
fn leaving_a_conversation_closes_it_and_signing_out_asks() {
    let mut app = open_direct(page(1, 3));
    app.update(Event::Frame(ServerFrame::MemberRemoved {
        conversation_id: DIRECT,
        user_id: ME,
        by: BOB,
    }));
    assert_eq!((app.open, app.focus), (None, Focus::List));
    assert_eq!(app.order, vec![TEAM]);
    assert_eq!(press(&mut app, KeyCode::Char('S')), vec![]);
    assert_eq!(app.mode, Mode::ConfirmSignOut);
    assert_eq!(press(&mut app, KeyCode::Char('y')), vec![Effect::SignOut]);
    assert_eq!(press(&mut app, KeyCode::Char('q')), vec![Effect::Quit]);
}

#[test]
fn the_input_line_edits_by_character() {
    let mut app = open_direct(page(1, 3));
    type_text(&mut app, "héllo");
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Home);
    press(&mut app, KeyCode::Delete);
    assert_eq!((app.input.text.as_str(), app.input.cursor), ("élo", 0));
    app.update(Event::Paste("a\nb".into()));
    assert_eq!(app.input.text, "a bélo");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Messages, "Esc leaves the draft");
    assert_eq!(app.input.text, "a bélo");
}

#[test]
fn at_usernames_of_known_people_are_mentions() {
    let mut app = open_direct(page(1, 3));
    type_text(&mut app, "@bob, @Carol and @nobody, @me");
    let effects = press(&mut app, KeyCode::Enter);
    let [Effect::Send { mentions, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(mentions, &vec![BOB, CAROL]);
}

#[test]
fn n_starts_a_direct_conversation_by_username() {
    let mut app = app();
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.mode, Mode::NewDirect);
    type_text(&mut app, "@carolx");
    press(&mut app, KeyCode::Backspace);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::OpenDirect {
            username: "carol".into()
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    let carol_direct = Uuid::from_u128(400);
    let effects = app.update(Event::DirectOpened(summary(
        carol_direct,
        None,
        Some(CAROL),
        0,
        0,
        0,
        0,
        NOW_MS,
    )));
    assert_eq!(app.open, Some(carol_direct));
    assert_eq!(app.focus, Focus::Input);
    assert_eq!(
        effects,
        vec![Effect::LoadHistory {
            conversation_id: carol_direct,
            before: None
        }]
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('n'));
    type_text(&mut app, "x");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal, "Esc cancels");
}
