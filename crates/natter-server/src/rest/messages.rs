//! `/conversations/{id}/messages/*`, read and delivered cursors, typing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use natter_domain::files::FileId;
use natter_domain::limits::HISTORY_PAGE_DEFAULT;
use natter_domain::model::HistoryQuery;
use natter_domain::service::OutgoingMessage;
use natter_domain::values::{ClientMsgId, MessageText, Reaction};
use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::*;
use uuid::Uuid;

use crate::convert;
use crate::error::ApiResult;
use crate::extract::{AuthUser, JsonBody, PathParams, QueryParams};
use crate::rest::responses::*;
use crate::state::AppState;

/// Shared by REST and WebSocket: validate a send request into the domain's terms. The text may
/// be empty only when files are attached (a message without a caption).
pub fn outgoing(
    client_msg_id: &str,
    text: &str,
    reply_to_seq: Option<i64>,
    mentions: &[Uuid],
    attachments: &[Uuid],
) -> Result<OutgoingMessage, DomainError> {
    let text = if attachments.is_empty() {
        MessageText::parse(text)?
    } else {
        MessageText::caption(text)?
    };
    Ok(OutgoingMessage {
        client_msg_id: ClientMsgId::parse(client_msg_id)?,
        text,
        reply_to_seq,
        mentions: mentions.iter().copied().map(UserId).collect(),
        attachments: attachments.iter().copied().map(FileId).collect(),
    })
}

/// Shared by REST and WebSocket: a history page request.
pub fn history_query(
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<u32>,
) -> Result<HistoryQuery, DomainError> {
    let limit = limit.unwrap_or(HISTORY_PAGE_DEFAULT);
    match (before, after) {
        (None, None) => Ok(HistoryQuery::Latest { limit }),
        (Some(before), None) => Ok(HistoryQuery::Before { before, limit }),
        (None, Some(after)) => Ok(HistoryQuery::After { after, limit }),
        (Some(_), Some(_)) => Err(DomainError::invalid(
            "before",
            "give at most one of before and after",
        )),
    }
}

#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "messages", request_body = SendMessageRequest, params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 201, description = "Stored durably and published.", body = MessageView,
            links(
            ("edit" = (operation_id = "edit", parameters(("id" = "$response.body#/conversation_id"), ("seq" = "$response.body#/seq")))),
            ("delete" = (operation_id = "delete", parameters(("id" = "$response.body#/conversation_id"), ("seq" = "$response.body#/seq")))),
            ("react" = (operation_id = "react", parameters(("id" = "$response.body#/conversation_id"), ("seq" = "$response.body#/seq")))),
            ("unreact" = (operation_id = "unreact", parameters(("id" = "$response.body#/conversation_id"), ("seq" = "$response.body#/seq")))),
        )),
        (status = 200, description = "A duplicate client_msg_id: the original, unchanged.", body = MessageView),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub async fn send(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<SendMessageRequest>,
) -> ApiResult<impl IntoResponse> {
    let message = outgoing(
        &body.client_msg_id,
        &body.text,
        body.reply_to_seq,
        &body.mentions,
        &body.attachments,
    )?;
    state.rate_limits.check_send(&me.user_id).await?;
    let outcome = state
        .chat
        .send_message(me.user_id, ConversationId(id), message)
        .await?;
    let duplicate = if outcome.created { "false" } else { "true" };
    metrics::counter!("natter_messages_sent_total", "transport" => "rest", "duplicate" => duplicate).increment(1);
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(convert::message(&outcome.message, state.files.as_ref())),
    ))
}

#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "messages", params(("id" = Uuid, Path, description = "The conversation."), HistoryParams),
    responses((status = 200, description = "A page of messages, ascending by seq.", body = MessagePage),
        (status = 404, response = NotFound)))]
pub async fn history(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    QueryParams(params): QueryParams<HistoryParams>,
) -> ApiResult<axum::Json<MessagePage>> {
    let query = history_query(params.before, params.after, params.limit)?;
    let messages = state
        .chat
        .history(me.user_id, ConversationId(id), query)
        .await?;
    Ok(axum::Json(MessagePage {
        messages: messages
            .iter()
            .map(|x| convert::message(x, state.files.as_ref()))
            .collect(),
    }))
}

#[utoipa::path(patch, path = "/conversations/{id}/messages/{seq}", tag = "messages", request_body = EditMessageRequest,
    params(("id" = Uuid, Path, description = "The conversation."), ("seq" = i64, Path, description = "The message's seq in the conversation.")),
    responses((status = 200, description = "The edited message.", body = MessageView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)))]
pub async fn edit(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams((id, seq)): PathParams<(Uuid, i64)>,
    JsonBody(body): JsonBody<EditMessageRequest>,
) -> ApiResult<axum::Json<MessageView>> {
    let text = MessageText::caption(&body.text)?;
    let mentions = body.mentions.into_iter().map(UserId).collect();
    let message = state
        .chat
        .edit_message(me.user_id, ConversationId(id), seq, text, mentions)
        .await?;
    Ok(axum::Json(convert::message(&message, state.files.as_ref())))
}

#[utoipa::path(delete, path = "/conversations/{id}/messages/{seq}", tag = "messages", params(("id" = Uuid, Path, description = "The conversation."), ("seq" = i64, Path, description = "The message's seq in the conversation.")),
    responses((status = 200, description = "The message, soft-deleted.", body = MessageView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)))]
pub async fn delete(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams((id, seq)): PathParams<(Uuid, i64)>,
) -> ApiResult<axum::Json<MessageView>> {
    let message = state
        .chat
        .delete_message(me.user_id, ConversationId(id), seq)
        .await?;
    Ok(axum::Json(convert::message(&message, state.files.as_ref())))
}

#[utoipa::path(put, path = "/conversations/{id}/messages/{seq}/reactions/{emoji}", tag = "messages", params(("id" = Uuid, Path, description = "The conversation."), ("seq" = i64, Path, description = "The message's seq in the conversation."), ("emoji" = String, Path, description = "The reaction: 1 to 32 characters, no whitespace or control characters.", min_length = 1, max_length = 32, pattern = r"^[^\s\x00-\x1F\x7F-\x9F]+$")),
    responses((status = 200, description = "The message with the caller's reaction.", body = MessageView),
        (status = 404, response = NotFound), (status = 409, response = Conflict)))]
pub async fn react(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams((id, seq, emoji)): PathParams<(Uuid, i64, String)>,
) -> ApiResult<axum::Json<MessageView>> {
    let message = state
        .chat
        .react(
            me.user_id,
            ConversationId(id),
            seq,
            Reaction::parse(&emoji)?,
            true,
        )
        .await?;
    Ok(axum::Json(convert::message(&message, state.files.as_ref())))
}

#[utoipa::path(delete, path = "/conversations/{id}/messages/{seq}/reactions/{emoji}", tag = "messages", params(("id" = Uuid, Path, description = "The conversation."), ("seq" = i64, Path, description = "The message's seq in the conversation."), ("emoji" = String, Path, description = "The reaction: 1 to 32 characters, no whitespace or control characters.", min_length = 1, max_length = 32, pattern = r"^[^\s\x00-\x1F\x7F-\x9F]+$")),
    responses((status = 200, description = "The message without the caller's reaction.", body = MessageView),
        (status = 404, response = NotFound)))]
pub async fn unreact(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams((id, seq, emoji)): PathParams<(Uuid, i64, String)>,
) -> ApiResult<axum::Json<MessageView>> {
    let message = state
        .chat
        .react(
            me.user_id,
            ConversationId(id),
            seq,
            Reaction::parse(&emoji)?,
            false,
        )
        .await?;
    Ok(axum::Json(convert::message(&message, state.files.as_ref())))
}

#[utoipa::path(post, path = "/conversations/{id}/read", tag = "messages", request_body = CursorRequest, params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 200, description = "The caller's membership; the cursor never moves back.", body = MemberView),
        (status = 404, response = NotFound)))]
pub async fn read(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<CursorRequest>,
) -> ApiResult<axum::Json<MemberView>> {
    let member = state
        .chat
        .mark_read(me.user_id, ConversationId(id), body.seq)
        .await?;
    Ok(axum::Json(convert::member(&member)))
}

#[utoipa::path(post, path = "/conversations/{id}/delivered", tag = "messages", request_body = CursorRequest, params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 200, description = "The caller's membership; the cursor never moves back.", body = MemberView),
        (status = 404, response = NotFound)))]
pub async fn delivered(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<CursorRequest>,
) -> ApiResult<axum::Json<MemberView>> {
    let member = state
        .chat
        .mark_delivered(me.user_id, ConversationId(id), body.seq)
        .await?;
    Ok(axum::Json(convert::member(&member)))
}

#[utoipa::path(post, path = "/conversations/{id}/typing", tag = "messages", params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 204, description = "Announced to the other members."), (status = 404, response = NotFound)))]
pub async fn typing(
    State(state): State<AppState>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
) -> ApiResult<StatusCode> {
    typing_throttled(&state, me.user_id, ConversationId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish a typing indicator, unless one was published for this user and conversation within
/// `limits.typing_interval_ms` (on any node, with Redis): then it is dropped silently
/// (membership is still checked, so a non-member gets `not_found` either way). Shared by REST
/// and the WebSocket.
pub async fn typing_throttled(
    state: &AppState,
    user: natter_domain::UserId,
    conversation: ConversationId,
) -> Result<(), natter_domain::DomainError> {
    if state.rate_limits.typing_allowed(user, conversation).await {
        state.chat.typing(user, conversation).await
    } else {
        state
            .chat
            .require_member(conversation, user)
            .await
            .map(drop)
    }
}
