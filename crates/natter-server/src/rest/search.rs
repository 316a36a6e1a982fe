//! `/search/*`: message search over what the caller may read (`natter_domain::search` says what
//! matches; `Chat::search_messages` what is searched).

use axum::extract::State;
use natter_domain::search::{MessageQuery, PAGE_DEFAULT, SearchCursor, SearchOrder, SearchText};
use natter_domain::{ConversationId, UserId};
use natter_protocol::*;

use crate::convert;
use crate::error::ApiResult;
use crate::extract::{AuthUser, QueryParams};
use crate::rest::responses::*;
use crate::state::MessagingState;

#[utoipa::path(get, path = "/search/messages", tag = "search", operation_id = "search_messages", params(MessageSearchParams),
    responses((status = 200, description = "A page of the messages that match, in the conversations the caller is a member of and since they joined each, not deleted; newest first or by relevance.", body = MessageSearchPage),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub async fn messages(
    State(state): State<MessagingState>,
    me: AuthUser,
    QueryParams(params): QueryParams<MessageSearchParams>,
) -> ApiResult<axum::Json<MessageSearchPage>> {
    state.rate_limits.check_search(&me.user_id).await?;
    let order = match params.order.unwrap_or_default() {
        SearchOrderParam::Newest => SearchOrder::Newest,
        SearchOrderParam::Relevance => SearchOrder::Relevance,
    };
    let query = MessageQuery {
        text: SearchText::parse(&params.q)?,
        conversation: params.conversation_id.map(ConversationId),
        from: params.from.map(UserId),
        before_ms: params.before_ms,
        after_ms: params.after_ms,
        has_attachment: params.has_attachment.unwrap_or(false),
        order,
        cursor: params
            .cursor
            .as_deref()
            .map(|c| SearchCursor::decode(c, order))
            .transpose()?,
        limit: params.limit.unwrap_or(PAGE_DEFAULT),
    };
    let found = state.chat.search_messages(me.user_id, query).await?;
    Ok(axum::Json(MessageSearchPage {
        hits: found
            .hits
            .iter()
            .map(|hit| MessageHitView {
                message: convert::message(&hit.message, state.files.as_ref()),
                snippet: hit
                    .snippet
                    .iter()
                    .map(|part| SnippetPartView {
                        text: part.text.clone(),
                        hit: part.hit,
                    })
                    .collect(),
            })
            .collect(),
        next_cursor: found.next.map(SearchCursor::encode),
    }))
}
