//! `POST /auth/password`: change the caller's password. Its own file because it is the one auth
//! route that needs both a token and the current password.

use axum::extract::State;
use axum::http::StatusCode;
use natter_protocol::{ChangePasswordRequest, ErrorBody};

use crate::auth::AccessClaims;
use crate::error::ApiResult;
use crate::extract::{AuthUser, JsonBody};
use crate::state::AppState;

#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; every other session of the user is revoked, this one is kept"),
        (status = 400, description = "Malformed body, or the new password is invalid or weak (`weak_password`)", body = ErrorBody),
        (status = 401, description = "No valid token (`unauthenticated`) or a wrong current password (`bad_credentials`)", body = ErrorBody),
        (status = 429, description = "Too many attempts (`rate_limited`, with `Retry-After`)", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    me: AuthUser,
    JsonBody(body): JsonBody<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    // Limited like logins, per user: a stolen access token must not become a password oracle.
    state
        .rate_limits
        .check_auth(&format!("password:{}", me.user_id.0))
        .await?;
    let claims = AccessClaims {
        user_id: me.user_id,
        session_id: me.session_id,
    };
    state
        .auth
        .change_password(claims, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
