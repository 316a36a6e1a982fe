//! The search index: what only this adapter has. Every term natter folds must be stored as
//! one lexeme at its position and be found by its query (PostgreSQL's own parser would drop
//! some: `natter_store_postgres`'s search module says why it is not used), and the indexer's
//! upserts must hold up against records replayed or arriving out of order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use natter_domain::model::{Message, MessageChange};
use natter_domain::ports::{MessageSearch, MessageStore};
use natter_domain::search::index_text;
use natter_domain::{ConversationId, MessageIdGenerator, UserId};
use natter_store_postgres::{PgStore, SearchEntry};

use crate::support;

/// Every character natter folds into a term, with the term. Every script, not CJK alone.
fn single_terms() -> Vec<(char, String)> {
    (0..=u32::from(char::MAX))
        .filter_map(char::from_u32)
        .filter_map(|c| {
            let term = index_text(&c.to_string());
            // One character, one term (a compatibility form such as ㍜, "4点", is two).
            (!term.is_empty() && !term.contains(' ')).then_some((c, term))
        })
        .collect()
}

/// A small deterministic generator (xorshift64*), for words mixing scripts, letters and digits.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// A conversation of two fresh users whose entries are written straight to the index.
struct Room {
    store: PgStore,
    room: ConversationId,
    alice: UserId,
    bob: UserId,
    ids: MessageIdGenerator,
    seq: i64,
}

impl Room {
    async fn new() -> Self {
        let store = support::store(2).await;
        let f = support::fixture(&store);
        let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
            unreachable!()
        };
        let room = f.group(alice, &[bob]).await.id;
        Self {
            store,
            room,
            alice,
            bob,
            ids: MessageIdGenerator::new(1021),
            seq: 0,
        }
    }

    /// Index `text` as alice's next message; its seq.
    async fn index(&mut self, text: &str) -> i64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
        self.seq += 1;
        let entry = SearchEntry {
            id: self.ids.next(now.as_millis() as i64),
            conversation_id: self.room,
            seq: self.seq,
            mod_seq: self.seq,
            sender_id: self.alice,
            created_at_ms: support::fixture(&self.store)
                .new_message(self.room, self.alice, "x")
                .created_at_ms,
            has_attachment: false,
            deleted: false,
            text: text.to_owned(),
        };
        self.store.index(&entry).await.expect("index");
        self.seq
    }

    /// The lexemes and positions the index holds for message `seq`.
    async fn stored(&self, seq: i64) -> BTreeMap<String, Vec<i16>> {
        let rows: Vec<(String, Vec<i16>)> = sqlx::query_as(
            "SELECT lexeme, positions FROM message_search, unnest(terms) \
             WHERE conversation_id = $1 AND seq = $2",
        )
        .bind(self.room.0)
        .bind(seq)
        .fetch_all(&mut support::connection().await)
        .await
        .expect("read the index");
        rows.into_iter().collect()
    }

    async fn finds(&self, query: &str) -> Vec<i64> {
        let page = self
            .store
            .search_messages(self.bob, &natter_conformance::search::query(query))
            .await
            .expect("search");
        page.hits.iter().map(|h| h.seq).collect()
    }
}

/// Each term at its position, from 1.
fn positions(terms: &[String]) -> BTreeMap<String, Vec<i16>> {
    let mut expected: BTreeMap<String, Vec<i16>> = BTreeMap::new();
    for (i, term) in terms.iter().enumerate() {
        expected
            .entry(term.clone())
            .or_default()
            .push(i16::try_from(i + 1).expect("a short text"));
    }
    expected
}

fn differences(
    expected: &BTreeMap<String, Vec<i16>>,
    found: &BTreeMap<String, Vec<i16>>,
) -> Vec<String> {
    expected
        .iter()
        .filter(|(term, at)| found.get(*term) != Some(*at))
        .map(|(term, at)| {
            let code: Vec<String> = term
                .chars()
                .map(|c| format!("U+{:04X}", c as u32))
                .collect();
            format!("{term} {code:?} at {at:?}: {:?}", found.get(term))
        })
        .take(20)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_term_is_stored_whole_and_found() {
    let mut room = Room::new().await;
    let singles = single_terms();
    let by_term: BTreeMap<String, char> = singles.iter().map(|(c, t)| (t.clone(), *c)).collect();
    assert!(by_term.len() > 100_000, "{} terms", by_term.len());
    let chars: Vec<char> = by_term.values().copied().collect();
    let mut missing = Vec::new();
    for (n, chunk) in chars.chunks(2_000).enumerate() {
        let text: String = chunk.iter().flat_map(|c| [*c, ' ']).collect();
        let terms: Vec<String> = index_text(&text).split(' ').map(str::to_owned).collect();
        assert_eq!(terms.len(), chunk.len());
        let seq = room.index(&text).await;
        missing.extend(differences(&positions(&terms), &room.stored(seq).await));
        // A sample found through the port, as a word and as a prefix.
        for c in chunk.iter().step_by(97) {
            assert_eq!(room.finds(&c.to_string()).await, [seq], "{c} (chunk {n})");
            assert_eq!(
                room.finds(&format!("{c}*")).await,
                [seq],
                "{c}* (chunk {n})"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "not stored as natter folds them: {missing:#?}"
    );

    // Words of two to eight characters mixing every script natter keeps (a CJK character
    // is a term alone), each found as a word and a phrase of its terms.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5 {
        let words: Vec<String> = (0..300)
            .map(|_| {
                (0..2 + rng.below(7))
                    .map(|_| singles[rng.below(singles.len())].0)
                    .collect()
            })
            .collect();
        let text = words.join(" ");
        let terms: Vec<String> = index_text(&text).split(' ').map(str::to_owned).collect();
        let seq = room.index(&text).await;
        let found = room.stored(seq).await;
        let diff = differences(&positions(&terms), &found);
        assert!(
            diff.is_empty(),
            "not stored as natter folds them: {diff:#?}"
        );
        for word in words.iter().step_by(7) {
            assert_eq!(room.finds(&format!("\"{word}\"")).await, [seq], "{word}");
        }
    }
    let distinct: BTreeSet<&String> = by_term.keys().collect();
    assert_eq!(distinct.len(), by_term.len());
}

struct Indexed {
    store: PgStore,
    bob: natter_domain::UserId,
    message: Message,
}

/// A group of alice and bob, alice's message in it, not indexed yet.
async fn one_message(text: &str) -> Indexed {
    let store = support::store(2).await;
    let f = support::fixture(&store);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let room = f.group(alice, &[bob]).await.id;
    let message = f.send(room, alice, text).await;
    Indexed {
        store,
        bob,
        message,
    }
}

async fn found(i: &Indexed, text: &str) -> Vec<i64> {
    let page = i
        .store
        .search_messages(i.bob, &natter_conformance::search::query(text))
        .await
        .expect("search");
    page.hits.iter().map(|h| h.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_state_never_replaces_a_newer_one() {
    let i = one_message("the first draft").await;
    let edited = i
        .store
        .change(
            i.message.conversation_id,
            i.message.seq,
            MessageChange::Edit {
                text: natter_conformance::support::text("the final version"),
                mentions: Vec::new(),
            },
            i.message.created_at_ms + 1,
        )
        .await
        .expect("edit");
    i.store.index_message(&edited).await.expect("index");
    // The creation's record, replayed or late, after the edit's.
    i.store.index_message(&i.message).await.expect("index");
    assert_eq!(found(&i, "final").await, [i.message.seq]);
    assert!(found(&i, "draft").await.is_empty());
    // The same record again changes nothing.
    i.store.index_message(&edited).await.expect("index");
    assert_eq!(found(&i, "version").await, [i.message.seq]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_message_stays_out_whatever_comes_after() {
    let i = one_message("meet at noon").await;
    i.store.index_message(&i.message).await.expect("index");
    assert_eq!(found(&i, "noon").await, [i.message.seq]);
    let deleted = i
        .store
        .change(
            i.message.conversation_id,
            i.message.seq,
            MessageChange::Delete,
            i.message.created_at_ms + 1,
        )
        .await
        .expect("delete");
    i.store.index_message(&deleted).await.expect("index");
    assert!(found(&i, "noon").await.is_empty());
    // Replayed: the creation, and a state with a larger mod_seq that cannot exist (a deleted
    // message is final): neither brings it back.
    i.store.index_message(&i.message).await.expect("index");
    let mut later = i.message.clone();
    later.mod_seq = deleted.mod_seq + 10;
    i.store
        .index(&SearchEntry::from_message(&later))
        .await
        .expect("index");
    assert!(found(&i, "noon").await.is_empty());
    let (rows, terms): (i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(length(terms)) FROM message_search WHERE id = $1 AND deleted",
    )
    .bind(i.message.id.0)
    .fetch_one(&mut support::connection().await)
    .await
    .expect("the tombstone");
    assert_eq!((rows, terms), (1, 0), "a tombstone without terms");
}

/// Alice's messages in a group with bob, and what bob finds.
struct Batch {
    store: PgStore,
    bob: UserId,
}

impl Batch {
    async fn new(texts: &[&str]) -> (Self, Vec<Message>) {
        let i = one_message(texts[0]).await;
        let f = support::fixture(&i.store);
        let mut sent = vec![i.message.clone()];
        for text in &texts[1..] {
            sent.push(
                f.send(i.message.conversation_id, i.message.sender_id, text)
                    .await,
            );
        }
        let batch = Self {
            store: i.store,
            bob: i.bob,
        };
        (batch, sent)
    }

    async fn edit(&self, message: &Message, text: &str) -> Message {
        let change = MessageChange::Edit {
            text: natter_conformance::support::text(text),
            mentions: Vec::new(),
        };
        self.store
            .change(
                message.conversation_id,
                message.seq,
                change,
                message.created_at_ms + 1,
            )
            .await
            .expect("edit")
    }

    async fn delete(&self, message: &Message) -> Message {
        self.store
            .change(
                message.conversation_id,
                message.seq,
                MessageChange::Delete,
                message.created_at_ms + 1,
            )
            .await
            .expect("delete")
    }

    async fn found(&self, text: &str) -> Vec<i64> {
        let page = self
            .store
            .search_messages(self.bob, &natter_conformance::search::query(text))
            .await
            .expect("search");
        page.hits.iter().map(|h| h.seq).collect()
    }

    /// The row of `message`: its mod_seq, whether deleted, how many lexemes.
    async fn row(&self, message: &Message) -> (i64, bool, i32) {
        sqlx::query_as("SELECT mod_seq, deleted, length(terms) FROM message_search WHERE id = $1")
            .bind(message.id.0)
            .fetch_one(&mut support::connection().await)
            .await
            .expect("the row")
    }
}

fn entries(states: &[&Message]) -> Vec<SearchEntry> {
    states
        .iter()
        .map(|m| SearchEntry::from_message(m))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_ends_with_each_messages_latest_state() {
    let (b, sent) = Batch::new(&["alpha draft", "bravo lunch", "charlie plans"]).await;
    let [a, br, c] = &sent[..] else {
        unreachable!()
    };
    let a2 = b.edit(a, "alpha second").await;
    let a3 = b.edit(a, "alpha final").await;
    let br_deleted = b.delete(br).await;
    // Several states of one message, repeated and out of order, and a deletion, in one batch.
    let changed = b
        .store
        .index_batch(&entries(&[a, br, &a2, c, &br_deleted, &a3, &a2, a, br]))
        .await
        .expect("index a batch");
    assert_eq!(changed, 3, "one row per message");
    assert_eq!(b.found("alpha").await, [a.seq]);
    assert_eq!(b.found("final").await, [a.seq]);
    assert!(b.found("draft").await.is_empty());
    assert!(b.found("second").await.is_empty());
    assert!(b.found("bravo").await.is_empty(), "deleted");
    assert_eq!(b.found("charlie").await, [c.seq]);
    assert_eq!(b.row(a).await, (a3.mod_seq, false, 2));
    assert_eq!(b.row(br).await, (br_deleted.mod_seq, true, 0));

    // The same batch again, and the older states alone: nothing changes.
    let again = entries(&[a, br, &a2, c, &br_deleted, &a3]);
    assert_eq!(b.store.index_batch(&again).await.expect("replay"), 0);
    assert_eq!(
        b.store
            .index_batch(&entries(&[a, br, &a2]))
            .await
            .expect("replay"),
        0
    );
    assert_eq!(b.found("final").await, [a.seq]);
    assert!(b.found("bravo").await.is_empty());
    assert_eq!(b.store.index_batch(&[]).await.expect("nothing"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_against_the_stored_states_keeps_the_newer_of_each() {
    let (b, sent) = Batch::new(&["xray first", "yankee first", "zulu first"]).await;
    let [x, y, z] = &sent[..] else { unreachable!() };
    let x2 = b.edit(x, "xray second").await;
    let x3 = b.edit(x, "xray third").await;
    let y2 = b.edit(y, "yankee second").await;
    let z_deleted = b.delete(z).await;
    // Stored before the batch: x's newest state, y's oldest, z's deletion.
    b.store.index_message(&x3).await.expect("index");
    b.store.index_message(y).await.expect("index");
    b.store.index_message(&z_deleted).await.expect("index");
    // A batch that is late for x (older states only), ahead for y, and replays z's creation.
    let changed = b
        .store
        .index_batch(&entries(&[&x2, &y2, z, x]))
        .await
        .expect("index a batch");
    assert_eq!(changed, 1, "y only");
    assert_eq!(b.found("third").await, [x.seq]);
    assert!(b.found("\"xray second\"").await.is_empty());
    assert_eq!(b.found("second").await, [y.seq]);
    assert!(b.found("zulu").await.is_empty(), "still deleted");
    assert_eq!(b.row(x).await, (x3.mod_seq, false, 2));
    assert_eq!(b.row(y).await, (y2.mod_seq, false, 2));
    assert_eq!(b.row(z).await, (z_deleted.mod_seq, true, 0));
}
