//! Keys to actions: one table per focus and mode, the same one the help bar and the help screen
//! are written from (`view/help.rs`), so a key the bar shows is a key that works.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Focus, Mode};

/// What a key asks for. [`App::update`](super::App::update) carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// List -> messages -> input -> list.
    FocusNext,
    Help,
    ListUp,
    ListDown,
    Open,
    /// Back to the conversation list.
    Back,
    SelectUp,
    SelectDown,
    PageUp,
    PageDown,
    /// Scroll to the newest message and drop the selection.
    Newest,
    Write,
    Reply,
    Edit,
    Delete,
    React,
    SignOut,
    /// Start a direct conversation: asks for a username.
    NewDirect,
    Insert(char),
    Backspace,
    DeleteForward,
    CursorLeft,
    CursorRight,
    CursorHome,
    CursorEnd,
    ClearInput,
    Submit,
    /// Leave the input (keeping its draft), or cancel a reply or an edit.
    Cancel,
    PickReaction(usize),
    Confirm(bool),
}

/// The action of `key` in this focus and mode, if any.
pub fn action_for(focus: Focus, mode: Mode, key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match mode {
        Mode::Help => return Some(Action::Cancel),
        Mode::Reacting(_) => {
            return match key.code {
                KeyCode::Char(digit @ '1'..='6') => {
                    Some(Action::PickReaction(digit as usize - '1' as usize))
                }
                KeyCode::Esc | KeyCode::Char('q') => Some(Action::Cancel),
                _ => None,
            };
        }
        Mode::ConfirmDelete(_) | Mode::ConfirmSignOut => {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => Some(Action::Confirm(true)),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    Some(Action::Confirm(false))
                }
                _ => None,
            };
        }
        Mode::NewDirect => {
            return match key.code {
                KeyCode::Enter => Some(Action::Submit),
                KeyCode::Esc => Some(Action::Cancel),
                KeyCode::Backspace => Some(Action::Backspace),
                KeyCode::Char(c) if !ctrl => Some(Action::Insert(c)),
                _ => None,
            };
        }
        Mode::Normal => {}
    }
    match focus {
        Focus::List => list_key(key),
        Focus::Messages => messages_key(key),
        Focus::Input => input_key(key, ctrl),
    }
}

fn list_key(key: KeyEvent) -> Option<Action> {
    Some(match key.code {
        KeyCode::Up | KeyCode::Char('k') => Action::ListUp,
        KeyCode::Down | KeyCode::Char('j') => Action::ListDown,
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => Action::Open,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::Char('n') => Action::NewDirect,
        KeyCode::Char('S') => Action::SignOut,
        KeyCode::Char('?') | KeyCode::F(1) => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    })
}

fn messages_key(key: KeyEvent) -> Option<Action> {
    Some(match key.code {
        KeyCode::Up | KeyCode::Char('k') => Action::SelectUp,
        KeyCode::Down | KeyCode::Char('j') => Action::SelectDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::End | KeyCode::Char('G') => Action::Newest,
        KeyCode::Enter | KeyCode::Char('i') => Action::Write,
        KeyCode::Char('r') => Action::Reply,
        KeyCode::Char('e') => Action::Edit,
        KeyCode::Char('d') => Action::Delete,
        KeyCode::Char('+') => Action::React,
        KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') => Action::Back,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::Char('?') | KeyCode::F(1) => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    })
}

fn input_key(key: KeyEvent, ctrl: bool) -> Option<Action> {
    if ctrl {
        return match key.code {
            KeyCode::Char('u') => Some(Action::ClearInput),
            KeyCode::Char('a') => Some(Action::CursorHome),
            KeyCode::Char('e') => Some(Action::CursorEnd),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Enter => Action::Submit,
        KeyCode::Esc => Action::Cancel,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Delete => Action::DeleteForward,
        KeyCode::Left => Action::CursorLeft,
        KeyCode::Right => Action::CursorRight,
        KeyCode::Home => Action::CursorHome,
        KeyCode::End => Action::CursorEnd,
        KeyCode::Up => Action::SelectUp,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Char(c) => Action::Insert(c),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    #[test]
    fn the_same_letter_acts_by_focus() {
        let q = key(KeyCode::Char('q'));
        assert_eq!(action_for(Focus::List, Mode::Normal, q), Some(Action::Quit));
        assert_eq!(
            action_for(Focus::Messages, Mode::Normal, q),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(Focus::Input, Mode::Normal, q),
            Some(Action::Insert('q')),
            "typing a q writes it"
        );
        let r = key(KeyCode::Char('r'));
        assert_eq!(
            action_for(Focus::Messages, Mode::Normal, r),
            Some(Action::Reply)
        );
        assert_eq!(action_for(Focus::List, Mode::Normal, r), None);
    }

    #[test]
    fn control_c_quits_from_anywhere() {
        for focus in [Focus::List, Focus::Messages, Focus::Input] {
            for mode in [
                Mode::Normal,
                Mode::Help,
                Mode::Reacting(1),
                Mode::ConfirmSignOut,
            ] {
                assert_eq!(action_for(focus, mode, ctrl('c')), Some(Action::Quit));
            }
        }
    }

    #[test]
    fn messages_keys() {
        let table = [
            (KeyCode::Up, Action::SelectUp),
            (KeyCode::Char('j'), Action::SelectDown),
            (KeyCode::PageUp, Action::PageUp),
            (KeyCode::Enter, Action::Write),
            (KeyCode::Char('e'), Action::Edit),
            (KeyCode::Char('d'), Action::Delete),
            (KeyCode::Char('+'), Action::React),
            (KeyCode::Esc, Action::Back),
            (KeyCode::End, Action::Newest),
        ];
        for (code, action) in table {
            assert_eq!(
                action_for(Focus::Messages, Mode::Normal, key(code)),
                Some(action)
            );
        }
    }

    #[test]
    fn input_keys_edit_the_line() {
        let table = [
            (key(KeyCode::Enter), Action::Submit),
            (key(KeyCode::Esc), Action::Cancel),
            (key(KeyCode::Backspace), Action::Backspace),
            (key(KeyCode::Left), Action::CursorLeft),
            (ctrl('u'), Action::ClearInput),
            (key(KeyCode::Char('é')), Action::Insert('é')),
        ];
        for (event, action) in table {
            assert_eq!(action_for(Focus::Input, Mode::Normal, event), Some(action));
        }
    }

    #[test]
    fn pickers_and_questions_take_their_keys_first() {
        assert_eq!(
            action_for(Focus::Messages, Mode::Reacting(3), key(KeyCode::Char('2'))),
            Some(Action::PickReaction(1))
        );
        assert_eq!(
            action_for(Focus::Messages, Mode::Reacting(3), key(KeyCode::Char('7'))),
            None
        );
        assert_eq!(
            action_for(
                Focus::Messages,
                Mode::ConfirmDelete(3),
                key(KeyCode::Char('y'))
            ),
            Some(Action::Confirm(true))
        );
        assert_eq!(
            action_for(Focus::List, Mode::ConfirmSignOut, key(KeyCode::Esc)),
            Some(Action::Confirm(false))
        );
        assert_eq!(
            action_for(Focus::List, Mode::Help, key(KeyCode::Char('x'))),
            Some(Action::Cancel)
        );
        assert_eq!(
            action_for(Focus::List, Mode::NewDirect, key(KeyCode::Char('q'))),
            Some(Action::Insert('q')),
            "a username may have a q"
        );
    }
}
