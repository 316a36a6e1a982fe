//! Questions on the terminal before the full screen starts: the server, the username, and the
//! password without echo (raw mode, so nothing else is needed).

use std::io::{self, BufRead, IsTerminal, Write};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal;

use crate::exit::{Exit, Failure};

/// Whether questions can be asked (stdin and stderr are a terminal).
pub fn interactive() -> bool {
    io::stdin().is_terminal() && io::stderr().is_terminal()
}

/// Asks for a line; an empty answer is `default`.
pub fn line(question: &str, default: Option<&str>) -> Result<String, Failure> {
    let mut err = io::stderr();
    match default {
        Some(default) => write!(err, "{question} [{default}]: ")?,
        None => write!(err, "{question}: ")?,
    }
    err.flush()?;
    let mut answer = String::new();
    if io::stdin().lock().read_line(&mut answer)? == 0 {
        return Err(Failure::new(Exit::Usage, "no answer (end of input)"));
    }
    let answer = answer.trim();
    match (answer.is_empty(), default) {
        (true, Some(default)) => Ok(default.to_owned()),
        (true, None) => Err(Failure::new(Exit::Usage, format!("{question}: no answer"))),
        (false, _) => Ok(answer.to_owned()),
    }
}

/// Asks for a password without showing it.
pub fn password(question: &str) -> Result<String, Failure> {
    let mut err = io::stderr();
    write!(err, "{question}: ")?;
    err.flush()?;
    terminal::enable_raw_mode()?;
    let read = read_hidden();
    terminal::disable_raw_mode()?;
    writeln!(err)?;
    read
}

fn read_hidden() -> Result<String, Failure> {
    let mut password = String::new();
    loop {
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind == KeyEventKind::Release {
            continue;
        }
        match key.code {
            KeyCode::Enter => return Ok(password),
            KeyCode::Char('c') | KeyCode::Char('d')
                if key.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                return Err(Failure::new(Exit::Usage, "cancelled"));
            }
            KeyCode::Esc => return Err(Failure::new(Exit::Usage, "cancelled")),
            KeyCode::Backspace => {
                password.pop();
            }
            KeyCode::Char(c) => password.push(c),
            _ => {}
        }
    }
}
