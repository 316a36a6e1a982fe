//! Cases for the message search index ([`MessageSearch`]), written against the port: what a
//! query finds (`natter_domain::search` defines matching), for whom, in which order, page by
//! page, and how edits, deletes and membership changes show.
//!
//! A backend whose index is written apart from the messages (PostgreSQL, from the message log)
//! gives its bed an `index` hook that the cases call with every message state they create,
//! as the log would deliver them; the embedded store indexes in the message's own transaction
//! and its hook does nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use natter_domain::model::*;
use natter_domain::ports::MessageSearch;
use natter_domain::search::{HitKey, MessageQuery, SearchCursor, SearchOrder, SearchText};
use natter_domain::{ConversationId, UserId};

use crate::Stores;
use crate::support::{Fixture, T0, emoji};

/// Puts a message's current state in the index (what the message log does scaled out).
pub type IndexHook = Arc<dyn Fn(Message) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The stores, the search index over them and the hook that feeds it.
#[derive(Clone)]
pub struct SearchBed {
    pub stores: Stores,
    pub search: Arc<dyn MessageSearch>,
    pub index: Option<IndexHook>,
}

struct Bed {
    f: Fixture,
    search: Arc<dyn MessageSearch>,
    index: Option<IndexHook>,
}

impl Bed {
    fn new(bed: SearchBed) -> Self {
        Self {
            f: Fixture::new(bed.stores),
            search: bed.search,
            index: bed.index,
        }
    }

    async fn indexed(&self, message: Message) -> Message {
        if let Some(index) = &self.index {
            index(message.clone()).await;
        }
        message
    }

    async fn send(&self, conversation: ConversationId, sender: UserId, text: &str) -> Message {
        let message = self.f.send(conversation, sender, text).await;
        self.indexed(message).await
    }

    async fn send_new(&self, new: NewMessage) -> Message {
        let message = self.f.send_new(new).await;
        self.indexed(message).await
    }

    async fn change(&self, message: &Message, change: MessageChange) -> Message {
        let changed = self
            .f
            .messages
            .change(message.conversation_id, message.seq, change, T0 + 50_000)
            .await
            .expect("change");
        self.indexed(changed).await
    }

    async fn find(&self, user: UserId, query: MessageQuery) -> (Vec<HitKey>, Option<SearchCursor>) {
        let page = self
            .search
            .search_messages(user, &query)
            .await
            .expect("search");
        (page.hits, page.next)
    }

    /// The seqs `user` finds for `text` in `conversation`'s messages, newest first.
    async fn seqs(&self, user: UserId, text: &str) -> Vec<i64> {
        let (hits, _) = self.find(user, query(text)).await;
        hits.iter().map(|h| h.seq).collect()
    }
}

/// Newest first, one page of 50, no filter.
pub fn query(text: &str) -> MessageQuery {
    MessageQuery {
        text: SearchText::parse(text).expect("query"),
        conversation: None,
        from: None,
        before_ms: None,
        after_ms: None,
        has_attachment: false,
        order: SearchOrder::Newest,
        cursor: None,
        limit: 50,
    }
}

pub async fn words_fold_accents_case_and_width(bed: SearchBed) {
    let b = Bed::new(bed);
    let [alice, bob] = b.f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let room = b.f.group(alice, &[bob]).await.id;
    let cafe = b.send(room, alice, "Meet at the CAFÉ, 10:30?").await;
    let wide = b.send(room, bob, "ＦＵＬＬ width").await;
    b.send(room, bob, "cafeteria is closed").await;
    assert_eq!(b.seqs(bob, "café").await, [cafe.seq]);
    assert_eq!(b.seqs(bob, "Cafe").await, [cafe.seq]);
    assert_eq!(b.seqs(bob, "full").await, [wide.seq]);
    assert_eq!(
        b.seqs(bob, "1030").await,
        Vec::<i64>::new(),
        "punctuation splits"
    );
    assert_eq!(b.seqs(bob, "10 30").await, [cafe.seq]);
}

pub async fn every_word_must_match_prefixes_and_phrases(bed: SearchBed) {
    let b = Bed::new(bed);
    let [alice, bob] = b.f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let room = b.f.group(alice, &[bob]).await.id;
    let big_cat = b.send(room, alice, "the big cat sleeps").await;
    let cat_big = b.send(room, alice, "a cat is big").await;
    let catalog = b.send(room, alice, "the catalog arrived").await;
    assert_eq!(b.seqs(bob, "cat big").await, [cat_big.seq, big_cat.seq]);
    assert_eq!(b.seqs(bob, "\"big cat\"").await, [big_cat.seq]);
    assert_eq!(
        b.seqs(bob, "cat*").await,
        [catalog.seq, cat_big.seq, big_cat.seq]
    );
    assert_eq!(b.seqs(bob, "cat").await, [cat_big.seq, big_cat.seq]);
    assert!(b.seqs(bob, "dog").await.is_empty());
}

pub async fn cjk_runs_match_as_phrases(bed: SearchBed) {
    let b = Bed::new(bed);
    let [alice, bob] = b.f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let room = b.f.group(alice, &[bob]).await.id;
    let tokyo = b.send(room, alice, "明日は東京都に行きます").await;
    let reversed = b.send(room, alice, "京東").await;
    let korean = b.send(room, alice, "안녕 세상").await;
    assert_eq!(b.seqs(bob, "東京").await, [tokyo.seq]);
    assert_eq!(b.seqs(bob, "京東").await, [reversed.seq]);
    assert_eq!(b.seqs(bob, "京").await, [reversed.seq, tokyo.seq]);
    assert_eq!(b.seqs(bob, "세상").await, [korean.seq]);
}

pub async fn only_current_members_find_and_only_since_they_joined(bed: SearchBed) {
    let b = Bed::new(bed);
    let [alice, bob, carol, mallory] = b.f.users(&["alice", "bob", "carol", "mallory"]).await[..]
    else {
        unreachable!()
    };
    let room = b.f.group(alice, &[bob]).await.id;
    let early = b.send(room, alice, "secret plan one").await;
    b.f.conversations
        .add_member(room, carol, Role::Member, early.created_at_ms + 1)
        .await
        .expect("add carol");
    let mut new = b.f.new_message(room, alice, "secret plan two");
    new.created_at_ms = early.created_at_ms + 10;
    let late = b.send_new(new).await;

    assert_eq!(b.seqs(bob, "secret").await, [late.seq, early.seq]);
    assert_eq!(
        b.seqs(carol, "secret").await,
        [late.seq],
        "only since joining"
    );
    assert!(b.seqs(mallory, "secret").await.is_empty(), "never a member");
    b.f.conversations
        .remove_member(room, bob, T0 + 60_000)
        .await
        .expect("remove bob");
    assert!(b.seqs(bob, "secret").await.is_empty(), "removed");
    assert_eq!(b.seqs(alice, "secret").await, [late.seq, early.seq]);
}

pub async fn filters_narrow_the_hits(bed: SearchBed) {
    let b = Bed::new(bed);
    let [alice, bob] = b.f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let room = b.f.group(alice, &[bob]).await.id;
    let other = b.f.direct(alice, bob).await.id;
    let from_alice = b.send(room, alice, "report draft").await;
    let from_bob = b.send(room, bob, "report final").await;
    let elsewhere = b.send(other, alice, "report elsewhere").await;
    let mut new = b.f.new_message(room, bob, "report with a file");
    new.attachments = crate::messages::attachments();
    let with_file = b.send_new(new).await;

    let seqs_in = |hits: Vec<HitKey>| {
        hits.iter()
            .map(|h| (h.conversation_id, h.seq))
            .collect::<Vec<_>>()
    };
    let (all, _) = b.find(alice, query("report")).await;
    assert_eq!(
        seqs_in(all),
        [
            (room, with_file.seq),
            (other, elsewhere.seq),
            (room, from_bob.seq),
            (room, from_alice.seq)
        ]
    );
    let (hits, _) = b
        .find(
            alice,
            MessageQuery {
                conversation: Some(other),
                ..query("report")
            },
        )
        .await;
    assert_eq!(seqs_in(hits), [(other, elsewhere.seq)]);
    let (hits, _) = b
        .find(
            alice,
            MessageQuery {
                from: Some(bob),
                ..query("report")
            },
        )
        .await;
    assert_eq!(seqs_in(hits), [(room, with_file.seq), (room, from_bob.seq)]);
    let (hits, _) = b
        .find(
            alice,
            MessageQuery {
                after_ms: Some(from_bob.created_at_ms),
                before_ms: Some(with_file.created_at_ms),
                ..query("report")
            },
        )
        .await;
    assert_eq!(
        seqs_in(hits),
        [(other, elsewhere.seq), (room, from_bob.seq)],
        "after is inclusive, before exclusive"
    );
    let (hits, _) = b
        .find(
            alice,
            MessageQuery {
                has_attachment: true,
                ..query("report")
            },
        )
        .await;
    assert_eq!(seqs_in(hits), [(room, with_file.seq)]);
}

pub async fn newest_first_pages_follow_the_cursor(bed: SearchBed) {
    let b = Bed::new(bed);
    let [alice, bob] = b.f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let room = b.f.group(alice, &[bob]).await.id;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(b.send(room, alice, &format!("ping {i}")).await.seq);
        b.send(room, alice, "noise").await;
    }
    sent.reverse();
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..5 {
        let (hits, next) = b
            .find(
                bob,
                MessageQuery {
                    cursor,
                    limit: 2,
                    ..query("ping")
                },
            )
            .await;
        seen.extend(hits.iter().map(|h| h.seq));
        cursor = next;
        if cursor.is_none() {
            break;
        }
        assert!(matches!(cursor, Some(SearchCursor::Before(_))));
    }
    assert_eq!(seen, sent, "every hit once, newest first");
    assert!(cursor.is_none(), "the last page says it is the last");
}

pub async fn relevance_puts_the_best_match_first_and_pages(bed: SearchBed) {
    let b = Bed::new(bed);
    let [alice, bob] = b.f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let room = b.f.group(alice, &[bob]).await.id;
    let best = b.send(room, alice, "deploy deploy deploy").await;
    let weak = b
        .send(
            room,
            alice,
            "we might deploy after the long review of every open question today",
        )
        .await;
    let relevance = |cursor, limit| MessageQuery {
        order: SearchOrder::Relevance,
        cursor,
        limit,
        ..query("deploy")
    };
    let (hits, next) = b.find(bob, relevance(None, 10)).await;
    assert_eq!(
        hits.iter().map(|h| h.seq).collect::<Vec<_>>(),
        [best.seq, weak.seq]
    );
    assert_eq!(next, None);
    let (first, next) = b.find(bob, relevance(None, 1)).await;
    assert_eq!(first[0].seq, best.seq);
    assert_eq!(next, Some(SearchCursor::Skip(1)));
    let (second, next) = b.find(bob, relevance(next, 1)).await;
    assert_eq!(second[0].seq, weak.seq);
    assert_eq!(next, None);
}

pub async fn edits_and_deletes_change_what_is_found(bed: SearchBed) {
    let b = Bed::new(bed);
    let [alice, bob] = b.f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let room = b.f.group(alice, &[bob]).await.id;
    let typo = b.send(room, alice, "see you at teh station").await;
    let gone = b.send(room, alice, "the station is closed").await;
    assert_eq!(b.seqs(bob, "station").await, [gone.seq, typo.seq]);

    b.change(
        &typo,
        MessageChange::Edit {
            text: crate::support::text("see you at the platform"),
            mentions: Vec::new(),
        },
    )
    .await;
    assert_eq!(b.seqs(bob, "station").await, [gone.seq]);
    assert_eq!(b.seqs(bob, "platform").await, [typo.seq]);
    assert!(b.seqs(bob, "teh").await.is_empty());

    let reacted = b
        .change(
            &gone,
            MessageChange::AddReaction {
                user_id: bob,
                emoji: emoji("👍"),
            },
        )
        .await;
    assert_eq!(
        b.seqs(bob, "station").await,
        [reacted.seq],
        "a reaction keeps it"
    );
    b.change(&gone, MessageChange::Delete).await;
    assert!(b.seqs(bob, "station").await.is_empty(), "deleted");
    assert!(b.seqs(bob, "closed").await.is_empty());
}
