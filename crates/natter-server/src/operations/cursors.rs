//! The caller's read and delivered cursors; each answers with the caller's membership. A cursor
//! never moves back (the domain keeps the larger seq).

use natter_domain::{Chat, ConversationId, DomainError, UserId};
use natter_protocol::MemberView;

use crate::convert;

pub async fn read(
    chat: &Chat,
    user: UserId,
    conversation: ConversationId,
    seq: i64,
) -> Result<MemberView, DomainError> {
    let member = chat.mark_read(user, conversation, seq).await?;
    Ok(convert::member(&member))
}

pub async fn delivered(
    chat: &Chat,
    user: UserId,
    conversation: ConversationId,
    seq: i64,
) -> Result<MemberView, DomainError> {
    let member = chat.mark_delivered(user, conversation, seq).await?;
    Ok(convert::member(&member))
}
