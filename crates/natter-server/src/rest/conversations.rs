//! `/conversations/*` (metadata and membership) and `/sync`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use natter_domain::limits::CONVERSATION_PAGE_MAX;
use natter_domain::model::Role;
use natter_domain::names::NameQuery;
use natter_domain::service::NewGroup;
use natter_domain::values::{GroupName, Topic};
use natter_domain::{Chat, ConversationId, DomainError, UserId};
use natter_protocol::*;
use uuid::Uuid;

use crate::convert;
use crate::error::ApiResult;
use crate::extract::{AuthUser, JsonBody, PathParams, QueryParams};
use crate::limiter::RateLimits;
use crate::media::FileService;
use crate::rest::responses::*;

fn role(raw: &str) -> Result<Role, DomainError> {
    Role::parse(raw).ok_or_else(|| DomainError::invalid("role", "must be member or admin"))
}

#[utoipa::path(post, path = "/conversations/direct", tag = "conversations", request_body = CreateDirectRequest,
    responses((status = 201, description = "Created.", body = ConversationSummaryView),
        (status = 200, description = "It already existed.", body = ConversationSummaryView),
        (status = 404, response = NotFound)))]
pub async fn open_direct(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    me: AuthUser,
    JsonBody(body): JsonBody<CreateDirectRequest>,
) -> ApiResult<impl IntoResponse> {
    let (summary, created) = chat.open_direct(me.user_id, UserId(body.user_id)).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(convert::summary(&summary, files.as_ref())),
    ))
}

#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = CreateGroupRequest,
    responses((status = 201, description = "Created; the caller is its owner.", body = ConversationSummaryView,
        links(
            ("get" = (operation_id = "get", parameters(("id" = "$response.body#/conversation/id")))),
            ("update" = (operation_id = "update", parameters(("id" = "$response.body#/conversation/id")))),
            ("mute" = (operation_id = "mute", parameters(("id" = "$response.body#/conversation/id")))),
            ("members" = (operation_id = "members", parameters(("id" = "$response.body#/conversation/id")))),
            ("add_member" = (operation_id = "add_member", parameters(("id" = "$response.body#/conversation/id")))),
            ("send" = (operation_id = "send", parameters(("id" = "$response.body#/conversation/id")))),
            ("history" = (operation_id = "history", parameters(("id" = "$response.body#/conversation/id")))),
            ("read" = (operation_id = "read", parameters(("id" = "$response.body#/conversation/id")))),
            ("delivered" = (operation_id = "delivered", parameters(("id" = "$response.body#/conversation/id")))),
            ("typing" = (operation_id = "typing", parameters(("id" = "$response.body#/conversation/id")))),
            ("update_member" = (operation_id = "update_member", description = "The caller's own membership.",
                parameters(("id" = "$response.body#/conversation/id"), ("user_id" = "$response.body#/me/user_id")))),
            ("remove_member" = (operation_id = "remove_member", description = "The caller leaves.",
                parameters(("id" = "$response.body#/conversation/id"), ("user_id" = "$response.body#/me/user_id")))),
        ))))]
pub async fn create_group(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    me: AuthUser,
    JsonBody(body): JsonBody<CreateGroupRequest>,
) -> ApiResult<impl IntoResponse> {
    let group = NewGroup {
        name: GroupName::parse(&body.name)?,
        topic: body.topic.as_deref().map(Topic::parse).transpose()?,
        member_ids: body.member_ids.into_iter().map(UserId).collect(),
    };
    let summary = chat.create_group(me.user_id, group).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(convert::summary(&summary, files.as_ref())),
    ))
}

#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ConversationListQuery),
    responses((status = 200, description = "The caller's conversations (with `q`, those whose title matches it), most recent activity first.", body = ConversationList),
        (status = 429, response = RateLimited)))]
pub async fn list(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    State(rate_limits): State<RateLimits>,
    me: AuthUser,
    QueryParams(query): QueryParams<ConversationListQuery>,
) -> ApiResult<axum::Json<ConversationList>> {
    let limit = query
        .limit
        .unwrap_or(natter_domain::limits::CONVERSATION_PAGE_DEFAULT)
        .clamp(1, CONVERSATION_PAGE_MAX);
    let summaries = match query.q.as_deref() {
        Some(q) => {
            rate_limits.check_search(&me.user_id).await?;
            let q = NameQuery::parse(q, "q")?;
            chat.find_conversations(me.user_id, &q, query.before_activity_ms, limit)
                .await?
        }
        None => {
            chat.list_conversations(me.user_id, query.before_activity_ms, limit)
                .await?
        }
    };
    Ok(axum::Json(ConversationList {
        conversations: summaries
            .iter()
            .map(|x| convert::summary(x, files.as_ref()))
            .collect(),
    }))
}

#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 200, description = "The conversation as the caller sees it.", body = ConversationSummaryView),
        (status = 404, response = NotFound)))]
pub async fn get(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
) -> ApiResult<axum::Json<ConversationSummaryView>> {
    let summary = chat.summary(me.user_id, ConversationId(id)).await?;
    Ok(axum::Json(convert::summary(&summary, files.as_ref())))
}

#[utoipa::path(patch, path = "/conversations/{id}", tag = "conversations", request_body = UpdateConversationRequest, params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 200, description = "Updated.", body = ConversationView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)))]
pub async fn update(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<UpdateConversationRequest>,
) -> ApiResult<axum::Json<ConversationView>> {
    let name = body.name.as_deref().map(GroupName::parse).transpose()?;
    let topic = body.topic.as_deref().map(Topic::parse).transpose()?;
    let conversation = chat
        .update_conversation(me.user_id, ConversationId(id), name, topic)
        .await?;
    Ok(axum::Json(convert::conversation(&conversation)))
}

#[utoipa::path(put, path = "/conversations/{id}/mute", tag = "conversations", request_body = MuteRequest, params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 200, description = "The caller's membership.", body = MemberView), (status = 404, response = NotFound)))]
pub async fn mute(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<MuteRequest>,
) -> ApiResult<axum::Json<MemberView>> {
    let member = chat
        .set_muted(me.user_id, ConversationId(id), body.muted)
        .await?;
    Ok(axum::Json(convert::member(&member)))
}

#[utoipa::path(get, path = "/conversations/{id}/members", tag = "conversations", params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 200, description = "The members.", body = MemberList), (status = 404, response = NotFound)))]
pub async fn members(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
) -> ApiResult<axum::Json<MemberList>> {
    let members = chat.members(me.user_id, ConversationId(id)).await?;
    Ok(axum::Json(MemberList {
        members: members.iter().map(convert::member).collect(),
    }))
}

#[utoipa::path(post, path = "/conversations/{id}/members", tag = "conversations", request_body = AddMemberRequest, params(("id" = Uuid, Path, description = "The conversation.")),
    responses((status = 201, description = "Added.", body = MemberView), (status = 403, response = Forbidden),
        (status = 404, response = NotFound), (status = 409, response = Conflict)))]
pub async fn add_member(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<AddMemberRequest>,
) -> ApiResult<impl IntoResponse> {
    let role = role(body.role.as_deref().unwrap_or("member"))?;
    let member = chat
        .add_member(me.user_id, ConversationId(id), UserId(body.user_id), role)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(convert::member(&member))))
}

#[utoipa::path(patch, path = "/conversations/{id}/members/{user_id}", tag = "conversations", request_body = UpdateMemberRequest,
    params(("id" = Uuid, Path, description = "The conversation."), ("user_id" = Uuid, Path, description = "The user.")),
    responses((status = 200, description = "The member with the new role.", body = MemberView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)))]
pub async fn update_member(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams((id, user_id)): PathParams<(Uuid, Uuid)>,
    JsonBody(body): JsonBody<UpdateMemberRequest>,
) -> ApiResult<axum::Json<MemberView>> {
    let member = chat
        .set_role(
            me.user_id,
            ConversationId(id),
            UserId(user_id),
            role(&body.role)?,
        )
        .await?;
    Ok(axum::Json(convert::member(&member)))
}

#[utoipa::path(delete, path = "/conversations/{id}/members/{user_id}", tag = "conversations", params(("id" = Uuid, Path, description = "The conversation."), ("user_id" = Uuid, Path, description = "The user.")),
    responses((status = 204, description = "Removed (or left, when it is the caller)."),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)))]
pub async fn remove_member(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams((id, user_id)): PathParams<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    chat.remove_member(me.user_id, ConversationId(id), UserId(user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/sync", tag = "conversations", params(SyncQuery),
    responses((status = 200, description = "What changed since the cursor.", body = SyncView)))]
pub async fn sync(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    me: AuthUser,
    QueryParams(query): QueryParams<SyncQuery>,
) -> ApiResult<axum::Json<SyncView>> {
    let page = chat.sync(me.user_id, query.since.unwrap_or(0)).await?;
    Ok(axum::Json(convert::sync(&page, files.as_ref())))
}
