//! Who may do what in a conversation. Pure functions over roles and messages so the rules are
//! tested in one place, never written inline in handlers.

use crate::error::DomainError;
use crate::ids::UserId;
use crate::model::{ConversationKind, Member, Message, Role};

type Rule = Result<(), DomainError>;

fn deny(why: &'static str) -> Rule {
    Err(DomainError::Forbidden(why))
}

pub fn can_add_member(kind: ConversationKind, actor: &Member, new_role: Role) -> Rule {
    if kind == ConversationKind::Direct {
        return deny("direct conversations have exactly two members");
    }
    match (actor.role, new_role) {
        (_, Role::Owner) => deny("a conversation has one owner"),
        (Role::Owner, _) | (Role::Admin, Role::Member) => Ok(()),
        (Role::Admin, Role::Admin) => deny("only the owner can add admins"),
        (Role::Member, _) => deny("only admins can add members"),
    }
}

/// Removing someone else. Leaving (removing yourself) is always allowed in groups.
pub fn can_remove_member(kind: ConversationKind, actor: &Member, target: &Member) -> Rule {
    if kind == ConversationKind::Direct {
        return deny("direct conversations have exactly two members");
    }
    if actor.user_id == target.user_id {
        return Ok(());
    }
    if actor.role > target.role && actor.role >= Role::Admin {
        Ok(())
    } else {
        deny("you can only remove members below your role")
    }
}

pub fn can_set_role(actor: &Member, target: &Member, new_role: Role) -> Rule {
    if actor.role != Role::Owner {
        return deny("only the owner can change roles");
    }
    if actor.user_id == target.user_id || new_role == Role::Owner {
        return deny("the owner's role cannot change");
    }
    Ok(())
}

pub fn can_update_conversation(kind: ConversationKind, actor: &Member) -> Rule {
    if kind == ConversationKind::Direct {
        return deny("direct conversations have no name or topic");
    }
    if actor.role >= Role::Admin {
        Ok(())
    } else {
        deny("only admins can change the conversation")
    }
}

pub fn can_edit_message(actor: UserId, message: &Message) -> Rule {
    if message.deleted {
        return Err(DomainError::NotFound);
    }
    if message.sender_id != actor {
        return deny("only the sender can edit a message");
    }
    Ok(())
}

pub fn can_delete_message(actor: &Member, message: &Message) -> Rule {
    if message.deleted {
        return Err(DomainError::NotFound);
    }
    if message.sender_id == actor.user_id || actor.role >= Role::Admin {
        Ok(())
    } else {
        deny("only the sender or an admin can delete a message")
    }
}

pub fn can_react(message: &Message) -> Rule {
    if message.deleted {
        Err(DomainError::NotFound)
    } else {
        Ok(())
    }
}

/// When the owner leaves a group, the member who inherits ownership: the longest-standing admin,
/// else the longest-standing member. `members` are in joining order.
pub fn successor_owner(members: &[Member], leaving: UserId) -> Option<&Member> {
    let others = || members.iter().filter(move |m| m.user_id != leaving);
    others()
        .find(|m| m.role == Role::Admin)
        .or_else(|| others().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ConversationId;

    fn member(role: Role) -> Member {
        Member {
            replied: false,
            conversation_id: ConversationId::new(),
            user_id: UserId::new(),
            role,
            muted: false,
            read_seq: 0,
            delivered_seq: 0,
            joined_at_ms: 0,
        }
    }

    #[test]
    fn adding_members_follows_roles() {
        let group = ConversationKind::Group;
        assert!(can_add_member(group, &member(Role::Owner), Role::Admin).is_ok());
        assert!(can_add_member(group, &member(Role::Admin), Role::Member).is_ok());
        assert!(can_add_member(group, &member(Role::Admin), Role::Admin).is_err());
        assert!(can_add_member(group, &member(Role::Member), Role::Member).is_err());
        assert!(can_add_member(group, &member(Role::Owner), Role::Owner).is_err());
        assert!(
            can_add_member(ConversationKind::Direct, &member(Role::Owner), Role::Member).is_err()
        );
    }

    #[test]
    fn removal_needs_a_higher_role_except_for_leaving() {
        let group = ConversationKind::Group;
        let (owner, admin, plain) = (
            member(Role::Owner),
            member(Role::Admin),
            member(Role::Member),
        );
        assert!(can_remove_member(group, &owner, &admin).is_ok());
        assert!(can_remove_member(group, &admin, &plain).is_ok());
        assert!(can_remove_member(group, &admin, &owner).is_err());
        assert!(can_remove_member(group, &plain, &admin).is_err());
        assert!(can_remove_member(group, &plain, &plain.clone()).is_ok());
        assert!(can_remove_member(group, &member(Role::Admin), &admin).is_err());
    }

    #[test]
    fn successor_prefers_admins() {
        let owner = member(Role::Owner);
        let (first, admin) = (member(Role::Member), member(Role::Admin));
        let members = vec![owner.clone(), first.clone(), admin.clone()];
        assert_eq!(
            successor_owner(&members, owner.user_id).unwrap().user_id,
            admin.user_id
        );
        let members = vec![owner.clone(), first.clone()];
        assert_eq!(
            successor_owner(&members, owner.user_id).unwrap().user_id,
            first.user_id
        );
        assert!(successor_owner(std::slice::from_ref(&owner), owner.user_id).is_none());
    }
}
