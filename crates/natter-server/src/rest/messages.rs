//! `/conversations/{id}/messages/*`, read and delivered cursors, typing: HTTP adapters over
//! `operations/` (which the WebSocket commands call too), each taking only the state it uses.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use natter_domain::{Chat, ConversationId};
use natter_protocol::*;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::extract::{AuthUser, JsonBody, PathParams, QueryParams};
use crate::operations::history::PageInput;
use crate::operations::messages::SendInput;
use crate::operations::{self, Transport};
use crate::rest::responses::*;
use crate::state::MessagingState;

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
    State(state): State<MessagingState>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<SendMessageRequest>,
) -> ApiResult<impl IntoResponse> {
    let input = SendInput {
        client_msg_id: body.client_msg_id,
        text: body.text,
        reply_to_seq: body.reply_to_seq,
        mentions: body.mentions,
        attachments: body.attachments,
    };
    let sent = operations::messages::send(
        &state,
        Transport::Rest,
        me.user_id,
        ConversationId(id),
        input,
    )
    .await?;
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(sent.message)))
}

#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "messages", params(("id" = Uuid, Path, description = "The conversation."), HistoryParams),
    responses((status = 200, description = "A page of messages, ascending by seq.", body = MessagePage),
        (status = 404, response = NotFound)))]
pub async fn history(
    State(state): State<MessagingState>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    QueryParams(params): QueryParams<HistoryParams>,
) -> ApiResult<axum::Json<MessagePage>> {
    let input = PageInput {
        before: params.before,
        after: params.after,
        limit: params.limit,
    };
    let messages = operations::history::page(&state, me.user_id, ConversationId(id), input).await?;
    Ok(axum::Json(MessagePage { messages }))
}

#[utoipa::path(patch, path = "/conversations/{id}/messages/{seq}", tag = "messages", request_body = EditMessageRequest,
    params(("id" = Uuid, Path, description = "The conversation."), ("seq" = i64, Path, description = "The message's seq in the conversation.")),
    responses((status = 200, description = "The edited message.", body = MessageView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)))]
pub async fn edit(
    State(state): State<MessagingState>,
    me: AuthUser,
    PathParams((id, seq)): PathParams<(Uuid, i64)>,
    JsonBody(body): JsonBody<EditMessageRequest>,
) -> ApiResult<axum::Json<MessageView>> {
    let message = operations::messages::edit(
        &state,
        me.user_id,
        ConversationId(id),
        seq,
        &body.text,
        body.mentions,
    )
    .await?;
    Ok(axum::Json(message))
}

#[utoipa::path(delete, path = "/conversations/{id}/messages/{seq}", tag = "messages", params(("id" = Uuid, Path, description = "The conversation."), ("seq" = i64, Path, description = "The message's seq in the conversation.")),
    responses((status = 200, description = "The message, soft-deleted.", body = MessageView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)))]
pub async fn delete(
    State(state): State<MessagingState>,
    me: AuthUser,
    PathParams((id, seq)): PathParams<(Uuid, i64)>,
) -> ApiResult<axum::Json<MessageView>> {
    let message = operations::messages::delete(&state, me.user_id, ConversationId(id), seq).await?;
    Ok(axum::Json(message))
}

#[utoipa::path(put, path = "/conversations/{id}/messages/{seq}/reactions/{emoji}", tag = "messages", params(("id" = Uuid, Path, description = "The conversation."), ("seq" = i64, Path, description = "The message's seq in the conversation."), ("emoji" = String, Path, description = "The reaction: 1 to 32 characters, no whitespace or control characters.", min_length = 1, max_length = 32, pattern = r"^[^\s\x00-\x1F\x7F-\x9F]+$")),
    responses((status = 200, description = "The message with the caller's reaction.", body = MessageView),
        (status = 404, response = NotFound), (status = 409, response = Conflict)))]
pub async fn react(
    State(state): State<MessagingState>,
    me: AuthUser,
    PathParams((id, seq, emoji)): PathParams<(Uuid, i64, String)>,
) -> ApiResult<axum::Json<MessageView>> {
    let message =
        operations::messages::react(&state, me.user_id, ConversationId(id), seq, &emoji, true)
            .await?;
    Ok(axum::Json(message))
}

#[utoipa::path(delete, path = "/conversations/{id}/messages/{seq}/reactions/{emoji}", tag = "messages", params(("id" = Uuid, Path, description = "The conversation."), ("seq" = i64, Path, description = "The message's seq in the conversation."), ("emoji" = String, Path, description = "The reaction: 1 to 32 characters, no whitespace or control characters.", min_length = 1, max_length = 32, pattern = r"^[^\s\x00-\x1F\x7F-\x9F]+$")),
    responses((status = 200, description = "The message without the caller's reaction.", body = MessageView),
        (status = 404, response = NotFound)))]
pub async fn unreact(
    State(state): State<MessagingState>,
    me: AuthUser,
    PathParams((id, seq, emoji)): PathParams<(Uuid, i64, String)>,
) -> ApiResult<axum::Json<MessageView>> {
    let message =
        operations::messages::react(&state, me.user_id, ConversationId(id), seq, &emoji, false)
            .await?;
    Ok(axum::Json(message))
}

#[utoipa::path(post, path = "/conversations/{id}/read", tag = "messages", request_body = CursorRequest, params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 200, description = "The caller's membership; the cursor never moves back.", body = MemberView),
        (status = 404, response = NotFound)))]
pub async fn read(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<CursorRequest>,
) -> ApiResult<axum::Json<MemberView>> {
    let member = operations::cursors::read(&chat, me.user_id, ConversationId(id), body.seq).await?;
    Ok(axum::Json(member))
}

#[utoipa::path(post, path = "/conversations/{id}/delivered", tag = "messages", request_body = CursorRequest, params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 200, description = "The caller's membership; the cursor never moves back.", body = MemberView),
        (status = 404, response = NotFound)))]
pub async fn delivered(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<CursorRequest>,
) -> ApiResult<axum::Json<MemberView>> {
    let member =
        operations::cursors::delivered(&chat, me.user_id, ConversationId(id), body.seq).await?;
    Ok(axum::Json(member))
}

#[utoipa::path(post, path = "/conversations/{id}/typing", tag = "messages", params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 204, description = "Announced to the other members."), (status = 404, response = NotFound)))]
pub async fn typing(
    State(state): State<MessagingState>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
) -> ApiResult<StatusCode> {
    operations::typing::typing(&state, me.user_id, ConversationId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
