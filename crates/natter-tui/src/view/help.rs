//! The help bar (the keys of the current focus) and the help screen (every key). Both are
//! written from the same table as `app/keys.rs`: change one, change the other (the tests of
//! `keys.rs` and `view/tests.rs` hold them together).

use crate::app::{App, Compose, Focus, Mode, REACTIONS};

/// `(key, what it does)` pairs for the help bar, for the current focus and mode.
pub(crate) fn bar(app: &App) -> Vec<(String, String)> {
    let pairs: Vec<(&str, &str)> = match app.mode {
        Mode::Help => vec![("any key", "close help")],
        Mode::Reacting(_) => {
            let mut pairs: Vec<(String, String)> = REACTIONS
                .iter()
                .enumerate()
                .map(|(i, emoji)| ((i + 1).to_string(), (*emoji).to_owned()))
                .collect();
            pairs.push(("Esc".into(), "cancel (pick yours again to remove)".into()));
            return pairs;
        }
        Mode::ConfirmDelete(_) => vec![("Delete this message?", ""), ("y", "yes"), ("n", "no")],
        Mode::NewDirect => {
            return vec![
                ("New conversation with".into(), format!("@{}▏", app.find)),
                ("⏎".into(), "open".into()),
                ("Esc".into(), "cancel".into()),
            ];
        }
        Mode::ConfirmSignOut => vec![
            ("Sign out and forget the saved session?", ""),
            ("y", "yes"),
            ("n", "no"),
        ],
        Mode::Normal => match app.focus {
            Focus::List => vec![
                ("↑↓", "select"),
                ("⏎", "open"),
                ("Tab", "switch"),
                ("n", "new"),
                ("S", "sign out"),
                ("?", "help"),
                ("q", "quit"),
            ],
            Focus::Messages => vec![
                ("↑↓", "select"),
                ("PgUp/PgDn", "scroll"),
                ("i", "write"),
                ("r", "reply"),
                ("e", "edit"),
                ("d", "delete"),
                ("+", "react"),
                ("Esc", "list"),
                ("?", "help"),
                ("q", "quit"),
            ],
            Focus::Input => {
                let cancel = match app.compose {
                    Compose::New => "messages",
                    Compose::Reply(_) => "cancel reply",
                    Compose::Edit(_) => "cancel edit",
                };
                vec![
                    ("⏎", "send"),
                    ("Esc", cancel),
                    ("↑", "select message"),
                    ("PgUp", "older"),
                    ("Ctrl-U", "clear"),
                    ("Tab", "list"),
                    ("Ctrl-C", "quit"),
                ]
            }
        },
    };
    pairs
        .into_iter()
        .map(|(key, label)| (key.to_owned(), label.to_owned()))
        .collect()
}

/// Every key, by section, for the help screen.
pub(crate) fn all() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "Conversations",
            vec![
                ("↑ ↓  k j", "select a conversation"),
                ("⏎ → l", "open it"),
                ("Tab", "go to the open conversation"),
                ("n", "new direct conversation (asks for a username)"),
                ("S", "sign out (forgets the saved session)"),
            ],
        ),
        (
            "Messages",
            vec![
                (
                    "↑ ↓  k j",
                    "select a message (up past the oldest loads older)",
                ),
                ("PgUp PgDn, wheel", "scroll (the top loads older messages)"),
                ("End G", "back to the newest"),
                ("i ⏎", "write a message"),
                ("r", "reply to the selected message"),
                ("e", "edit your selected message"),
                ("d", "delete your selected message"),
                ("+ then 1-6", "react (again to remove)"),
                ("Esc ← h", "back to the list"),
            ],
        ),
        (
            "Writing",
            vec![
                ("⏎", "send (or save the edit)"),
                ("Esc", "cancel a reply or edit, or go to the messages"),
                ("← → Home End", "move; Ctrl-A Ctrl-E too"),
                ("Ctrl-U", "clear"),
            ],
        ),
        (
            "Anywhere",
            vec![("? F1", "this help"), ("q, Ctrl-C", "quit")],
        ),
    ]
}
