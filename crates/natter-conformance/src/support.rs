//! Fixtures shared by the cases: users with per-case unique names, conversations, messages.
//! Failing to set up a fixture panics (it is a test failure, with the store's error in the message).

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

use natter_domain::model::*;
use natter_domain::values::*;
use natter_domain::{ConversationId, MessageIdGenerator, SessionId, UserId};

use crate::Stores;

/// A fixed clock origin so times in assertions are readable: 2027-01-15T08:00:00Z.
pub const T0: i64 = 1_800_000_000_000;

pub struct Fixture {
    pub stores: Stores,
    /// Prefix of every username this case creates, so cases may share one database.
    pub tag: String,
    ids: MessageIdGenerator,
    client_ids: AtomicU64,
}

impl Deref for Fixture {
    type Target = Stores;
    fn deref(&self) -> &Stores {
        &self.stores
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(T0)
}

/// A hash-like string that tells users apart.
pub fn password_hash(username: &str) -> String {
    format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${username}")
}

impl Fixture {
    pub fn new(stores: Stores) -> Self {
        let random = UserId::new().0.simple().to_string();
        let tag = format!("t{}", &random[random.len() - 8..]);
        let node = u16::from_str_radix(&random[random.len() - 3..], 16).unwrap_or(0) & 0x3ff;
        Self {
            stores,
            tag,
            ids: MessageIdGenerator::new(node),
            client_ids: AtomicU64::new(0),
        }
    }

    pub fn username(&self, name: &str) -> Username {
        Username::parse(&format!("{}{name}", self.tag)).expect("valid username")
    }

    pub async fn user(&self, name: &str) -> User {
        let username = self.username(name);
        self.accounts
            .create_user(NewUser {
                id: UserId::new(),
                password_hash: password_hash(username.as_str()),
                display_name: DisplayName::parse(&format!("User {name}")).expect("display name"),
                username,
                created_at_ms: T0,
            })
            .await
            .expect("create user")
    }

    pub async fn users(&self, names: &[&str]) -> Vec<UserId> {
        let mut ids = Vec::new();
        for name in names {
            ids.push(self.user(name).await.id);
        }
        ids
    }

    pub fn new_group(&self, owner: UserId, others: &[UserId], at_ms: i64) -> NewConversation {
        let mut members = vec![(owner, Role::Owner)];
        members.extend(others.iter().map(|u| (*u, Role::Member)));
        NewConversation {
            id: ConversationId::new(),
            kind: ConversationKind::Group,
            name: Some(GroupName::parse("Team").expect("name")),
            topic: Some(Topic::parse("plans").expect("topic")),
            created_by: owner,
            created_at_ms: at_ms,
            members,
        }
    }

    pub async fn group(&self, owner: UserId, others: &[UserId]) -> Conversation {
        self.group_at(owner, others, T0).await
    }

    pub async fn group_at(&self, owner: UserId, others: &[UserId], at_ms: i64) -> Conversation {
        self.conversations
            .create_conversation(self.new_group(owner, others, at_ms))
            .await
            .expect("create group")
    }

    pub fn new_direct(a: UserId, b: UserId) -> NewConversation {
        NewConversation {
            id: ConversationId::new(),
            kind: ConversationKind::Direct,
            name: None,
            topic: None,
            created_by: a,
            created_at_ms: T0,
            members: vec![(a, Role::Member), (b, Role::Member)],
        }
    }

    pub async fn direct(&self, a: UserId, b: UserId) -> Conversation {
        self.conversations
            .create_conversation(Self::new_direct(a, b))
            .await
            .expect("create direct")
    }

    /// A new message with a fresh client id.
    pub fn new_message(
        &self,
        conversation: ConversationId,
        sender: UserId,
        text: &str,
    ) -> NewMessage {
        let n = self.client_ids.fetch_add(1, Ordering::Relaxed);
        NewMessage {
            id: self.ids.next(wall_clock_ms()),
            conversation_id: conversation,
            sender_id: sender,
            client_msg_id: ClientMsgId::parse(&format!("{}-{n}", self.tag)).expect("client id"),
            text: MessageText::parse(text).expect("text"),
            reply_to_seq: None,
            mentions: Vec::new(),
            created_at_ms: T0 + 1_000 + n as i64,
            attachments: Vec::new(),
        }
    }

    /// Append and expect a new message.
    pub async fn send(&self, conversation: ConversationId, sender: UserId, text: &str) -> Message {
        self.send_new(self.new_message(conversation, sender, text))
            .await
    }

    pub async fn send_new(&self, message: NewMessage) -> Message {
        match self.messages.append(message).await.expect("append") {
            AppendOutcome::Created(m) => m,
            other => panic!("expected a new message, got {other:?}"),
        }
    }

    pub async fn send_mentioning(
        &self,
        conversation: ConversationId,
        sender: UserId,
        text: &str,
        mentions: &[UserId],
    ) -> Message {
        let mut message = self.new_message(conversation, sender, text);
        message.mentions = mentions.to_vec();
        self.send_new(message).await
    }

    pub async fn conversation(&self, id: ConversationId) -> Conversation {
        self.conversations
            .conversation(id)
            .await
            .expect("read conversation")
            .expect("conversation exists")
    }

    pub async fn new_session(
        &self,
        user: UserId,
        created_at_ms: i64,
        refresh_hash: [u8; 32],
    ) -> Session {
        let session = Session {
            id: SessionId::new(),
            user_id: user,
            device_name: DeviceName::parse("Laptop").expect("device"),
            created_at_ms,
            last_used_at_ms: created_at_ms,
        };
        self.accounts
            .create_session(NewSession {
                session,
                refresh_hash,
            })
            .await
            .expect("create session")
    }
}

pub fn text(raw: &str) -> MessageText {
    MessageText::parse(raw).expect("text")
}

pub fn emoji(raw: &str) -> Reaction {
    Reaction::parse(raw).expect("emoji")
}

/// A refresh-token hash that no other case (or call) produces; `n` only tells them apart in
/// failure output.
pub fn token(n: u8) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(UserId::new().0.as_bytes());
    hash[31] = n;
    hash
}

pub fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

pub fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}
