//! Creating conversations and managing their members and metadata.

use crate::error::{DomainError, StoreError};
use crate::events::Event;
use crate::ids::{ConversationId, UserId};
use crate::limits::{GROUP_INITIAL_MEMBERS_MAX, GROUP_MEMBERS_MAX};
use crate::model::*;
use crate::names::{self, NameQuery};
use crate::permissions;
use crate::values::{GroupName, Topic};

use super::Chat;

/// A group as requested, already validated.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub name: GroupName,
    pub topic: Option<Topic>,
    pub member_ids: Vec<UserId>,
}

impl Chat {
    /// The direct conversation with `peer`, created if needed. `bool` is true when created.
    pub async fn open_direct(
        &self,
        actor: UserId,
        peer: UserId,
    ) -> Result<(ConversationSummary, bool), DomainError> {
        if actor == peer {
            return Err(DomainError::invalid(
                "user_id",
                "cannot open a direct conversation with yourself",
            ));
        }
        let ports = self.ports();
        if let Some(existing) = ports.conversations.direct_between(actor, peer).await? {
            return Ok((self.summary(actor, existing).await?, false));
        }
        if ports.accounts.user(peer).await?.is_none() {
            return Err(DomainError::NotFound);
        }
        let new = NewConversation {
            id: ConversationId::new(),
            kind: ConversationKind::Direct,
            name: None,
            topic: None,
            created_by: actor,
            created_at_ms: self.now(),
            members: vec![(actor, Role::Member), (peer, Role::Member)],
        };
        match ports.conversations.create_conversation(new).await {
            Ok(conversation) => {
                self.announce_members(&conversation, actor).await?;
                Ok((self.summary(actor, conversation.id).await?, true))
            }
            // Both users opened it at the same moment: theirs won, use it.
            Err(StoreError::Conflict(_)) => {
                let id = ports
                    .conversations
                    .direct_between(actor, peer)
                    .await?
                    .ok_or(DomainError::Internal)?;
                Ok((self.summary(actor, id).await?, false))
            }
            Err(err) => Err(err.into()),
        }
    }

    pub async fn create_group(
        &self,
        actor: UserId,
        group: NewGroup,
    ) -> Result<ConversationSummary, DomainError> {
        let mut members = vec![(actor, Role::Owner)];
        for id in group.member_ids {
            if !members.iter().any(|(m, _)| *m == id) {
                members.push((id, Role::Member));
            }
        }
        if members.len() > GROUP_INITIAL_MEMBERS_MAX {
            return Err(DomainError::invalid(
                "member_ids",
                format!("at most {GROUP_INITIAL_MEMBERS_MAX} initial members"),
            ));
        }
        let ids: Vec<UserId> = members.iter().map(|(id, _)| *id).collect();
        let found = self.ports().accounts.users(&ids).await?;
        if found.len() != ids.len() {
            return Err(DomainError::invalid("member_ids", "unknown user"));
        }
        let new = NewConversation {
            id: ConversationId::new(),
            kind: ConversationKind::Group,
            name: Some(group.name),
            topic: group.topic,
            created_by: actor,
            created_at_ms: self.now(),
            members,
        };
        let conversation = self.ports().conversations.create_conversation(new).await?;
        self.announce_members(&conversation, actor).await?;
        self.summary(actor, conversation.id).await
    }

    /// Tell every initial member's devices about a new conversation.
    async fn announce_members(
        &self,
        conversation: &Conversation,
        by: UserId,
    ) -> Result<(), DomainError> {
        let mut order = self.order(conversation.id).await?;
        for member in self.ports().conversations.members(conversation.id).await? {
            self.publish_ordered(
                &mut order,
                Event::MemberAdded {
                    conversation: conversation.clone(),
                    member,
                    by,
                },
            )
            .await;
        }
        Ok(())
    }

    pub async fn summary(
        &self,
        actor: UserId,
        conversation: ConversationId,
    ) -> Result<ConversationSummary, DomainError> {
        self.ports()
            .conversations
            .summary(conversation, actor)
            .await?
            .ok_or(DomainError::NotFound)
    }

    pub async fn list_conversations(
        &self,
        actor: UserId,
        before_activity_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, DomainError> {
        Ok(self
            .ports()
            .conversations
            .conversations_of(actor, before_activity_ms, limit)
            .await?)
    }

    /// The caller's current conversations whose title `query` matches ([`crate::names`]: a
    /// group's name, a direct conversation's other member's display name and username), with
    /// last activity before `before_activity_ms` when given; most recent activity first, at
    /// most `limit`.
    pub async fn find_conversations(
        &self,
        actor: UserId,
        query: &NameQuery,
        before_activity_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, DomainError> {
        let conversations = &self.ports().conversations;
        let titles = conversations.conversation_titles(actor).await?;
        let ids = names::matching_conversations(query, titles, before_activity_ms, limit as usize);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = conversations.summaries(actor, &ids).await?;
        // As they are now (a message since the titles were read moves its conversation up).
        found.sort_by(|a, b| {
            let (a, b) = (&a.conversation, &b.conversation);
            b.last_activity_ms
                .cmp(&a.last_activity_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(found)
    }

    pub async fn update_conversation(
        &self,
        actor: UserId,
        id: ConversationId,
        name: Option<GroupName>,
        topic: Option<Topic>,
    ) -> Result<Conversation, DomainError> {
        let mut order = self.order(id).await?;
        let me = self.require_member(id, actor).await?;
        let conversation = self
            .ports()
            .conversations
            .conversation(id)
            .await?
            .ok_or(DomainError::NotFound)?;
        permissions::can_update_conversation(conversation.kind, &me)?;
        let updated = self
            .ports()
            .conversations
            .update_conversation(id, name, topic, self.now())
            .await?;
        self.publish_ordered(&mut order, Event::ConversationUpdated(updated.clone()))
            .await;
        Ok(updated)
    }

    pub async fn members(
        &self,
        actor: UserId,
        id: ConversationId,
    ) -> Result<Vec<Member>, DomainError> {
        self.require_member(id, actor).await?;
        Ok(self.ports().conversations.members(id).await?)
    }

    pub async fn add_member(
        &self,
        actor: UserId,
        id: ConversationId,
        user: UserId,
        role: Role,
    ) -> Result<Member, DomainError> {
        let mut order = self.order(id).await?;
        let me = self.require_member(id, actor).await?;
        let conversation = self
            .ports()
            .conversations
            .conversation(id)
            .await?
            .ok_or(DomainError::NotFound)?;
        permissions::can_add_member(conversation.kind, &me, role)?;
        if conversation.member_count as usize >= GROUP_MEMBERS_MAX {
            return Err(DomainError::Conflict(format!(
                "a group has at most {GROUP_MEMBERS_MAX} members"
            )));
        }
        if self.ports().accounts.user(user).await?.is_none() {
            return Err(DomainError::invalid("user_id", "unknown user"));
        }
        let added = self
            .ports()
            .conversations
            .add_member(id, user, role, self.now())
            .await;
        self.forget_member(id, user);
        let member = added?;
        let conversation = self
            .ports()
            .conversations
            .conversation(id)
            .await?
            .ok_or(DomainError::Internal)?;
        self.publish_ordered(
            &mut order,
            Event::MemberAdded {
                conversation,
                member: member.clone(),
                by: actor,
            },
        )
        .await;
        Ok(member)
    }

    /// Remove `user`, or leave when `user == actor`. An owner who leaves hands ownership to the
    /// longest-standing admin (else member).
    pub async fn remove_member(
        &self,
        actor: UserId,
        id: ConversationId,
        user: UserId,
    ) -> Result<(), DomainError> {
        let mut order = self.order(id).await?;
        let me = self.require_member(id, actor).await?;
        let conversation = self
            .ports()
            .conversations
            .conversation(id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let target = self
            .ports()
            .conversations
            .member(id, user)
            .await?
            .ok_or(DomainError::NotFound)?;
        permissions::can_remove_member(conversation.kind, &me, &target)?;
        let now = self.now();
        if target.role == Role::Owner {
            let members = self.ports().conversations.members(id).await?;
            if let Some(heir) = permissions::successor_owner(&members, user) {
                let promoted = self
                    .ports()
                    .conversations
                    .set_role(id, heir.user_id, Role::Owner, now)
                    .await;
                self.forget_member(id, heir.user_id);
                let promoted = promoted?;
                self.publish_ordered(&mut order, Event::MemberUpdated { member: promoted })
                    .await;
            }
        }
        let removed = self
            .ports()
            .conversations
            .remove_member(id, user, now)
            .await;
        self.forget_member(id, user);
        removed?;
        self.publish_ordered(
            &mut order,
            Event::MemberRemoved {
                conversation_id: id,
                user_id: user,
                by: actor,
            },
        )
        .await;
        Ok(())
    }

    pub async fn set_role(
        &self,
        actor: UserId,
        id: ConversationId,
        user: UserId,
        role: Role,
    ) -> Result<Member, DomainError> {
        let mut order = self.order(id).await?;
        let me = self.require_member(id, actor).await?;
        let target = self
            .ports()
            .conversations
            .member(id, user)
            .await?
            .ok_or(DomainError::NotFound)?;
        permissions::can_set_role(&me, &target, role)?;
        let changed = self
            .ports()
            .conversations
            .set_role(id, user, role, self.now())
            .await;
        self.forget_member(id, user);
        let member = changed?;
        self.publish_ordered(
            &mut order,
            Event::MemberUpdated {
                member: member.clone(),
            },
        )
        .await;
        Ok(member)
    }

    /// Muting is private to the member: only their own devices are told (`member.updated` to
    /// them alone), in order with the conversation's other member changes.
    pub async fn set_muted(
        &self,
        actor: UserId,
        id: ConversationId,
        muted: bool,
    ) -> Result<Member, DomainError> {
        let mut order = self.order(id).await?;
        self.require_member(id, actor).await?;
        let member = self
            .ports()
            .conversations
            .set_muted(id, actor, muted, self.now())
            .await?;
        self.publish_ordered(
            &mut order,
            Event::MemberSettingsChanged {
                member: member.clone(),
            },
        )
        .await;
        Ok(member)
    }

    /// Where a client that has nothing yet starts syncing from (see
    /// [`ConversationStore::change_cursor`](crate::ports::ConversationStore::change_cursor)).
    pub async fn sync_cursor(&self) -> Result<i64, DomainError> {
        Ok(self.ports().conversations.change_cursor().await?)
    }

    /// What changed for `actor` since the sync cursor `since`. Cursors start at 0: a negative
    /// one never came from the server, so it is refused rather than read as 0.
    pub async fn sync(&self, actor: UserId, since: i64) -> Result<SyncPage, DomainError> {
        if since < 0 {
            return Err(DomainError::invalid("since", "must be 0 or more"));
        }
        Ok(self
            .ports()
            .conversations
            .changed_since(actor, since)
            .await?)
    }
}
