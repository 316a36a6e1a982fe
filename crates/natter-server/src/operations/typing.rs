//! Typing indicators, throttled: each one fans out to every member.

use natter_domain::{ConversationId, DomainError, UserId};

use crate::state::MessagingState;

/// Publish a typing indicator, unless one was published for this user and conversation within
/// `limits.typing_interval_ms` (on any node, with Redis): then it is dropped silently
/// (membership is still checked, so a non-member gets `not_found` either way).
pub async fn typing(
    state: &MessagingState,
    user: UserId,
    conversation: ConversationId,
) -> Result<(), DomainError> {
    if state.rate_limits.typing_allowed(user, conversation).await {
        state.chat.typing(user, conversation).await
    } else {
        state.chat.check_member(conversation, user).await.map(drop)
    }
}
