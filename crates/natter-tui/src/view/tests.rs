//! The views on ratatui's `TestBackend`: what a person would see, as text, and the colours used.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;

use crate::app::fixtures::*;
use crate::app::{App, Event};

/// The screen as lines of text, and the buffer for colour checks.
fn draw(app: &App, width: u16, height: u16) -> (Vec<String>, ratatui::buffer::Buffer) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| app.render(frame)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut lines = Vec::new();
    for y in 0..height {
        let mut line = String::new();
        let mut x = 0;
        while x < width {
            let symbol = buffer[(x, y)].symbol();
            line.push_str(symbol);
            // A wide character's second cell is not a character of its own.
            x += unicode_width::UnicodeWidthStr::width(symbol).max(1) as u16;
        }
        lines.push(line.trim_end().to_owned());
    }
    (lines, buffer)
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn find<'a>(lines: &'a [String], needle: &str) -> &'a str {
    lines
        .iter()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", lines.join("\n")))
}

#[test]
fn the_list_shows_presence_unread_and_mention_counts() {
    let app = app();
    let (lines, _) = draw(&app, 100, 20);
    // The list pane is the first 30 columns.
    let pane = |line: &str| line.chars().take(30).collect::<String>();
    let bob = pane(find(&lines, "Bob"));
    assert_eq!(bob, "│● Bob                     2 │");
    let team = pane(find(&lines, "Team"));
    assert_eq!(team, "│# Team                @1  5 │");
    assert!(lines[0].contains("me @ http://127.0.0.1:8080"));
    find(&lines, "Pick a conversation and press Enter.");
}

#[test]
fn a_conversation_shows_the_paging_marker_messages_and_receipts() {
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
    let (lines, _) = draw(&app, 100, 24);
    find(&lines, "Bob · @bob · online");
    let last = find(&lines, "message number 120");
    assert!(last.contains("10:20 Me: message number 120 ✓"), "{last}");
    find(&lines, "Bob: message number 119");

    // Up to the top: the marker says older messages are there, then that they are loading.
    for _ in 0..30 {
        press(&mut app, KeyCode::PageUp);
    }
    let (lines, _) = draw(&app, 100, 24);
    find(&lines, "↑ loading older messages…");
    app.update(Event::History {
        conversation_id: DIRECT,
        before: Some(71),
        messages: page(1, 70),
    });
    for _ in 0..60 {
        press(&mut app, KeyCode::PageUp);
    }
    let (lines, _) = draw(&app, 100, 24);
    find(&lines, "── start of the conversation ──");
    find(&lines, "Bob: message number 1");
    find(&lines, "↓ newer (End)");

    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::End);
    app.update(Event::Frame(natter_sdk::protocol::ServerFrame::Receipt {
        conversation_id: DIRECT,
        user_id: BOB,
        read_seq: 120,
        delivered_seq: 120,
    }));
    let (lines, _) = draw(&app, 100, 24);
    find(&lines, "message number 120 ✓✓");
}

#[test]
fn the_paging_marker_offers_older_messages() {
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
        messages: page(118, 120),
    });
    let (lines, _) = draw(&app, 100, 24);
    find(&lines, "↑ older messages: PgUp or ↑ to load");
}

#[test]
fn the_help_bar_shows_the_keys_of_the_focus() {
    let mut app = app();
    let (lines, _) = draw(&app, 120, 20);
    let bar = &lines[19];
    for key in [
        "↑↓  select",
        "⏎  open",
        "n  new",
        "S  sign out",
        "?  help",
        "q  quit",
    ] {
        assert!(bar.contains(key), "{key:?} missing from {bar:?}");
    }
    press(&mut app, KeyCode::Enter);
    let (lines, _) = draw(&app, 120, 20);
    assert!(lines[19].contains("⏎  send"), "{}", lines[19]);
    press(&mut app, KeyCode::Esc);
    let (lines, _) = draw(&app, 120, 20);
    for key in ["r  reply", "e  edit", "d  delete", "+  react", "Esc  list"] {
        assert!(
            lines[19].contains(key),
            "{key:?} missing from {:?}",
            lines[19]
        );
    }
    press(&mut app, KeyCode::Char('?'));
    let (lines, _) = draw(&app, 120, 40);
    find(&lines, "Keys (any key closes)");
    find(&lines, "react (again to remove)");
}

#[test]
fn a_narrow_terminal_shows_one_pane_at_a_time() {
    let mut app = app();
    let (lines, _) = draw(&app, 40, 12);
    find(&lines, "Conversations");
    assert!(!lines.iter().any(|l| l.contains("Pick a conversation")));
    press(&mut app, KeyCode::Enter);
    app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: page(1, 3),
    });
    let (lines, _) = draw(&app, 40, 12);
    assert!(!lines.iter().any(|l| l.contains("Conversations")));
    find(&lines, "Bob · @bob");
    // Long lines wrap inside the pane.
    app.update(new(message(
        DIRECT,
        4,
        BOB,
        "a rather long message that cannot fit on one line of a narrow terminal",
    )));
    let (lines, _) = draw(&app, 40, 12);
    find(&lines, "Bob: a rather long");
    find(&lines, "narrow terminal");
    assert!(lines.iter().all(|l| l.chars().count() <= 40));
}

#[test]
fn colours_come_from_the_terminal_palette() {
    let mut app = app();
    press(&mut app, KeyCode::Enter);
    app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: page(1, 3),
    });
    let (_, buffer) = draw(&app, 100, 20);
    for cell in buffer.content() {
        for colour in [cell.fg, cell.bg] {
            assert!(
                !matches!(colour, Color::Rgb(..) | Color::Indexed(_)),
                "{colour:?} is not one of the terminal's own colours"
            );
        }
    }
}

#[test]
fn tiny_terminals_draw_without_panicking() {
    let mut app = app();
    press(&mut app, KeyCode::Enter);
    app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: page(1, 30),
    });
    for (width, height) in [(1, 1), (10, 3), (20, 5), (30, 8), (72, 4)] {
        draw(&app, width, height);
        press(&mut app, KeyCode::Up);
        press(&mut app, KeyCode::PageUp);
        press(&mut app, KeyCode::Char('?'));
        draw(&app, width, height);
        press(&mut app, KeyCode::Esc);
    }
}

#[test]
fn attachments_are_listed_under_their_message() {
    let mut app = app();
    press(&mut app, KeyCode::Enter);
    let mut photo = message(DIRECT, 1, BOB, "the view");
    photo.attachments = serde_json::from_value(serde_json::json!([{
        "id": uuid::Uuid::nil(), "name": "lake.jpg", "size": 48_213, "mime": "image/jpeg",
        "sha256": "00", "inline": true, "created_at_ms": 0, "url": "/x",
        "url_expires_at_ms": 0,
    }]))
    .unwrap();
    app.update(Event::History {
        conversation_id: DIRECT,
        before: None,
        messages: vec![photo],
    });
    let (lines, _) = draw(&app, 100, 20);
    find(&lines, "📎 lake.jpg (47 KiB)");
}
