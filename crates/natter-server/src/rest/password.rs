//! `POST /auth/password`: change the caller's password. Its own file because it is the one auth
//! route that needs both a token and the current password.

use axum::extract::State;
use axum::http::StatusCode;
use natter_protocol::{ChangePasswordRequest, ErrorBody};

use crate::auth::{AccessClaims, Auth};
use crate::error::ApiResult;
use crate::extract::{AuthUser, JsonBody};
use crate::limiter::RateLimits;
use crate::rest::responses::*;

#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every other session of the user is revoked (their sockets close with 4002), this one is kept."),
        (status = 400, description = "`invalid`: a malformed body or a new password of the wrong length; `weak_password`: the new password is too easy to guess (the message says why).", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 429, response = RateLimited)))]
pub async fn change_password(
    State(rate_limits): State<RateLimits>,
    State(auth): State<Auth>,
    me: AuthUser,
    JsonBody(body): JsonBody<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    // Limited like logins, per user: a stolen access token must not become a password oracle.
    rate_limits
        .check_auth(&format!("password:{}", me.user_id.0))
        .await?;
    let claims = AccessClaims {
        user_id: me.user_id,
        session_id: me.session_id,
    };
    auth.change_password(claims, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
