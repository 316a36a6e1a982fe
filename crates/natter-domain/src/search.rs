//! Message search, the parts every store shares: how text becomes search terms, what a query
//! means, whether a message matches it, and the snippet shown for a hit. Pure functions, so the
//! embedded index (SQLite FTS5), the scaled-out one (PostgreSQL full-text search) and the
//! highlighter cannot disagree about what a word is.
//!
//! Text to terms ([`terms`]): compatibility-decomposed (NFKD: full-width letters become their
//! ASCII forms, ligatures split), accents and other combining marks dropped, recomposed (NFC:
//! Hangul syllables come back whole) and lower-cased; then split into words at every character
//! that is not a letter or digit. Han ideographs, kana and the like are written without spaces,
//! so each of those characters is a term of its own and a run of them in a query is a phrase:
//! 東京 finds 東京都 but not 京東. Hangul is written with spaces and is split like Latin. Scripts
//! written without spaces that are not CJK (Thai, Lao, Khmer, Burmese) are split only at spaces
//! and punctuation: a word in the middle of a run is not found.
//!
//! A query ([`SearchText::parse`]): words, all of which must be in the message (any order);
//! `"quoted words"`, which must follow each other; a word ending in `*` matches every word it
//! begins. Nothing else is an operator: other punctuation separates words, as in the text.

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::error::DomainError;
use crate::ids::{ConversationId, MessageId, UserId};

/// Longest query text, in characters.
pub const QUERY_CHARS_MAX: usize = 256;
/// Most terms (words, and the characters of CJK phrases) in one query.
pub const QUERY_TERMS_MAX: usize = 16;
/// Hits on one page, most and default.
pub const PAGE_MAX: u32 = 50;
pub const PAGE_DEFAULT: u32 = 20;
/// How deep relevance-ordered results go (newest-first results page without limit).
pub const RELEVANCE_DEPTH_MAX: u32 = 500;
/// Characters of a snippet around its first hit.
pub const SNIPPET_CHARS: usize = 160;

/// One term of a text, with where it is in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Normalised: no marks, lower case.
    pub text: String,
    /// Byte range in the original text.
    pub span: Range<usize>,
    /// A CJK character: a term by itself, glued to its neighbours in a phrase.
    pub cjk: bool,
}

/// Characters written without spaces whose every character is a term.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF        // Hiragana, Katakana
        | 0x3400..=0x4DBF      // CJK Extension A
        | 0x4E00..=0x9FFF      // CJK Unified Ideographs
        | 0xF900..=0xFAFF      // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F      // half-width Katakana
        | 0x20000..=0x3FFFF) // CJK Extensions B and later
}

/// What one character of a text becomes: its normalised form, and whether it is part of a
/// word (`None`: a separator; `Some("")`: a mark that belongs to the word it follows).
fn normalise(c: char) -> Option<String> {
    if is_combining_mark(c) {
        return Some(String::new());
    }
    let folded: String = std::iter::once(c)
        .nfkd()
        .filter(|d| !is_combining_mark(*d))
        .nfc()
        .flat_map(char::to_lowercase)
        .collect();
    (!folded.is_empty() && folded.chars().all(char::is_alphanumeric)).then_some(folded)
}

/// The terms of `text`, in order. A character whose compatibility form is several (㍜ is "4点")
/// is split by the same rules as if they had been typed, each piece spanning the character.
pub fn terms(text: &str) -> Vec<Term> {
    let mut out: Vec<Term> = Vec::new();
    // Whether the last term is a word that the next letter or digit continues.
    let mut open = false;
    for (at, c) in text.char_indices() {
        let end = at + c.len_utf8();
        // Most chat text is ASCII: folded without the Unicode tables.
        if c.is_ascii() {
            if !c.is_ascii_alphanumeric() {
                open = false;
                continue;
            }
            extend_word(&mut out, &mut open, c.to_ascii_lowercase(), at..end);
            continue;
        }
        let Some(folded) = normalise(c) else {
            open = false;
            continue;
        };
        if folded.is_empty() {
            // A combining mark extends the term before it (or is nothing).
            if let Some(last) = out.last_mut()
                && last.span.end == at
            {
                last.span.end = end;
            }
            continue;
        }
        for d in folded.chars() {
            if is_cjk(d) {
                out.push(Term {
                    text: d.to_string(),
                    span: at..end,
                    cjk: true,
                });
                open = false;
                continue;
            }
            extend_word(&mut out, &mut open, d, at..end);
        }
    }
    out
}

/// Add `d` (from the character at `span`) to the open word, or start one.
fn extend_word(out: &mut Vec<Term>, open: &mut bool, d: char, span: Range<usize>) {
    match out.last_mut() {
        Some(last) if *open => {
            last.text.push(d);
            last.span.end = span.end;
        }
        _ => {
            out.push(Term {
                text: d.to_string(),
                span,
                cjk: false,
            });
            *open = true;
        }
    }
}

/// What an index stores for `text`: its terms separated by single spaces. Both indexes split
/// this on spaces only, so they see exactly the terms above.
pub fn index_text(text: &str) -> String {
    let terms = terms(text);
    let mut out = String::with_capacity(text.len() + terms.len());
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&term.text);
    }
    out
}

/// One part of a query: every one must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A word; with `prefix`, any word it begins.
    Word { text: String, prefix: bool },
    /// Terms that must follow each other (a quoted phrase, or a run of CJK characters).
    Phrase(Vec<String>),
}

/// A parsed, normalised query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    parts: Vec<Part>,
}

impl SearchText {
    /// `InvalidInput` when the query is empty (no word in it), longer than
    /// [`QUERY_CHARS_MAX`] characters or holds more than [`QUERY_TERMS_MAX`] terms.
    pub fn parse(query: &str) -> Result<Self, DomainError> {
        if query.chars().count() > QUERY_CHARS_MAX {
            return Err(invalid(format!("at most {QUERY_CHARS_MAX} characters")));
        }
        let mut parts = Vec::new();
        let mut count = 0;
        // Even-numbered pieces are outside quotes, odd-numbered ones inside.
        for (i, piece) in query.split('"').enumerate() {
            let quoted = i % 2 == 1;
            let found = terms(piece);
            count += found.len();
            if quoted {
                let words: Vec<String> = found.into_iter().map(|t| t.text).collect();
                match words.len() {
                    0 => {}
                    1 => parts.push(Part::Word {
                        text: words.into_iter().next().unwrap_or_default(),
                        prefix: false,
                    }),
                    _ => parts.push(Part::Phrase(words)),
                }
                continue;
            }
            let mut run: Vec<String> = Vec::new();
            let mut previous_end = None;
            for term in found {
                let glued = previous_end == Some(term.span.start);
                previous_end = Some(term.span.end);
                if term.cjk {
                    if !glued {
                        flush_run(&mut run, &mut parts);
                    }
                    run.push(term.text);
                    continue;
                }
                flush_run(&mut run, &mut parts);
                let prefix = piece[term.span.end..].starts_with('*');
                parts.push(Part::Word {
                    text: term.text,
                    prefix,
                });
            }
            flush_run(&mut run, &mut parts);
        }
        if parts.is_empty() {
            return Err(invalid("needs at least one letter or digit".into()));
        }
        if count > QUERY_TERMS_MAX {
            return Err(invalid(format!("at most {QUERY_TERMS_MAX} words")));
        }
        Ok(Self { parts })
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Whether `text` matches: every part found in its terms.
    pub fn matches(&self, text: &str) -> bool {
        let terms: Vec<String> = terms(text).into_iter().map(|t| t.text).collect();
        self.parts
            .iter()
            .all(|part| !part_hits(part, &terms).is_empty())
    }

    /// The part of `text` to show for a hit: up to about [`SNIPPET_CHARS`] characters around
    /// the first match, cut at term boundaries, with every matching term marked.
    pub fn snippet(&self, text: &str) -> Vec<SnippetPart> {
        let terms = terms(text);
        let words: Vec<String> = terms.iter().map(|t| t.text.clone()).collect();
        let mut hit = vec![false; terms.len()];
        for part in &self.parts {
            for i in part_hits(part, &words) {
                hit[i] = true;
            }
        }
        let (mut from, mut to) = (0, text.len());
        if text.chars().count() > SNIPPET_CHARS {
            let first = hit.iter().position(|h| *h).unwrap_or(0);
            let anchor = terms.get(first).map_or(0, |t| t.span.start);
            from = floor_char(text, anchor.saturating_sub(SNIPPET_CHARS / 4));
            // Start at a term boundary: the term `from` falls in, whole.
            if let Some(t) = terms.iter().find(|t| t.span.end > from) {
                from = from.min(t.span.start);
            }
            to = text[from..]
                .char_indices()
                .nth(SNIPPET_CHARS)
                .map_or(text.len(), |(i, _)| from + i);
            if let Some(t) = terms.iter().find(|t| t.span.start < to && t.span.end > to) {
                to = t.span.start;
            }
        }
        let mut out = Vec::new();
        if from > 0 {
            out.push(SnippetPart::plain("…"));
        }
        let mut at = from;
        for (term, is_hit) in terms.iter().zip(&hit) {
            if !is_hit || term.span.start < from.max(at) || term.span.end > to {
                continue;
            }
            if term.span.start > at {
                push_plain(&mut out, &text[at..term.span.start]);
            }
            out.push(SnippetPart {
                text: text[term.span.clone()].to_owned(),
                hit: true,
            });
            at = term.span.end;
        }
        if to > at {
            push_plain(&mut out, &text[at..to]);
        }
        if to < text.len() {
            push_plain(&mut out, "…");
        }
        out
    }
}

fn invalid(reason: String) -> DomainError {
    DomainError::Invalid { field: "q", reason }
}

fn flush_run(run: &mut Vec<String>, parts: &mut Vec<Part>) {
    match run.len() {
        0 => {}
        1 => parts.push(Part::Word {
            text: run.pop().unwrap_or_default(),
            prefix: false,
        }),
        _ => parts.push(Part::Phrase(std::mem::take(run))),
    }
}

/// Indices of the terms of `words` that `part` matches (all the terms of each phrase match).
fn part_hits(part: &Part, words: &[String]) -> Vec<usize> {
    match part {
        Part::Word { text, prefix } => words
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                if *prefix {
                    w.starts_with(text.as_str())
                } else {
                    *w == text
                }
            })
            .map(|(i, _)| i)
            .collect(),
        Part::Phrase(phrase) => {
            let mut out = Vec::new();
            if phrase.is_empty() || phrase.len() > words.len() {
                return out;
            }
            for start in 0..=words.len() - phrase.len() {
                if words[start..start + phrase.len()] == phrase[..] {
                    out.extend(start..start + phrase.len());
                }
            }
            out
        }
    }
}

fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn push_plain(out: &mut Vec<SnippetPart>, text: &str) {
    if let Some(last) = out.last_mut()
        && !last.hit
    {
        last.text.push_str(text);
        return;
    }
    out.push(SnippetPart::plain(text));
}

/// A piece of a snippet: matching terms are `hit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

impl SnippetPart {
    fn plain(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            hit: false,
        }
    }
}

/// In which order hits come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchOrder {
    /// Newest message first.
    #[default]
    Newest,
    /// Best match first (the index's rank: BM25 in SQLite, `ts_rank` in PostgreSQL), newest
    /// first among equals.
    Relevance,
}

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchCursor {
    /// Newest first: messages older (smaller id) than this one.
    Before(MessageId),
    /// By relevance: skip this many hits.
    Skip(u32),
}

impl SearchCursor {
    /// The opaque form clients pass back.
    pub fn encode(self) -> String {
        match self {
            Self::Before(id) => format!("b{}", id.0),
            Self::Skip(n) => format!("s{n}"),
        }
    }

    /// `InvalidInput` for anything [`encode`](Self::encode) did not make, or a cursor of the
    /// other order.
    pub fn decode(text: &str, order: SearchOrder) -> Result<Self, DomainError> {
        let bad = || DomainError::Invalid {
            field: "cursor",
            reason: "not one this search gave".into(),
        };
        let (kind, number) = text.split_at_checked(1).ok_or_else(bad)?;
        match (kind, order) {
            ("b", SearchOrder::Newest) => number
                .parse::<i64>()
                .map(|id| Self::Before(MessageId(id)))
                .map_err(|_| bad()),
            ("s", SearchOrder::Relevance) => number
                .parse::<u32>()
                .ok()
                .filter(|n| *n < RELEVANCE_DEPTH_MAX)
                .map(Self::Skip)
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

/// A message search as a store runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    pub text: SearchText,
    /// Only in this conversation.
    pub conversation: Option<ConversationId>,
    /// Only messages this user sent.
    pub from: Option<UserId>,
    /// Only messages created before / at or after these times (ms since the epoch).
    pub before_ms: Option<i64>,
    pub after_ms: Option<i64>,
    /// Only messages with at least one attachment.
    pub has_attachment: bool,
    pub order: SearchOrder,
    pub cursor: Option<SearchCursor>,
    /// 1..=[`PAGE_MAX`].
    pub limit: u32,
}

/// The rows a store reads for one page of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows to read: one more than the page holds, which only says whether there is a next
    /// page (by relevance, never past [`RELEVANCE_DEPTH_MAX`]).
    pub take: u32,
    /// Rows to skip first (relevance pages; newest-first pages start after their cursor's id).
    pub skip: u32,
    /// Newest first: only messages with a smaller id.
    pub before: Option<MessageId>,
}

impl MessageQuery {
    pub fn window(&self) -> Window {
        let (skip, before) = match self.cursor {
            Some(SearchCursor::Skip(n)) => (n, None),
            Some(SearchCursor::Before(id)) => (0, Some(id)),
            None => (0, None),
        };
        let take = match self.order {
            SearchOrder::Newest => self.limit + 1,
            SearchOrder::Relevance => {
                (self.limit + 1).min(RELEVANCE_DEPTH_MAX.saturating_sub(skip))
            }
        };
        Window { take, skip, before }
    }
}

impl HitPage {
    /// The page from what a store read for `query`'s [`MessageQuery::window`], in order.
    pub fn from_rows(mut hits: Vec<HitKey>, query: &MessageQuery) -> Self {
        let more = hits.len() > query.limit as usize;
        hits.truncate(query.limit as usize);
        let next = match query.order {
            _ if !more => None,
            SearchOrder::Newest => hits.last().map(|h| SearchCursor::Before(h.message_id)),
            SearchOrder::Relevance => Some(SearchCursor::Skip(query.window().skip + query.limit)),
        };
        Self { hits, next }
    }
}

/// Where a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HitKey {
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub message_id: MessageId,
}

/// A page of hits, as the index has them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HitPage {
    pub hits: Vec<HitKey>,
    /// Set when the index may hold more hits after these.
    pub next: Option<SearchCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        terms(text).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn accents_case_and_width_fold_away() {
        assert_eq!(words("Café CRÈME brûlée"), ["cafe", "creme", "brulee"]);
        assert_eq!(words("ＡＢＣ１２"), ["abc12"]);
        // A combining accent written apart belongs to its word.
        assert_eq!(words("cafe\u{301} ok"), ["cafe", "ok"]);
        assert_eq!(terms("cafe\u{301} ok")[0].span, 0..6);
        assert_eq!(index_text("Ça  va, ÇA VA?"), "ca va ca va");
    }

    #[test]
    fn punctuation_separates_and_cjk_characters_stand_alone() {
        assert_eq!(
            words("don't e-mail me@x.org"),
            ["don", "t", "e", "mail", "me", "x", "org"]
        );
        assert_eq!(words("東京都に行く"), ["東", "京", "都", "に", "行", "く"]);
        assert_eq!(words("안녕 세상"), ["안녕", "세상"]);
        assert_eq!(words("natter東京2"), ["natter", "東", "京", "2"]);
        // One character, two terms, as if typed: the query "4点" finds it.
        assert_eq!(words("会議は㍜"), ["会", "議", "は", "4", "点"]);
        assert!(SearchText::parse("4点").unwrap().matches("会議は㍜"));
        let shown = SearchText::parse("4点").unwrap().snippet("会議は㍜");
        let joined: String = shown.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, "会議は㍜");
        assert!(words("🙂 — !!").is_empty());
    }

    #[test]
    fn a_query_parses_into_words_prefixes_and_phrases() {
        let q = SearchText::parse(r#"Lunch "big  Cat" tom* 東京"#).unwrap();
        assert_eq!(
            q.parts(),
            [
                Part::Word {
                    text: "lunch".into(),
                    prefix: false
                },
                Part::Phrase(vec!["big".into(), "cat".into()]),
                Part::Word {
                    text: "tom".into(),
                    prefix: true
                },
                Part::Phrase(vec!["東".into(), "京".into()]),
            ]
        );
    }

    #[test]
    fn bad_queries_are_refused() {
        for q in ["", "   ", "\"\"", "!!! ---", "🙂"] {
            assert!(SearchText::parse(q).is_err(), "{q:?}");
        }
        assert!(SearchText::parse(&"a ".repeat(17)).is_err());
        assert!(SearchText::parse(&"a".repeat(257)).is_err());
        assert!(SearchText::parse(&"a".repeat(256)).is_ok());
    }

    #[test]
    fn matching_needs_every_part() {
        let q = SearchText::parse("cafe tom*").unwrap();
        assert!(q.matches("Tomorrow at the Café"));
        assert!(!q.matches("tomorrow at the bar"));
        assert!(!q.matches("cafes at atoms"));
        let phrase = SearchText::parse("\"big cat\"").unwrap();
        assert!(phrase.matches("a BIG cat!"));
        assert!(!phrase.matches("a cat, big"));
        let cjk = SearchText::parse("東京").unwrap();
        assert!(cjk.matches("東京都に行く"));
        assert!(!cjk.matches("京東"));
    }

    #[test]
    fn a_snippet_marks_every_hit_and_keeps_the_text() {
        let q = SearchText::parse("cafe").unwrap();
        let parts = q.snippet("Le Café, le cafe.");
        let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, "Le Café, le cafe.");
        let hits: Vec<&str> = parts
            .iter()
            .filter(|p| p.hit)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(hits, ["Café", "cafe"]);
    }

    #[test]
    fn a_long_text_is_cut_around_the_first_hit() {
        let text = format!("{} needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let parts = SearchText::parse("needle").unwrap().snippet(&text);
        let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert!(joined.starts_with('…') && joined.ends_with('…'), "{joined}");
        assert!(joined.chars().count() <= SNIPPET_CHARS + 2);
        assert!(parts.iter().any(|p| p.hit && p.text == "needle"));
        // Cut between words, never inside one.
        assert!(
            joined.starts_with("…hay ") && joined.ends_with("straw …"),
            "{joined}"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_strangers() {
        for (c, order) in [
            (SearchCursor::Before(MessageId(42)), SearchOrder::Newest),
            (SearchCursor::Skip(20), SearchOrder::Relevance),
        ] {
            assert_eq!(SearchCursor::decode(&c.encode(), order).unwrap(), c);
        }
        for bad in ["", "b", "bx", "s-1", "s500", "x1"] {
            assert!(
                SearchCursor::decode(bad, SearchOrder::Newest).is_err(),
                "{bad}"
            );
            assert!(
                SearchCursor::decode(bad, SearchOrder::Relevance).is_err(),
                "{bad}"
            );
        }
        assert!(SearchCursor::decode("s20", SearchOrder::Newest).is_err());
    }
}
