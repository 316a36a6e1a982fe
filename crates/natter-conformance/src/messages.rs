//! Cases for [`MessageStore`](natter_domain::ports::MessageStore): seq allocation, idempotent
//! appends, edits, soft deletes, reactions, history pages and the per-conversation change feed.

use natter_domain::files::{
    Attachment, FileContent, FileId, FileName, MediaInfo, Thumbnail, ThumbnailSize,
};
use natter_domain::model::*;
use natter_domain::values::{ClientMsgId, MessageText};
use natter_domain::{ConversationId, StoreError};

use crate::Stores;
use crate::support::*;

pub async fn append_assigns_gap_free_seq(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol]).await;

    let mut new = f.new_message(group.id, alice, "first");
    new.mentions = vec![carol, bob];
    new.reply_to_seq = None;
    let first = f.send_new(new.clone()).await;
    assert_eq!(
        first,
        Message {
            id: new.id,
            conversation_id: group.id,
            seq: 1,
            mod_seq: 1,
            sender_id: alice,
            client_msg_id: new.client_msg_id.clone(),
            text: "first".into(),
            reply_to_seq: None,
            mentions: vec![carol, bob],
            created_at_ms: new.created_at_ms,
            edited_at_ms: None,
            deleted: false,
            reactions: vec![],
            attachments: vec![],
        }
    );
    let mut reply = f.new_message(group.id, bob, "second");
    reply.reply_to_seq = Some(1);
    let second = f.send_new(reply).await;
    let third = f.send(group.id, carol, "third").await;
    assert_eq!(
        (second.seq, second.mod_seq, second.reply_to_seq),
        (2, 2, Some(1))
    );
    assert_eq!((third.seq, third.mod_seq), (3, 3));

    assert_eq!(f.messages.message(group.id, 1).await.unwrap(), Some(first));
    assert_eq!(f.messages.message(group.id, 2).await.unwrap(), Some(second));
    assert_eq!(f.messages.message(group.id, 4).await.unwrap(), None);
    let conversation = f.conversation(group.id).await;
    assert_eq!((conversation.last_seq, conversation.last_mod), (3, 3));
    assert_eq!(conversation.last_activity_ms, third.created_at_ms);

    // Seqs are per conversation.
    let other = f.group(bob, &[]).await;
    assert_eq!(f.send(other.id, bob, "elsewhere").await.seq, 1);

    let nowhere = f
        .messages
        .append(f.new_message(ConversationId::new(), alice, "lost"))
        .await;
    assert!(
        nowhere.is_err(),
        "append to a missing conversation: {nowhere:?}"
    );
}

pub async fn duplicate_client_msg_id_returns_original(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    let mut new = f.new_message(group.id, alice, "original");
    new.client_msg_id = ClientMsgId::parse("retry-me").unwrap();
    let original = f.send_new(new.clone()).await;

    let mut retry = f.new_message(group.id, alice, "different text on retry");
    retry.client_msg_id = new.client_msg_id.clone();
    let outcome = f.messages.append(retry).await.unwrap();
    assert_eq!(outcome, AppendOutcome::Duplicate(original.clone()));
    let conversation = f.conversation(group.id).await;
    assert_eq!((conversation.last_seq, conversation.last_mod), (1, 1));

    // The key is per sender and per conversation.
    let mut bobs = f.new_message(group.id, bob, "bob's");
    bobs.client_msg_id = new.client_msg_id.clone();
    assert_eq!(f.send_new(bobs).await.seq, 2);
    let other = f.group(alice, &[]).await;
    let mut elsewhere = f.new_message(other.id, alice, "elsewhere");
    elsewhere.client_msg_id = new.client_msg_id.clone();
    assert_eq!(f.send_new(elsewhere).await.seq, 1);

    // A duplicate of a message that has since changed returns its current state.
    let edited = f
        .messages
        .change(
            group.id,
            1,
            MessageChange::Edit {
                text: text("edited"),
                mentions: vec![],
            },
            T0 + 5,
        )
        .await
        .unwrap();
    let mut again = f.new_message(group.id, alice, "again");
    again.client_msg_id = new.client_msg_id;
    assert_eq!(
        f.messages.append(again).await.unwrap(),
        AppendOutcome::Duplicate(edited)
    );
}

pub async fn edit_changes_text_and_bumps_mod_seq(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol]).await;
    let first = f
        .send_mentioning(group.id, alice, "helo @bob", &[bob])
        .await;
    f.send(group.id, bob, "hi").await;

    let change = MessageChange::Edit {
        text: text("hello @carol"),
        mentions: vec![carol],
    };
    let edited = f
        .messages
        .change(group.id, first.seq, change, T0 + 500)
        .await
        .unwrap();
    assert_eq!(
        edited,
        Message {
            text: "hello @carol".into(),
            mentions: vec![carol],
            edited_at_ms: Some(T0 + 500),
            mod_seq: 3,
            ..first.clone()
        }
    );
    assert_eq!(
        f.messages.message(group.id, first.seq).await.unwrap(),
        Some(edited.clone())
    );
    let conversation = f.conversation(group.id).await;
    assert_eq!((conversation.last_seq, conversation.last_mod), (2, 3));

    let again = MessageChange::Edit {
        text: text("hello again"),
        mentions: vec![],
    };
    let twice = f
        .messages
        .change(group.id, first.seq, again, T0 + 600)
        .await
        .unwrap();
    assert_eq!(
        (twice.mod_seq, twice.edited_at_ms, twice.mentions.len()),
        (4, Some(T0 + 600), 0)
    );
    // Mentions follow the edit: carol's mention moved away from bob.
    let bob_view = f
        .conversations
        .summary(group.id, bob)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob_view.mention_count, 0);
}

/// Rule (natter_domain::rules): mentions are kept once each, in order of first mention, on an
/// append and on an edit.
pub async fn mentions_are_kept_once_in_order_of_first_mention(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol]).await;
    let sent = f
        .send_mentioning(group.id, alice, "@carol @bob @carol", &[carol, bob, carol])
        .await;
    assert_eq!(sent.mentions, vec![carol, bob]);
    let change = MessageChange::Edit {
        text: text("@bob @bob @carol"),
        mentions: vec![bob, bob, carol, bob],
    };
    let edited = f
        .messages
        .change(group.id, sent.seq, change, T0 + 1)
        .await
        .unwrap();
    assert_eq!(edited.mentions, vec![bob, carol]);
    let stored = f.messages.message(group.id, sent.seq).await.unwrap();
    assert_eq!(stored.map(|m| m.mentions), Some(vec![bob, carol]));
}

/// Each message of a page (a history page: consecutive seqs; a resume: the changed ones, with
/// gaps) carries its own mentions and reactions, not its neighbours'.
pub async fn pages_carry_each_messages_mentions_and_reactions(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol]).await;
    let first = f.send_mentioning(group.id, alice, "@bob", &[bob]).await;
    let plain = f.send(group.id, alice, "nothing").await;
    let third = f.send_mentioning(group.id, alice, "@carol", &[carol]).await;
    let sent_up_to = third.mod_seq;
    for (seq, user_id) in [(first.seq, carol), (third.seq, bob)] {
        let react = MessageChange::AddReaction {
            user_id,
            emoji: emoji("👍"),
        };
        f.messages.change(group.id, seq, react, T0).await.unwrap();
    }
    let shown = |messages: Vec<Message>| {
        messages
            .into_iter()
            .map(|m| {
                let reacted: Vec<_> = m.reactions.into_iter().flat_map(|r| r.user_ids).collect();
                (m.seq, m.mentions, reacted)
            })
            .collect::<Vec<_>>()
    };
    let page = f
        .messages
        .history(group.id, HistoryQuery::Latest { limit: 10 })
        .await
        .unwrap();
    assert_eq!(
        shown(page),
        vec![
            (first.seq, vec![bob], vec![carol]),
            (plain.seq, vec![], vec![]),
            (third.seq, vec![carol], vec![bob]),
        ]
    );
    let changed = f
        .messages
        .changes_since(group.id, sent_up_to, 10)
        .await
        .unwrap();
    assert_eq!(
        shown(changed),
        vec![
            (first.seq, vec![bob], vec![carol]),
            (third.seq, vec![carol], vec![bob]),
        ]
    );
}

pub async fn delete_is_soft_and_final(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    let message = f
        .send_mentioning(group.id, alice, "regrettable", &[bob])
        .await;
    let react = MessageChange::AddReaction {
        user_id: bob,
        emoji: emoji("😮"),
    };
    let reacted = f
        .messages
        .change(group.id, message.seq, react, T0)
        .await
        .unwrap();
    assert_eq!(reacted.mod_seq, 2);

    let deleted = f
        .messages
        .change(group.id, message.seq, MessageChange::Delete, T0 + 1)
        .await
        .unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.text, "");
    assert_eq!(deleted.mod_seq, 3);
    assert!(deleted.reactions.is_empty(), "{:?}", deleted.reactions);
    assert_eq!(
        (deleted.seq, deleted.id, deleted.sender_id),
        (message.seq, message.id, alice)
    );

    // Deleting again, editing or reacting to a deleted message changes nothing.
    let changes = [
        MessageChange::Delete,
        MessageChange::Edit {
            text: text("resurrected"),
            mentions: vec![],
        },
        MessageChange::AddReaction {
            user_id: alice,
            emoji: emoji("👍"),
        },
    ];
    for change in changes {
        let unchanged = f
            .messages
            .change(group.id, message.seq, change, T0 + 2)
            .await
            .unwrap();
        assert_eq!(unchanged, deleted);
    }
    assert_eq!(f.conversation(group.id).await.last_mod, 3);
    let history = f
        .messages
        .history(group.id, HistoryQuery::Latest { limit: 10 })
        .await
        .unwrap();
    assert_eq!(history, vec![deleted]);
}

/// Two snapshots with every field set (a store that drops one fails).
pub(crate) fn attachments() -> Vec<Attachment> {
    let picture = Attachment {
        file_id: FileId::new(),
        name: FileName::parse("café.jpg").expect("name"),
        created_at_ms: T0,
        content: FileContent {
            sha256: [7; 32],
            size: 4_321,
            mime: "image/jpeg".into(),
            completed_at_ms: T0 + 1,
            media: Some(MediaInfo {
                width: Some(640),
                height: Some(480),
                duration_ms: None,
                thumbhash: Some(vec![1, 2, 3]),
                thumbnails: vec![Thumbnail {
                    size: ThumbnailSize::Small,
                    sha256: [8; 32],
                    mime: "image/webp".into(),
                    width: 320,
                    height: 240,
                    bytes: 999,
                }],
            }),
        },
    };
    let document = Attachment {
        file_id: FileId::new(),
        name: FileName::parse("notes.pdf").expect("name"),
        created_at_ms: T0 + 2,
        content: FileContent {
            sha256: [9; 32],
            size: 12,
            mime: "application/pdf".into(),
            completed_at_ms: T0 + 3,
            media: None,
        },
    };
    vec![picture, document]
}

pub async fn attachments_are_kept_in_order_until_deleted(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let direct = f.direct(alice, bob).await;
    let files = attachments();
    let mut new = f.new_message(direct.id, alice, "x");
    new.text = MessageText::caption("").expect("an empty caption");
    new.attachments = files.clone();
    let sent = f.send_new(new.clone()).await;
    assert_eq!(sent.attachments, files);
    assert_eq!(sent.text, "");
    let plain = f.send(direct.id, bob, "no files").await;
    assert!(plain.attachments.is_empty());

    let page = f
        .messages
        .history(direct.id, HistoryQuery::Latest { limit: 10 })
        .await
        .unwrap();
    assert_eq!(page[0].attachments, files, "history");
    assert!(page[1].attachments.is_empty());
    let one = f.messages.message(direct.id, sent.seq).await.unwrap();
    assert_eq!(one.expect("message").attachments, files, "message");
    match f.messages.append(new).await.unwrap() {
        AppendOutcome::Duplicate(original) => assert_eq!(original.attachments, files),
        other => panic!("a retry must return the original: {other:?}"),
    }

    let deleted = f
        .messages
        .change(direct.id, sent.seq, MessageChange::Delete, T0 + 9)
        .await
        .unwrap();
    assert!(deleted.attachments.is_empty(), "deleted: {deleted:?}");
    let changes = f.messages.changes_since(direct.id, 0, 10).await.unwrap();
    let replayed = changes
        .iter()
        .find(|m| m.seq == sent.seq)
        .expect("replayed");
    assert!(replayed.attachments.is_empty());
}

pub async fn reactions_aggregate_in_order(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol, dave] = f.users(&["alice", "bob", "carol", "dave"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol, dave]).await;
    let message = f.send(group.id, alice, "react to me").await;
    let (up, heart) = (emoji("👍"), emoji("❤️"));
    let add = |user_id, emoji: &natter_domain::values::Reaction| MessageChange::AddReaction {
        user_id,
        emoji: emoji.clone(),
    };
    let remove = |user_id, emoji: &natter_domain::values::Reaction| MessageChange::RemoveReaction {
        user_id,
        emoji: emoji.clone(),
    };
    let apply = async |change| {
        f.messages
            .change(group.id, message.seq, change, T0)
            .await
            .unwrap()
    };
    let groups = |m: &Message| {
        m.reactions
            .iter()
            .map(|r| (r.emoji.as_str().to_owned(), r.user_ids.clone()))
            .collect::<Vec<_>>()
    };

    apply(add(bob, &up)).await;
    apply(add(carol, &heart)).await;
    let three = apply(add(alice, &up)).await;
    assert_eq!(
        groups(&three),
        vec![
            ("👍".to_owned(), vec![bob, alice]),
            ("❤️".to_owned(), vec![carol])
        ]
    );
    assert_eq!(three.mod_seq, 4);

    // No-ops return the message and do not count as changes.
    assert_eq!(apply(add(bob, &up)).await, three);
    assert_eq!(apply(remove(dave, &up)).await, three);
    assert_eq!(apply(remove(carol, &up)).await, three);
    assert_eq!(f.conversation(group.id).await.last_mod, 4);

    // Groups are ordered by their earliest *remaining* reaction: alice's 👍 came after carol's ❤️.
    let fewer = apply(remove(bob, &up)).await;
    assert_eq!(
        groups(&fewer),
        vec![
            ("❤️".to_owned(), vec![carol]),
            ("👍".to_owned(), vec![alice])
        ]
    );
    let gone = apply(remove(alice, &up)).await;
    assert_eq!(groups(&gone), vec![("❤️".to_owned(), vec![carol])]);
    let back = apply(add(bob, &up)).await;
    assert_eq!(
        groups(&back),
        vec![("❤️".to_owned(), vec![carol]), ("👍".to_owned(), vec![bob])]
    );
    assert_eq!(back.mod_seq, 7);
    assert_eq!(
        f.messages.message(group.id, message.seq).await.unwrap(),
        Some(back)
    );
}

pub async fn change_of_unknown_message_is_not_found(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await.id;
    let group = f.group(alice, &[]).await;
    f.send(group.id, alice, "only one").await;
    for (conversation, seq) in [(group.id, 2), (group.id, 0), (ConversationId::new(), 1)] {
        for change in [
            MessageChange::Delete,
            MessageChange::Edit {
                text: text("x"),
                mentions: vec![],
            },
            MessageChange::AddReaction {
                user_id: alice,
                emoji: emoji("👍"),
            },
        ] {
            let result = f.messages.change(conversation, seq, change, T0).await;
            assert_eq!(result, Err(StoreError::NotFound));
        }
    }
    assert_eq!(f.conversation(group.id).await.last_mod, 1);
}

pub async fn history_pages_in_both_directions(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await.id;
    let group = f.group(alice, &[]).await;
    let mut sent = Vec::new();
    for n in 1..=10 {
        sent.push(f.send(group.id, alice, &format!("message {n}")).await);
    }
    let page = async |query| f.messages.history(group.id, query).await.unwrap();
    let range = |r: std::ops::RangeInclusive<i64>| r.collect::<Vec<_>>();

    assert_eq!(
        page(HistoryQuery::Latest { limit: 4 }).await,
        sent[6..].to_vec()
    );
    assert_eq!(
        seqs(
            &page(HistoryQuery::Before {
                before: 7,
                limit: 4
            })
            .await
        ),
        range(3..=6)
    );
    assert_eq!(
        seqs(
            &page(HistoryQuery::Before {
                before: 3,
                limit: 4
            })
            .await
        ),
        range(1..=2)
    );
    assert!(
        page(HistoryQuery::Before {
            before: 1,
            limit: 4
        })
        .await
        .is_empty()
    );
    assert_eq!(
        seqs(&page(HistoryQuery::After { after: 0, limit: 4 }).await),
        range(1..=4)
    );
    assert_eq!(
        seqs(&page(HistoryQuery::After { after: 8, limit: 4 }).await),
        range(9..=10)
    );
    assert!(
        page(HistoryQuery::After {
            after: 10,
            limit: 4
        })
        .await
        .is_empty()
    );
    assert_eq!(page(HistoryQuery::Latest { limit: 50 }).await, sent);
    assert!(page(HistoryQuery::Latest { limit: 0 }).await.is_empty());

    // Walking backwards then forwards visits every message exactly once.
    let mut backwards = page(HistoryQuery::Latest { limit: 3 }).await;
    while let Some(oldest) = backwards.first().map(|m| m.seq) {
        let older = page(HistoryQuery::Before {
            before: oldest,
            limit: 3,
        })
        .await;
        if older.is_empty() {
            break;
        }
        backwards.splice(0..0, older);
    }
    assert_eq!(backwards, sent);
    let mut forwards: Vec<Message> = Vec::new();
    loop {
        let after = forwards.last().map_or(0, |m| m.seq);
        let newer = page(HistoryQuery::After { after, limit: 3 }).await;
        if newer.is_empty() {
            break;
        }
        forwards.extend(newer);
    }
    assert_eq!(forwards, sent);

    let empty = f
        .messages
        .history(ConversationId::new(), HistoryQuery::Latest { limit: 10 })
        .await
        .unwrap();
    assert!(empty.is_empty());
}

pub async fn changes_since_orders_by_mod_seq(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    for n in 1..=3 {
        f.send(group.id, alice, &format!("m{n}")).await;
    }
    let edit = MessageChange::Edit {
        text: text("m1 edited"),
        mentions: vec![],
    };
    f.messages.change(group.id, 1, edit, T0).await.unwrap(); // mod 4
    let react = MessageChange::AddReaction {
        user_id: bob,
        emoji: emoji("👍"),
    };
    f.messages.change(group.id, 2, react, T0).await.unwrap(); // mod 5
    f.send(group.id, bob, "m4").await; // mod 6

    let feed = async |after, limit| {
        let changes = f
            .messages
            .changes_since(group.id, after, limit)
            .await
            .unwrap();
        changes
            .iter()
            .map(|m| (m.seq, m.mod_seq))
            .collect::<Vec<_>>()
    };
    assert_eq!(feed(0, 100).await, vec![(3, 3), (1, 4), (2, 5), (4, 6)]);
    assert_eq!(feed(3, 100).await, vec![(1, 4), (2, 5), (4, 6)]);
    assert_eq!(feed(3, 2).await, vec![(1, 4), (2, 5)]);
    assert_eq!(feed(5, 2).await, vec![(4, 6)]);
    assert!(feed(6, 100).await.is_empty());

    let full = f.messages.changes_since(group.id, 3, 1).await.unwrap();
    assert_eq!(full[0].text, "m1 edited");
    assert_eq!(
        Some(full[0].clone()),
        f.messages.message(group.id, 1).await.unwrap()
    );
    let reacted = f.messages.changes_since(group.id, 4, 1).await.unwrap();
    assert_eq!(reacted[0].reactions.len(), 1);
}
