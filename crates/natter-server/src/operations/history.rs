//! A page of a conversation's history, as either transport asks for it.

use natter_domain::limits::HISTORY_PAGE_DEFAULT;
use natter_domain::model::HistoryQuery;
use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::MessageView;

use crate::convert;
use crate::state::MessagingState;

/// A page request: at most one of `before` and `after`; neither means the newest messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageInput {
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

/// The page, ascending by seq.
pub async fn page(
    state: &MessagingState,
    user: UserId,
    conversation: ConversationId,
    input: PageInput,
) -> Result<Vec<MessageView>, DomainError> {
    let messages = state
        .chat
        .history(user, conversation, query(input)?)
        .await?;
    Ok(messages
        .iter()
        .map(|x| convert::message(x, state.files.as_ref()))
        .collect())
}

fn query(input: PageInput) -> Result<HistoryQuery, DomainError> {
    let limit = input.limit.unwrap_or(HISTORY_PAGE_DEFAULT);
    match (input.before, input.after) {
        (None, None) => Ok(HistoryQuery::Latest { limit }),
        (Some(before), None) => Ok(HistoryQuery::Before { before, limit }),
        (None, Some(after)) => Ok(HistoryQuery::After { after, limit }),
        (Some(_), Some(_)) => Err(DomainError::invalid(
            "before",
            "give at most one of before and after",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_and_after_together_are_refused() {
        let both = PageInput {
            before: Some(9),
            after: Some(1),
            limit: None,
        };
        assert!(query(both).is_err());
    }

    #[test]
    fn no_bound_is_the_newest_page_of_the_default_size() {
        assert!(matches!(
            query(PageInput::default()),
            Ok(HistoryQuery::Latest { limit }) if limit == HISTORY_PAGE_DEFAULT
        ));
    }
}
