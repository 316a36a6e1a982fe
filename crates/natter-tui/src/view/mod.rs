//! Drawing the [`App`] with ratatui. Pure: the same state draws the same screen, which
//! `view/tests.rs` checks on ratatui's `TestBackend`.
//!
//! Colours follow the terminal: the default foreground and background, the 16 ANSI colours
//! (which every terminal theme redefines) and modifiers (bold, dim, reversed); never RGB.

mod help;
pub(crate) mod layout;
#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::app::{App, Compose, Connection, Conv, Focus, Mode};
use layout::{text_width, truncate};

/// The list pane's width on a wide screen.
const LIST_WIDTH: u16 = 30;

impl App {
    /// Draws the whole screen.
    pub fn render(&self, frame: &mut Frame) {
        let area = frame.area();
        self.screen.set((area.width, area.height));
        let [status, body, bar] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        self.status_bar(frame, status);
        if App::narrow(area.width) {
            match (self.focus, self.open_conv()) {
                (Focus::List, _) | (_, None) => self.list(frame, body),
                (_, Some(conv)) => self.conversation(frame, body, conv),
            }
        } else {
            let [list, conversation] =
                Layout::horizontal([Constraint::Length(LIST_WIDTH), Constraint::Min(20)])
                    .areas(body);
            self.list(frame, list);
            match self.open_conv() {
                Some(conv) => self.conversation(frame, conversation, conv),
                None => {
                    let hint = Paragraph::new(vec![
                        Line::raw(""),
                        Line::styled(
                            if self.loaded && self.order.is_empty() {
                                "No conversations yet."
                            } else {
                                "Pick a conversation and press Enter."
                            },
                            Style::new().add_modifier(Modifier::DIM),
                        ),
                    ])
                    .centered()
                    .block(Block::bordered());
                    frame.render_widget(hint, conversation);
                }
            }
        }
        self.help_bar(frame, bar);
        if self.mode == Mode::Help {
            help_screen(frame, body);
        }
    }

    fn status_bar(&self, frame: &mut Frame, area: Rect) {
        let (state, colour) = match &self.connection {
            Connection::Connected => ("● connected".to_owned(), Color::Green),
            Connection::Connecting => ("◌ connecting…".to_owned(), Color::Yellow),
            Connection::Closed(reason) => (format!("✕ disconnected: {reason}"), Color::Red),
        };
        // What changes goes first, so a narrow terminal still shows it.
        let mut spans = vec![
            Span::styled(" natter ", Style::new().add_modifier(Modifier::BOLD)),
            Span::styled(state, Style::new().fg(colour)),
        ];
        if let Some((notice, _)) = &self.notice {
            spans.push(Span::raw("  "));
            spans.push(Span::styled(
                notice.clone(),
                Style::new().add_modifier(Modifier::BOLD),
            ));
        }
        spans.push(Span::raw(format!(
            "  {} @ {}",
            self.me.username, self.me.server
        )));
        frame.render_widget(
            Paragraph::new(Line::from(spans)).style(Style::new().add_modifier(Modifier::REVERSED)),
            area,
        );
    }

    fn help_bar(&self, frame: &mut Frame, area: Rect) {
        let mut spans = Vec::new();
        for (key, label) in help::bar(self) {
            spans.push(Span::styled(
                format!(" {key} "),
                Style::new().add_modifier(Modifier::REVERSED),
            ));
            if !label.is_empty() {
                spans.push(Span::raw(format!(" {label} ")));
            }
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn list(&self, frame: &mut Frame, area: Rect) {
        let block = pane("Conversations", self.focus == Focus::List);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let width = usize::from(inner.width);
        let mut lines = Vec::new();
        if !self.loaded {
            lines.push(Line::styled(
                "loading…",
                Style::new().add_modifier(Modifier::DIM),
            ));
        } else if self.order.is_empty() {
            lines.push(Line::styled(
                "none yet",
                Style::new().add_modifier(Modifier::DIM),
            ));
        }
        for (index, id) in self.order.iter().enumerate() {
            let Some(conv) = self.convs.get(id) else {
                continue;
            };
            lines.push(self.list_line(conv, index, width));
        }
        // Keep the cursor on screen.
        let height = usize::from(inner.height).max(1);
        let offset = self.selected.saturating_sub(height - 1);
        frame.render_widget(Paragraph::new(lines).scroll((offset as u16, 0)), inner);
    }

    fn list_line(&self, conv: &Conv, index: usize, width: usize) -> Line<'static> {
        let (glyph, glyph_style) = match (conv.direct, self.peer_online(conv)) {
            (true, Some(true)) => ("●", Style::new().fg(Color::Green)),
            (true, _) => ("○", Style::new().add_modifier(Modifier::DIM)),
            (false, _) => ("#", Style::new().add_modifier(Modifier::DIM)),
        };
        let mut counts = Vec::new();
        if conv.mentions > 0 {
            counts.push(Span::styled(
                format!(" @{}", conv.mentions),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ));
        }
        if conv.unread > 0 {
            counts.push(Span::raw(" "));
            counts.push(Span::styled(
                format!(" {} ", conv.unread),
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            ));
        }
        let counts_width: usize = counts.iter().map(|s| s.width()).sum();
        let title_room = width.saturating_sub(2 + counts_width);
        let title = truncate(&self.title(conv), title_room);
        let pad = title_room.saturating_sub(text_width(&title));
        let mut title_style = Style::new();
        if conv.unread > 0 {
            title_style = title_style.add_modifier(Modifier::BOLD);
        }
        let mut spans = vec![
            Span::styled(format!("{glyph} "), glyph_style),
            Span::styled(title, title_style),
            Span::raw(" ".repeat(pad)),
        ];
        spans.extend(counts);
        let mut line = Line::from(spans);
        if index == self.selected {
            line.style = if self.focus == Focus::List {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new().add_modifier(Modifier::UNDERLINED)
            };
        }
        if self.open == Some(conv.id) && self.focus != Focus::List {
            line.style = line.style.add_modifier(Modifier::BOLD);
        }
        line
    }

    fn conversation(&self, frame: &mut Frame, area: Rect, conv: &Conv) {
        let title = self.conversation_title(conv);
        let block = pane(&title, self.focus != Focus::List);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let [messages, typing, input] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(2),
        ])
        .areas(inner);
        self.set_viewport(messages.width, messages.height);

        let laid = layout::lay_out(self, conv, messages.width);
        let total = laid.lines.len();
        let height = usize::from(messages.height);
        let scroll = conv.scroll.min(total.saturating_sub(height));
        let start = total.saturating_sub(height + scroll);
        let visible: Vec<Line> = laid.lines[start..total - scroll].to_vec();
        // Messages sit at the bottom of the pane, as in every chat.
        let blank = height.saturating_sub(visible.len());
        let mut shown = vec![Line::raw(""); blank];
        shown.extend(visible);
        frame.render_widget(Paragraph::new(shown), messages);
        if scroll > 0 {
            let more = Span::styled(
                " ↓ newer (End) ",
                Style::new().add_modifier(Modifier::REVERSED),
            );
            let width = more.width() as u16;
            let at = Rect {
                x: messages.right().saturating_sub(width),
                y: messages.bottom().saturating_sub(1),
                width: width.min(messages.width),
                height: 1,
            };
            frame.render_widget(Paragraph::new(Line::from(more)), at);
        }

        let names = self.typing_names(conv);
        if !names.is_empty() {
            let verb = if names.len() == 1 { "is" } else { "are" };
            let line = Line::styled(
                format!("{} {verb} typing…", names.join(", ")),
                Style::new().add_modifier(Modifier::ITALIC | Modifier::DIM),
            );
            frame.render_widget(Paragraph::new(line), typing);
        }
        self.input(frame, input, conv);
    }

    fn conversation_title(&self, conv: &Conv) -> String {
        let name = self.title(conv);
        let detail = if conv.direct {
            let peer = conv.peer.and_then(|peer| self.users.get(&peer));
            match peer {
                Some(user) if user.online == Some(true) => format!("@{} · online", user.username),
                Some(user) => match user.last_seen_ms {
                    Some(at) => format!("@{} · last seen {}", user.username, self.ago(at)),
                    None => format!("@{}", user.username),
                },
                None => String::new(),
            }
        } else {
            format!("{} members", conv.member_count)
        };
        match (detail.is_empty(), &conv.topic) {
            (true, _) => name,
            (false, Some(topic)) if !topic.is_empty() => format!("{name} · {detail} · {topic}"),
            (false, _) => format!("{name} · {detail}"),
        }
    }

    /// "5 min ago", "3 h ago", "2 d ago".
    fn ago(&self, at_ms: i64) -> String {
        let seconds = (self.now_ms - at_ms).max(0) / 1000;
        match seconds {
            0..60 => "just now".into(),
            60..3600 => format!("{} min ago", seconds / 60),
            3600..86_400 => format!("{} h ago", seconds / 3600),
            _ => format!("{} d ago", seconds / 86_400),
        }
    }

    fn input(&self, frame: &mut Frame, area: Rect, conv: &Conv) {
        let label = match self.compose {
            Compose::New => "Message".to_owned(),
            Compose::Reply(seq) => match conv.messages.get(&seq) {
                Some(original) => format!(
                    "Reply to {}: {}",
                    self.user_name(original.sender_id),
                    original.text.replace('\n', " ")
                ),
                None => format!("Reply to #{seq}"),
            },
            Compose::Edit(_) => "Edit message".to_owned(),
        };
        let focused = self.focus == Focus::Input && self.mode == Mode::Normal;
        let border = if focused {
            Style::new().fg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        };
        let block = Block::new()
            .borders(Borders::TOP)
            .border_style(border)
            .title(format!(
                " {} ",
                truncate(&label, usize::from(area.width).saturating_sub(4))
            ));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        // Scroll sideways so the cursor stays in view.
        let before: String = self.input.text.chars().take(self.input.cursor).collect();
        let cursor_col = text_width(&before);
        let room = usize::from(inner.width).saturating_sub(1).max(1);
        let skip_cols = cursor_col.saturating_sub(room);
        let text = if self.input.text.is_empty() && !focused {
            Line::styled("press i to write", Style::new().add_modifier(Modifier::DIM))
        } else {
            Line::raw(self.input.text.clone())
        };
        frame.render_widget(Paragraph::new(text).scroll((0, skip_cols as u16)), inner);
        if focused {
            frame.set_cursor_position(Position {
                x: inner.x + (cursor_col - skip_cols) as u16,
                y: inner.y,
            });
        }
    }
}

/// A bordered pane, its border highlighted when it has the focus.
fn pane(title: &str, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new().add_modifier(Modifier::DIM)
    };
    Block::bordered()
        .border_style(style)
        .title(format!(" {title} "))
}

fn help_screen(frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    for (section, keys) in help::all() {
        lines.push(Line::styled(
            section,
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        ));
        for (key, what) in keys {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  {key:<18}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(what),
            ]));
        }
        lines.push(Line::raw(""));
    }
    if lines.len() + 2 > usize::from(area.height) {
        // A short terminal: the blank lines go first.
        lines.retain(|line| line.width() > 0);
    }
    let width = area.width.min(72);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys (any key closes) ")),
        popup,
    );
}
