//! Finding people and conversations by name: what a name query is, and whether a name matches it.
//! Pure functions, so both stores and the services agree on what a match is.
//!
//! Words are message search's ([`crate::search::terms`]: folded and split the same way), and a
//! name matches when every word of the query begins some word of the name: "ann smi" finds
//! "Ann Smith" and "Smith, Annabel", "élo" and "ELO" find "Éloïse Martin". Nothing in the query is
//! an operator (quotes and `*` separate words like any punctuation). Each Chinese or Japanese
//! character is a word of its own (as in message search), and characters written together in the
//! query must stand together, in that order, in the name: 李明 finds 李明华, not 明李.
//!
//! People: a user is found when the username starts with the query (case aside), or the display
//! name matches it. Stores answer from an index of display-name words ([`name_words`]: a row per
//! (word, user) range-scanned by prefix, carrying the username to order by and all the user's
//! words, to check the query's other words on the same row), never a scan of all users.
//!
//! Conversations: only the caller's own, so the stores read the titles of all the caller's
//! current conversations in one indexed query ([`ConversationTitle`]) and they are matched here
//! ([`matching_conversations`]).

use crate::error::DomainError;
use crate::ids::ConversationId;
use crate::search::{QUERY_CHARS_MAX, QUERY_TERMS_MAX, terms};

/// Longest word kept, in characters: longer words of names and queries are cut to it, so an
/// index entry stays small (a character can fold into several: 64 of `ﷲ` are one word of 256
/// letters). A query word of at most this many characters matches exactly as if nothing were
/// cut.
pub const WORD_CHARS_MAX: usize = 64;

/// The words of `text`, folded and split as message search does, each cut to
/// [`WORD_CHARS_MAX`] characters.
fn words_of(text: &str) -> Vec<String> {
    terms(text)
        .into_iter()
        .map(|term| match term.text.char_indices().nth(WORD_CHARS_MAX) {
            Some((end, _)) => term.text[..end].to_owned(),
            None => term.text,
        })
        .collect()
}

/// Most bytes of a name's words, with a space between each two: the words past it are left
/// out (only names built to fold into dozens of long words reach it), so that a store's row of
/// them stays small.
pub const NAME_WORDS_BYTES_MAX: usize = 1024;

/// The distinct words of a name, in order of first appearance, as many as fit in
/// [`NAME_WORDS_BYTES_MAX`]: what a store indexes for a display name.
pub fn name_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut bytes = 0;
    for word in words_of(name) {
        if words.contains(&word) {
            continue;
        }
        bytes += word.len() + usize::from(!words.is_empty());
        if bytes > NAME_WORDS_BYTES_MAX {
            break;
        }
        words.push(word);
    }
    words
}

/// The words of a name query, each of which must begin some word of a matching name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameQuery {
    /// Distinct, none the beginning of another (it would add nothing), longest first.
    words: Vec<String>,
    /// Runs of two or more Chinese or Japanese characters written together in the query: each
    /// must stand in a matching name as written ([`NameQuery::in_order`]).
    phrases: Vec<Vec<String>>,
}

impl NameQuery {
    /// `InvalidInput` (naming `field`) when `text` holds no word, is longer than
    /// [`QUERY_CHARS_MAX`] characters or holds more than [`QUERY_TERMS_MAX`] words.
    pub fn parse(text: &str, field: &'static str) -> Result<Self, DomainError> {
        Self::parse_words(text, field)?
            .ok_or_else(|| DomainError::invalid(field, "needs at least one letter or digit"))
    }

    /// Like [`parse`](Self::parse), but `None` when `text` holds no word.
    fn parse_words(text: &str, field: &'static str) -> Result<Option<Self>, DomainError> {
        if text.chars().count() > QUERY_CHARS_MAX {
            return Err(DomainError::invalid(
                field,
                format!("at most {QUERY_CHARS_MAX} characters"),
            ));
        }
        let mut words = words_of(text);
        if words.len() > QUERY_TERMS_MAX {
            return Err(DomainError::invalid(
                field,
                format!("at most {QUERY_TERMS_MAX} words"),
            ));
        }
        // Longest first, so that a word beginning a longer one comes after it and is dropped.
        words.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        let mut kept: Vec<String> = Vec::with_capacity(words.len());
        for word in words {
            if !kept.iter().any(|longer| longer.starts_with(&word)) {
                kept.push(word);
            }
        }
        let phrases = cjk_runs(text);
        Ok((!kept.is_empty()).then_some(Self {
            words: kept,
            phrases,
        }))
    }

    /// Whether the query's runs of Chinese or Japanese characters stand in `name` as written
    /// (the word index cannot tell: it holds each character as a word of its own).
    pub fn in_order(&self, name: &str) -> bool {
        if self.phrases.is_empty() {
            return true;
        }
        let runs = cjk_runs(name);
        self.phrases.iter().all(|phrase| {
            runs.iter()
                .any(|run| run.windows(phrase.len()).any(|w| w == phrase.as_slice()))
        })
    }

    /// Distinct, never empty, none the beginning of another, longest first (the first is the
    /// most selective one to scan an index by).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Whether every word of the query begins one of `words` (a name's, folded: [`name_words`]).
    pub fn matches_words<S: AsRef<str>>(&self, words: &[S]) -> bool {
        self.words
            .iter()
            .all(|q| words.iter().any(|w| w.as_ref().starts_with(q.as_str())))
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        self.matches_words(&name_words(name)) && self.in_order(name)
    }
}

/// The runs of Chinese or Japanese characters written together in `text` (each a term), as
/// sequences of their folded characters; single characters are left out.
fn cjk_runs(text: &str) -> Vec<Vec<String>> {
    let mut runs: Vec<Vec<String>> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    let mut end = None;
    for term in terms(text) {
        if !(term.cjk && end == Some(term.span.start)) && run.len() > 1 {
            runs.push(std::mem::take(&mut run));
        }
        if !(term.cjk && end == Some(term.span.start)) {
            run.clear();
        }
        end = term.cjk.then_some(term.span.end);
        if term.cjk {
            run.push(term.text);
        }
    }
    if run.len() > 1 {
        runs.push(run);
    }
    runs
}

/// A search for people, as a store runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// The query trimmed and lower-cased: usernames that start with it match.
    pub username_prefix: String,
    /// The query's words, when it has any: display names that match them match.
    pub name: Option<NameQuery>,
}

impl UserQuery {
    /// `InvalidInput` on `prefix` when the query is blank, longer than [`QUERY_CHARS_MAX`]
    /// characters or holds more than [`QUERY_TERMS_MAX`] words.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let username_prefix = text.trim().to_ascii_lowercase();
        if username_prefix.is_empty() {
            return Err(DomainError::invalid("prefix", "must not be empty"));
        }
        let name = NameQuery::parse_words(&username_prefix, "prefix")?;
        Ok(Self {
            username_prefix,
            name,
        })
    }
}

/// What names one of a user's conversations: a group by its name, a direct conversation by the
/// other member's display name and username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationTitle {
    pub id: ConversationId,
    pub last_activity_ms: i64,
    /// A group's name.
    pub name: Option<String>,
    /// A direct conversation's other member.
    pub peer_display_name: Option<String>,
    pub peer_username: Option<String>,
}

impl ConversationTitle {
    /// Whether `query` matches the title (each query word may begin a word of any of its
    /// names: "ann smi" finds the direct conversation with "Ann" whose username is "smithy").
    pub fn matches(&self, query: &NameQuery) -> bool {
        let mut words = Vec::new();
        for name in [&self.name, &self.peer_display_name, &self.peer_username]
            .into_iter()
            .flatten()
        {
            words.extend(name_words(name));
        }
        query.matches_words(&words)
            && [&self.name, &self.peer_display_name, &self.peer_username]
                .into_iter()
                .flatten()
                .any(|name| query.in_order(name))
    }
}

/// The conversations among `titles` that `query` matches, with last activity before
/// `before_activity_ms` when given: most recent activity first (ties by id, as the unfiltered
/// list), at most `limit`.
pub fn matching_conversations(
    query: &NameQuery,
    titles: Vec<ConversationTitle>,
    before_activity_ms: Option<i64>,
    limit: usize,
) -> Vec<ConversationId> {
    let mut found: Vec<(i64, ConversationId)> = titles
        .into_iter()
        .filter(|t| before_activity_ms.is_none_or(|before| t.last_activity_ms < before))
        .filter(|t| t.matches(query))
        .map(|t| (t.last_activity_ms, t.id))
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.truncate(limit);
    found.into_iter().map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> NameQuery {
        NameQuery::parse(text, "q").unwrap()
    }

    #[test]
    fn every_query_word_begins_some_word_of_the_name() {
        let name = "Ann Smith";
        assert!(query("ann").matches(name));
        assert!(query("Ann Smi").matches(name));
        assert!(query("smi ANN").matches(name), "any order");
        assert!(query("a s").matches(name));
        assert!(!query("nn").matches(name), "only beginnings of words");
        assert!(!query("ann jones").matches(name), "every word");
        assert!(!query("annabel").matches(name));
        assert!(query("Smith, Ann").matches("Annabel Smithers"));
    }

    #[test]
    fn folded_like_message_search() {
        let name = "Éloïse Martin";
        for q in ["élo", "ELO", "eloise", "ｅｌｏ", "mart éloï"] {
            assert!(query(q).matches(name), "{q}");
        }
        assert!(
            query("o'brien").matches("Mary O’Brien"),
            "punctuation separates"
        );
        assert!(query("東京").matches("東京タワー"));
        assert!(!query("大阪").matches("東京タワー"));
    }

    #[test]
    fn words_are_distinct_longest_first_and_none_begins_another() {
        assert_eq!(query("ann annabel Ann").words(), ["annabel"]);
        assert_eq!(query("bo ann smith s").words(), ["smith", "ann", "bo"]);
        assert_eq!(name_words("Ann ann Smith-Ann"), ["ann", "smith"]);
    }

    #[test]
    fn characters_written_together_stand_together_in_order() {
        let name = "李明华";
        assert!(query("李明").matches(name));
        assert!(query("明华").matches(name));
        assert!(
            query("李 华").matches(name),
            "apart in the query: each anywhere"
        );
        assert!(!query("明李").matches(name), "another order");
        assert!(!query("李华").matches(name), "not together in the name");
        assert!(query("李明 smith").matches("Smith 李明华"));
        assert!(query("東京").matches("東京都 Office"));
        assert!(!query("京東").matches("東京都 Office"));
        let title = ConversationTitle {
            id: ConversationId(uuid::Uuid::nil()),
            last_activity_ms: 0,
            name: None,
            peer_display_name: Some("李明华".into()),
            peer_username: Some("li".into()),
        };
        assert!(title.matches(&query("李明")));
        assert!(!title.matches(&query("明李")));
    }

    #[test]
    fn long_words_are_cut() {
        let name = "\u{FDF2}".repeat(64);
        let words = name_words(&name);
        assert_eq!(words.len(), 1);
        assert_eq!(words[0].chars().count(), WORD_CHARS_MAX);
        assert!(query(&"\u{FDF2}".repeat(16)).matches(&name));
        assert!(query(&"\u{FDF2}".repeat(30)).matches(&name), "cut alike");
        // Words past the bytes a row of them may take are left out.
        let many: Vec<String> = (0..300).map(|i| format!("w{i:03}")).collect();
        let words = name_words(&many.join(" "));
        assert_eq!(words.len(), (NAME_WORDS_BYTES_MAX + 1) / 5);
        assert!(words.join(" ").len() <= NAME_WORDS_BYTES_MAX);
        let long = "a".repeat(100);
        assert!(query(&long).matches(&format!("{long}b")));
        assert!(!query("ab").matches(&long));
    }

    #[test]
    fn a_query_needs_a_word_and_has_limits() {
        for bad in ["", "  ", "!!! ---", "🎉"] {
            assert!(NameQuery::parse(bad, "q").is_err(), "{bad:?}");
        }
        assert!(NameQuery::parse(&"a".repeat(QUERY_CHARS_MAX + 1), "q").is_err());
        assert!(NameQuery::parse(&"a ".repeat(QUERY_TERMS_MAX + 1), "q").is_err());
        assert!(NameQuery::parse(&"a ".repeat(QUERY_TERMS_MAX), "q").is_ok());
    }

    #[test]
    fn user_queries_keep_the_username_prefix() {
        let q = UserQuery::parse("  Ann.S ").unwrap();
        assert_eq!(q.username_prefix, "ann.s");
        assert_eq!(q.name.unwrap().words(), ["ann", "s"]);
        // No word, but a username may start with it.
        let q = UserQuery::parse("_").unwrap();
        assert_eq!((q.username_prefix.as_str(), q.name), ("_", None));
        assert!(UserQuery::parse(" ").is_err());
        assert!(UserQuery::parse(&"a".repeat(QUERY_CHARS_MAX + 1)).is_err());
    }

    fn title(
        n: u128,
        at: i64,
        name: Option<&str>,
        peer: Option<(&str, &str)>,
    ) -> ConversationTitle {
        ConversationTitle {
            id: ConversationId(uuid::Uuid::from_u128(n)),
            last_activity_ms: at,
            name: name.map(Into::into),
            peer_display_name: peer.map(|p| p.0.into()),
            peer_username: peer.map(|p| p.1.into()),
        }
    }

    #[test]
    fn conversations_match_by_name_or_peer_most_recent_first() {
        let titles = vec![
            title(1, 10, Some("Team Lunch"), None),
            title(2, 30, None, Some(("Ann Smith", "annie"))),
            title(3, 20, Some("Launch plans"), None),
            title(4, 30, None, Some(("Bob", "lunchbox"))),
            title(5, 40, None, None),
        ];
        let ids = |found: Vec<ConversationId>| {
            found
                .into_iter()
                .map(|id| id.0.as_u128())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(matching_conversations(
                &query("lun"),
                titles.clone(),
                None,
                10
            )),
            [4, 1],
            "a group's name, a peer's username"
        );
        assert_eq!(
            ids(matching_conversations(
                &query("l"),
                titles.clone(),
                None,
                10
            )),
            [4, 3, 1],
            "ties by id"
        );
        assert_eq!(
            ids(matching_conversations(&query("l"), titles.clone(), None, 1)),
            [4]
        );
        assert_eq!(
            ids(matching_conversations(
                &query("l"),
                titles.clone(),
                Some(30),
                10
            )),
            [3, 1],
            "before the given activity"
        );
        assert_eq!(
            ids(matching_conversations(
                &query("smi annie"),
                titles.clone(),
                None,
                10
            )),
            [2],
            "display name and username together"
        );
        assert!(matching_conversations(&query("x"), titles, None, 10).is_empty());
    }
}
