//! Message search for a member: the index finds candidates, the message store gives their
//! current state, and each is checked again against the query before it is shown, so an edit
//! or a delete is reflected at once even where the index lags (scaled out, it follows the log).

use super::Chat;
use crate::error::DomainError;
use crate::ids::UserId;
use crate::model::Message;
use crate::search::{MessageQuery, PAGE_MAX, SearchCursor, SnippetPart};

/// A message that matched, as the member sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHit {
    pub message: Message,
    /// The text around the first match, matches marked.
    pub snippet: Vec<SnippetPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchResults {
    pub hits: Vec<MessageHit>,
    /// Pass back for the next page; `None` at the end.
    pub next: Option<SearchCursor>,
}

impl Chat {
    /// Search the messages `actor` may find (`MessageSearch` says which). A conversation filter
    /// naming a conversation `actor` is not a member of is `NotFound`, as for its history.
    pub async fn search_messages(
        &self,
        actor: UserId,
        mut query: MessageQuery,
    ) -> Result<SearchResults, DomainError> {
        let index = self
            .ports()
            .search
            .clone()
            .ok_or(DomainError::Unavailable)?;
        if let Some(conversation) = query.conversation {
            self.check_member(conversation, actor).await?;
        }
        query.limit = query.limit.clamp(1, PAGE_MAX);
        let page = index.search_messages(actor, &query).await?;
        let mut hits = Vec::with_capacity(page.hits.len());
        for key in page.hits {
            let Some(message) = self
                .ports()
                .messages
                .message(key.conversation_id, key.seq)
                .await?
            else {
                continue;
            };
            if message.deleted || !query.text.matches(&message.text) {
                continue;
            }
            let snippet = query.text.snippet(&message.text);
            hits.push(MessageHit { message, snippet });
        }
        Ok(SearchResults {
            hits,
            next: page.next,
        })
    }
}
