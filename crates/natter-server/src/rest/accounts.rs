//! `/auth/*` and `/users/*`.

use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use natter_domain::files::FileId;
use natter_domain::service::ProfileChange;
use natter_domain::values::{DeviceName, DisplayName, Password, Username};
use natter_domain::{Chat, DomainError, SessionId, UserId};
use natter_protocol::*;
use uuid::Uuid;

use crate::auth::{Auth, IssuedTokens, Registration};
use crate::config::ServerConfig;
use crate::convert;
use crate::error::ApiResult;
use crate::extract::{AuthUser, JsonBody, PathParams, QueryParams};
use crate::limiter::RateLimits;
use crate::media::FileService;
use crate::rest::responses::*;

/// A token pair as an answer: credentials, so no cache (browser, proxy) may keep it.
pub struct TokenResponse(AuthTokens);

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut response = axum::Json(self.0).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

fn tokens(issued: IssuedTokens, files: Option<&FileService>) -> TokenResponse {
    TokenResponse(AuthTokens {
        user: convert::user(&issued.user, files),
        session_id: issued.session_id.0,
        access_token: issued.access_token,
        expires_in_s: issued.expires_in_s,
        refresh_token: issued.refresh_token,
    })
}

/// The client's address: the peer's, or, when the peer is a trusted proxy (NGINX), the address
/// that proxy saw, which it appended last to `X-Forwarded-For`. Earlier entries are whatever the
/// client claimed and are never trusted.
fn client_address(
    trusted_proxies: &[std::net::IpAddr],
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
) -> std::net::IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

fn device(name: Option<&str>) -> ApiResult<Option<DeviceName>> {
    Ok(name.map(DeviceName::parse).transpose()?)
}

#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest, security(()),
    responses((status = 201, description = "The account and a first session.", body = AuthTokens,
            links(("open_direct" = (operation_id = "open_direct", description = "A direct conversation with the new user.",
                request_body = json!({"user_id": "$response.body#/user/id"}))))),
        (status = 409, response = Conflict), (status = 429, response = RateLimited)))]
pub async fn register(
    State(config): State<Arc<ServerConfig>>,
    State(rate_limits): State<RateLimits>,
    State(auth): State<Auth>,
    State(files): State<Option<FileService>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    let client = client_address(&config.server.trusted_proxies, peer.ip(), &headers);
    rate_limits
        .check_auth(&format!("register:{client}"))
        .await?;
    let registration = Registration {
        username: Username::parse(&body.username)?,
        password: Password::parse_new(
            &body.password,
            &[
                &body.username,
                body.display_name.as_deref().unwrap_or_default(),
            ],
        )?,
        display_name: body
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?,
        device_name: device(body.device_name.as_deref())?,
    };
    let issued = auth.register(registration).await?;
    Ok((StatusCode::CREATED, tokens(issued, files.as_ref())))
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, description = "A new session.", body = AuthTokens),
        (status = 401, response = Unauthorized), (status = 429, response = RateLimited)))]
pub async fn login(
    State(config): State<Arc<ServerConfig>>,
    State(rate_limits): State<RateLimits>,
    State(auth): State<Auth>,
    State(files): State<Option<FileService>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<TokenResponse> {
    let client = client_address(&config.server.trusted_proxies, peer.ip(), &headers);
    let username = body.username.trim().to_ascii_lowercase();
    rate_limits.check_login(&username, client).await?;
    let issued = auth
        .login(
            &body.username,
            &body.password,
            device(body.device_name.as_deref())?,
        )
        .await;
    match &issued {
        Ok(_) => rate_limits.login_outcome(&username, client, true),
        Err(DomainError::BadCredentials) => rate_limits.login_outcome(&username, client, false),
        Err(_) => {}
    }
    Ok(tokens(issued?, files.as_ref()))
}

#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest, security(()),
    responses((status = 200, description = "New tokens for the same session; the refresh token is spent.", body = AuthTokens),
        (status = 401, response = Unauthorized)))]
pub async fn refresh(
    State(auth): State<Auth>,
    State(files): State<Option<FileService>>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> ApiResult<TokenResponse> {
    Ok(tokens(
        auth.refresh(&body.refresh_token).await?,
        files.as_ref(),
    ))
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "The calling session is revoked.")))]
pub async fn logout(State(auth): State<Auth>, me: AuthUser) -> ApiResult<StatusCode> {
    auth.revoke(me.user_id, me.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/auth/sessions", tag = "auth",
    responses((status = 200, description = "The caller's active sessions.", body = SessionList)))]
pub async fn sessions(
    State(auth): State<Auth>,
    me: AuthUser,
) -> ApiResult<axum::Json<SessionList>> {
    let sessions = auth.sessions(me.user_id).await?;
    Ok(axum::Json(SessionList {
        sessions: sessions
            .iter()
            .map(|s| convert::session(s, me.session_id))
            .collect(),
    }))
}

#[utoipa::path(delete, path = "/auth/sessions/{session_id}", tag = "auth",
    params(("session_id" = Uuid, Path, description = "One of the caller's sessions.")),
    responses((status = 204, description = "The session is revoked."), (status = 404, response = NotFound)))]
pub async fn revoke_session(
    State(auth): State<Auth>,
    me: AuthUser,
    PathParams(session_id): PathParams<Uuid>,
) -> ApiResult<StatusCode> {
    auth.revoke(me.user_id, SessionId(session_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/users/me", tag = "users",
    responses((status = 200, description = "The caller, with presence.", body = UserView)))]
pub async fn me(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    me: AuthUser,
) -> ApiResult<axum::Json<UserView>> {
    let seen = chat.user(me.user_id, me.user_id).await?;
    Ok(axum::Json(convert::user_with_presence(
        &seen,
        files.as_ref(),
    )))
}

#[utoipa::path(patch, path = "/users/me", tag = "users", request_body = UpdateProfileRequest,
    responses((status = 200, description = "The caller, updated: the display name, the avatar (`avatar_file_id`: a complete picture of the caller's, or null to remove it), or both; contacts get `user.updated`.", body = UserView)))]
pub async fn update_me(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    me: AuthUser,
    JsonBody(body): JsonBody<UpdateProfileRequest>,
) -> ApiResult<axum::Json<UserView>> {
    let change = ProfileChange {
        display_name: body
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?,
        avatar: body.avatar_file_id.map(|file| file.map(FileId)),
    };
    let user = chat.update_profile(me.user_id, change).await?;
    Ok(axum::Json(convert::user(&user, files.as_ref())))
}

#[utoipa::path(get, path = "/users", tag = "users", params(UserSearchQuery),
    responses((status = 200, description = "Users whose username starts with `prefix` or whose display name has a word beginning with each of its words: the user whose username it is first, then the other usernames it begins, then by username.", body = UserList),
        (status = 429, response = RateLimited)))]
pub async fn search(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    State(rate_limits): State<RateLimits>,
    me: AuthUser,
    QueryParams(query): QueryParams<UserSearchQuery>,
) -> ApiResult<axum::Json<UserList>> {
    rate_limits.check_search(&me.user_id).await?;
    let limit = query
        .limit
        .unwrap_or(natter_domain::limits::USER_SEARCH_MAX);
    let users = chat.search_users(&query.prefix, limit).await?;
    Ok(axum::Json(UserList {
        users: users
            .iter()
            .map(|user| convert::user(user, files.as_ref()))
            .collect(),
    }))
}

#[utoipa::path(get, path = "/users/{user_id}", tag = "users", params(("user_id" = Uuid, Path, description = "The user.")),
    responses((status = 200, description = "The user; presence when the caller may see it.", body = UserView),
        (status = 404, response = NotFound)))]
pub async fn user(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    me: AuthUser,
    PathParams(user_id): PathParams<Uuid>,
) -> ApiResult<axum::Json<UserView>> {
    let seen = chat.user(me.user_id, UserId(user_id)).await?;
    Ok(axum::Json(convert::user_with_presence(
        &seen,
        files.as_ref(),
    )))
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use axum::http::HeaderMap;

    #[test]
    fn forwarded_for_is_trusted_only_from_trusted_proxies() {
        let proxy = "127.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        assert_eq!(
            client_address(&[proxy], proxy, &headers).to_string(),
            "203.0.113.7",
            "the entry the proxy appended"
        );
        let stranger = "198.51.100.1".parse().unwrap();
        assert_eq!(client_address(&[proxy], stranger, &headers), stranger);
        assert_eq!(client_address(&[], proxy, &headers), proxy);
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_address(&[proxy], proxy, &headers), proxy);
    }
}
