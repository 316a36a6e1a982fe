//! A conversation's messages as wrapped lines, and which lines each message takes: drawn by the
//! message pane and read by `App::update` to scroll and keep the selection in view.

use natter_sdk::protocol::MessageView;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;
use uuid::Uuid;

use crate::app::{App, Conv, History};

/// Continuation lines of a message start under its text, past the time column.
const INDENT: usize = 6;

/// The lines of a conversation, oldest first, and each message's `(seq, first, end)` lines.
pub(crate) struct Laid {
    pub lines: Vec<Line<'static>>,
    pub spans: Vec<(i64, usize, usize)>,
}

/// The paging marker at the top of the messages.
pub(crate) fn marker(conv: &Conv) -> Line<'static> {
    let dim = Style::new().add_modifier(Modifier::DIM);
    let text = match conv.history {
        History::NotLoaded | History::Loading if conv.messages.is_empty() => "loading messages…",
        _ if conv.loading_older => "↑ loading older messages…",
        _ if conv.has_older() => "↑ older messages: PgUp or ↑ to load",
        _ if conv.messages.is_empty() && conv.pending.is_empty() => {
            "── no messages yet: say hello ──"
        }
        _ => "── start of the conversation ──",
    };
    Line::styled(text, dim)
}

pub(crate) fn lay_out(app: &App, conv: &Conv, width: u16) -> Laid {
    let width = usize::from(width).max(INDENT + 8);
    let mut lines = vec![marker(conv)];
    let mut spans = Vec::with_capacity(conv.messages.len());
    let read_by_others = conv.read_by_others();
    for message in conv.messages.values() {
        let first = lines.len();
        message_lines(app, conv, message, read_by_others, width, &mut lines);
        if conv.selected == Some(message.seq) {
            for line in &mut lines[first..] {
                line.style = line.style.add_modifier(Modifier::REVERSED);
            }
        }
        spans.push((message.seq, first, lines.len()));
    }
    for pending in &conv.pending {
        if let Some(seq) = pending.reply_to_seq {
            lines.push(quote(app, conv, seq, width));
        }
        let head = vec![
            Span::styled("  …   ", Style::new().add_modifier(Modifier::DIM)),
            Span::styled(
                format!("{}: ", app.user_name(app.me.id)),
                Style::new().add_modifier(Modifier::DIM | Modifier::BOLD),
            ),
        ];
        let dim = Style::new().add_modifier(Modifier::DIM);
        push_wrapped(&mut lines, head, &pending.text, dim, Some("sending"), width);
    }
    Laid { lines, spans }
}

fn message_lines(
    app: &App,
    conv: &Conv,
    message: &MessageView,
    read_by_others: i64,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    let dim = Style::new().add_modifier(Modifier::DIM);
    if let Some(seq) = message.reply_to_seq {
        lines.push(quote(app, conv, seq, width));
    }
    let mine = message.sender_id == app.me.id;
    let mut name_style = Style::new()
        .fg(name_colour(message.sender_id))
        .add_modifier(Modifier::BOLD);
    if mine {
        name_style = Style::new().add_modifier(Modifier::BOLD);
    }
    let head = vec![
        Span::styled(format!("{} ", clock(app, message.created_at_ms)), dim),
        Span::styled(
            format!("{}: ", app.user_name(message.sender_id)),
            name_style,
        ),
    ];
    if message.deleted {
        push_wrapped(
            lines,
            head,
            "message deleted",
            dim.add_modifier(Modifier::ITALIC),
            None,
            width,
        );
        return;
    }
    let mut notes = Vec::new();
    if message.edited_at_ms.is_some() {
        notes.push("edited");
    }
    if mine {
        notes.push(if read_by_others >= message.seq {
            "✓✓"
        } else {
            "✓"
        });
    }
    let note = (!notes.is_empty()).then(|| notes.join(" "));
    push_wrapped(
        lines,
        head,
        &message.text,
        Style::new(),
        note.as_deref(),
        width,
    );
    for file in &message.attachments {
        let line = format!("      📎 {} ({})", file.name, size(file.size));
        lines.push(Line::styled(truncate(&line, width), dim));
    }
    if !message.reactions.is_empty() {
        let mut spans = vec![Span::raw(" ".repeat(INDENT))];
        for reaction in &message.reactions {
            let style = if reaction.user_ids.contains(&app.me.id) {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                dim
            };
            spans.push(Span::styled(
                format!("{} {} ", reaction.emoji, reaction.user_ids.len()),
                style,
            ));
        }
        lines.push(Line::from(spans));
    }
}

/// The line above a reply that says what it answers.
fn quote(app: &App, conv: &Conv, seq: i64, width: usize) -> Line<'static> {
    let quoted = match conv.messages.get(&seq) {
        Some(original) if original.deleted => {
            format!("{}: (deleted)", app.user_name(original.sender_id))
        }
        Some(original) => format!(
            "{}: {}",
            app.user_name(original.sender_id),
            original.text.replace('\n', " ")
        ),
        None => format!("message #{seq}"),
    };
    let style = Style::new().add_modifier(Modifier::DIM | Modifier::ITALIC);
    Line::styled(truncate(&format!("      ↳ {quoted}"), width), style)
}

/// `head` then `text` wrapped at `width`, continuation lines indented; `note` (dim) after the
/// text.
fn push_wrapped(
    lines: &mut Vec<Line<'static>>,
    head: Vec<Span<'static>>,
    text: &str,
    style: Style,
    note: Option<&str>,
    width: usize,
) {
    let head_width: usize = head.iter().map(|span| span.width()).sum();
    let first = width.saturating_sub(head_width).max(4);
    let rest = width.saturating_sub(INDENT).max(4);
    let mut wrapped = wrap(text, first, rest).into_iter();
    let mut spans = head;
    spans.push(Span::styled(wrapped.next().unwrap_or_default(), style));
    let mut current = Line::from(spans);
    for line in wrapped {
        lines.push(current);
        current = Line::from(vec![
            Span::raw(" ".repeat(INDENT)),
            Span::styled(line, style),
        ]);
    }
    if let Some(note) = note {
        let note = format!(" {note}");
        if current.width() + text_width(&note) > width {
            lines.push(current);
            current = Line::from(Span::raw(" ".repeat(INDENT)));
        }
        current
            .spans
            .push(Span::styled(note, Style::new().add_modifier(Modifier::DIM)));
    }
    lines.push(current);
}

/// `12 KiB`, `3.4 MiB`.
fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    if bytes < KIB {
        format!("{bytes} B")
    } else if bytes < KIB * KIB {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{:.1} MiB", bytes as f64 / (KIB * KIB) as f64)
    }
}

/// The display width of `text` in terminal columns.
pub(crate) fn text_width(text: &str) -> usize {
    text.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// `text` cut to `width` columns, with an ellipsis when cut.
pub(crate) fn truncate(text: &str, width: usize) -> String {
    if text_width(text) <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Greedy word wrap: the first line `first` columns wide, the others `rest`; words longer than a
/// line are cut; each newline in `text` starts a line.
pub(crate) fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    let limit = |out: &Vec<String>| if out.is_empty() { first } else { rest };
    for (index, paragraph) in text.split('\n').enumerate() {
        if index > 0 {
            out.push(std::mem::take(&mut line));
            used = 0;
        }
        for word in paragraph.split(' ') {
            let word_width = text_width(word);
            let space = usize::from(used > 0);
            if used > 0 && used + space + word_width > limit(&out) {
                out.push(std::mem::take(&mut line));
                used = 0;
            } else if space == 1 {
                line.push(' ');
                used += 1;
            }
            for c in word.chars() {
                let w = c.width().unwrap_or(0);
                if used + w > limit(&out) && used > 0 {
                    out.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += w;
            }
        }
    }
    out.push(line);
    out
}

/// `HH:MM` in the client's time zone, with the date when it is not today.
fn clock(app: &App, at_ms: i64) -> String {
    let Ok(at) = jiff::Timestamp::from_millisecond(at_ms) else {
        return "--:--".into();
    };
    let at = app.tz.to_datetime(at);
    format!("{:02}:{:02}", at.hour(), at.minute())
}

/// A stable colour per user from the terminal's own palette (ANSI colours, never RGB).
pub(crate) fn name_colour(user: Uuid) -> Color {
    const PALETTE: [Color; 6] = [
        Color::Cyan,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Red,
    ];
    let hash = user
        .as_u128()
        .to_le_bytes()
        .iter()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)));
    PALETTE[hash as usize % PALETTE.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_words_and_cuts_long_ones() {
        assert_eq!(wrap("hello world", 20, 20), vec!["hello world"]);
        assert_eq!(wrap("hello world", 8, 8), vec!["hello", "world"]);
        assert_eq!(wrap("abcdefghij", 4, 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("one\ntwo", 20, 20), vec!["one", "two"]);
        assert_eq!(wrap("a b c d", 3, 1), vec!["a b", "c", "d"]);
        assert_eq!(wrap("", 5, 5), vec![""]);
    }

    #[test]
    fn wide_characters_count_double() {
        assert_eq!(text_width("👍x"), 3);
        assert_eq!(wrap("👍👍👍", 4, 4), vec!["👍👍", "👍"]);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
