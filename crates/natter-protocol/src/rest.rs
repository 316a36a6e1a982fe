//! REST bodies under `/api/v1`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Letters, digits, `_`, `.` and `-`, starting with a letter or digit; stored lower-cased.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 3,
            max_length = 32,
            pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
        )
    )]
    pub username: String,
    /// 8 to 256 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 256))]
    pub password: String,
    /// 1 to 64 printable characters; the username when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
        )
    )]
    pub display_name: Option<String>,
    /// A label for this session ("Firefox on Linux"): 1 to 64 printable characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
        )
    )]
    pub device_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Case-insensitive. A name that cannot exist is answered like a wrong password (401).
    pub username: String,
    pub password: String,
    /// A label for this session: 1 to 64 printable characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
        )
    )]
    pub device_name: Option<String>,
}

/// `POST /auth/password`: the current password proves it is the user, not only a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub current_password: String,
    /// 8 to 256 characters, and hard to guess (else 400 `weak_password`).
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 256))]
    pub new_password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub refresh_token: String,
}

/// Issued by register, login and refresh. The refresh token is single-use: each refresh returns
/// a new one, and presenting a spent one revokes the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuthTokens {
    pub user: UserView,
    pub session_id: Uuid,
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in_s: u64,
    pub refresh_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub created_at_ms: i64,
    /// Present when the caller may see presence (themselves or a contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub online: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub last_seen_ms: Option<i64>,
    /// The user's picture; absent when they have none (show their initials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub avatar: Option<AvatarView>,
}

/// A user's picture: signed URLs of two renderings of it, made like a file's (`FileView`), that
/// need no token (for `<img src>`). Anyone signed in may see it. The URLs stop working at
/// `url_expires_at_ms` (`files.url_ttl_s`, 5 minutes by default): fetch the user again
/// (`GET /users/{user_id}`) for fresh ones. The bytes behind them never change (a new picture
/// is a new file, so new URLs), so what was loaded may be kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AvatarView {
    /// The picture's file: while it is the avatar, anyone signed in may also
    /// `GET /files/{file_id}`.
    pub file_id: Uuid,
    /// A ThumbHash of the picture, base64 (standard alphabet, padded): a blurred placeholder to
    /// paint before the image arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub thumbhash: Option<String>,
    /// The small thumbnail (fits in 320x320): for lists, headers and messages.
    pub url_small: String,
    /// The picture to open large: its large thumbnail (fits in 1280x1280), or the picture itself
    /// when it already fits.
    pub url_large: String,
    /// When both URLs stop working (Unix ms).
    pub url_expires_at_ms: i64,
}

/// `PATCH /users/me`: every field is optional; a body naming none changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// 1 to 64 printable characters; absent (or null) leaves the name as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
        )
    )]
    pub display_name: Option<String>,
    /// A complete upload of the caller's that is a picture (PNG, JPEG, GIF or WebP: one the
    /// server made thumbnails of) becomes their avatar; `null` removes it; absent leaves it as
    /// it is. Any other file, another user's, an incomplete upload or an unknown id: 400
    /// `invalid`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>, nullable = true))]
    pub avatar_file_id: Option<Option<Uuid>>,
}

/// A field that may be `null` and may be absent, and means something else in each case:
/// present (`null` or a value) is `Some`, absent is `None` (the field's `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct UserSearchQuery {
    /// Who to find (not blank, at most 256 characters and 16 words): users whose username
    /// starts with it (case-insensitive), and users whose display name has, for every word of
    /// it, a word that it begins ("ann smi" finds "Ann Smith"; case, accents and character
    /// width do not matter).
    #[cfg_attr(
        feature = "openapi",
        param(min_length = 1, max_length = 256, pattern = r"\S")
    )]
    pub prefix: String,
    /// At most this many users (1 to 50, default 50; larger values give 50).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = u64, required = false, minimum = 0, maximum = 4294967295_u64))]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionView {
    pub id: Uuid,
    pub device_name: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: i64,
    /// True for the session making the request.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDirectRequest {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// 1 to 100 printable characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
        )
    )]
    pub name: String,
    /// At most 500 characters, no control characters but newline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\x00-\x09\x0B-\x1F\x7F-\x9F]*$")
    )]
    pub topic: Option<String>,
    /// Other initial members, existing users (the creator is added as owner); at most 499.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 499))]
    pub member_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateConversationRequest {
    /// 1 to 100 printable characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
        )
    )]
    pub name: Option<String>,
    /// At most 500 characters, no control characters but newline; empty clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\x00-\x09\x0B-\x1F\x7F-\x9F]*$")
    )]
    pub topic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub user_id: Uuid,
    /// `member` (default) or `admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<AssignableRole>))]
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// `member` or `admin`.
    #[cfg_attr(feature = "openapi", schema(value_type = AssignableRole))]
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    pub muted: bool,
}

// The values of string fields, stated in the OpenAPI document (`schema(value_type = ...)` on the
// field): the fields stay strings here, so these types exist only for the document.

/// What a conversation is: `direct` (two users, no name) or `group`.
#[cfg(feature = "openapi")]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

/// A member's role. A group has one `owner`; both members of a direct conversation are
/// `member`s.
#[cfg(feature = "openapi")]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum MemberRole {
    Owner,
    Admin,
    Member,
}

/// The roles a member can be given: not `owner`, which passes to another member only when the
/// owner leaves.
#[cfg(feature = "openapi")]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AssignableRole {
    Member,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConversationView {
    pub id: Uuid,
    /// `direct` or `group`.
    #[cfg_attr(feature = "openapi", schema(value_type = ConversationKind))]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub topic: Option<String>,
    pub created_by: Uuid,
    pub created_at_ms: i64,
    /// Seq of the newest message; seqs run 1, 2, 3... without gaps.
    pub last_seq: i64,
    /// The conversation's change counter (see `MessageView::mod_seq`).
    pub last_mod: i64,
    pub last_activity_ms: i64,
    pub member_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MemberView {
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    /// `owner`, `admin` or `member`.
    #[cfg_attr(feature = "openapi", schema(value_type = MemberRole))]
    pub role: String,
    pub muted: bool,
    pub read_seq: i64,
    pub delivered_seq: i64,
    pub joined_at_ms: i64,
}

/// A conversation as the caller sees it in their list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConversationSummaryView {
    pub conversation: ConversationView,
    pub me: MemberView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub last_message: Option<MessageView>,
    pub unread_count: i64,
    pub mention_count: i64,
    /// Direct conversations: the other member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub peer: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConversationList {
    pub conversations: Vec<ConversationSummaryView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ConversationListQuery {
    /// Only conversations whose last activity is older than this (for paging).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = i64, required = false))]
    pub before_activity_ms: Option<i64>,
    /// Only conversations whose title matches (1 to 256 characters, at most 16 words, at least
    /// one letter or digit): every word of it begins a word of a group's name, or of a direct
    /// conversation's other member's display name or username. Case, accents and character
    /// width do not matter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = String, required = false, min_length = 1, max_length = 256))]
    pub q: Option<String>,
    /// At most this many conversations (1 to 500, default 100; values outside are clamped).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = u64, required = false, minimum = 0, maximum = 4294967295_u64))]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MemberList {
    pub members: Vec<MemberView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// Idempotency key chosen by the client, 1 to 64 visible ASCII characters; a retry with the
    /// same key in the same conversation returns the original.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")
    )]
    pub client_msg_id: String,
    /// Up to 4,000 characters, not only whitespace, no control characters but newline and tab;
    /// 1 character at least unless `attachments` are given, when it may be empty or absent (no
    /// caption).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 4000,
            pattern = r"^$|^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B-\x1F\x7F-\x9F]*$"
        )
    )]
    pub text: String,
    /// The seq of an existing message of this conversation.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option_i64"
    )]
    pub reply_to_seq: Option<i64>,
    /// Mentioned members (at most 50); non-members are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub mentions: Vec<Uuid>,
    /// Ids of complete files of the sender's (`POST /files/uploads`), at most 10, each once,
    /// shown in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub attachments: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    /// Up to 4,000 characters, not only whitespace, no control characters but newline and tab;
    /// 1 character at least unless the message has attachments, whose caption may be cleared
    /// (empty).
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 4000,
            pattern = r"^$|^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B-\x1F\x7F-\x9F]*$"
        )
    )]
    pub text: String,
    /// Mentioned members (at most 50); non-members are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub mentions: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReactionView {
    pub emoji: String,
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MessageView {
    /// 64-bit time-sortable id, as a decimal string.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{1,20}$"))]
    pub id: String,
    pub conversation_id: Uuid,
    /// Position in the conversation: 1, 2, 3... without gaps.
    pub seq: i64,
    /// The conversation's change counter at this message's latest change (new, edit, delete,
    /// reaction). Resume cursors are `mod_seq` values.
    pub mod_seq: i64,
    pub sender_id: Uuid,
    pub client_msg_id: String,
    /// Empty when deleted.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub reply_to_seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Uuid>,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub edited_at_ms: Option<i64>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionView>,
    /// The files sent with the message, in the sender's order, with signed URLs valid until
    /// each one's `url_expires_at_ms`; empty (absent) when none, and once deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<FileView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MessagePage {
    /// Ascending by seq.
    pub messages: Vec<MessageView>,
}

/// Pick at most one of `before` and `after`; neither gives the newest page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Messages with a seq below this one (older).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = i64, required = false))]
    pub before: Option<i64>,
    /// Messages with a seq above this one (newer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = i64, required = false))]
    pub after: Option<i64>,
    /// At most this many messages (1 to 200, default 50; values outside are clamped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = u64, required = false, minimum = 0, maximum = 4294967295_u64))]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CursorRequest {
    #[serde(deserialize_with = "crate::whole::i64")]
    pub seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    /// The `cursor` of the previous sync; 0 or absent for everything. Negative is refused.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        param(value_type = i64, required = false, minimum = 0)
    )]
    pub since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SyncView {
    /// Conversations that changed since the cursor, as the caller sees them now.
    pub changed: Vec<ConversationSummaryView>,
    /// Conversations the caller left or was removed from.
    pub removed: Vec<Uuid>,
    pub cursor: i64,
}

/// In which order search hits come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SearchOrderParam {
    /// Newest message first.
    #[default]
    Newest,
    /// Best match first, newest first among equals.
    Relevance,
}

/// `GET /search/messages`: every filter narrows the hits; all are optional but `q`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct MessageSearchParams {
    /// What to find (1 to 256 characters, at most 16 words): every word must be in the
    /// message, in any order; `"quoted words"` must follow each other; a word ending in `*`
    /// matches every word it begins. Case, accents and character width do not matter;
    /// Chinese and Japanese characters match as written, in sequence.
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 256))]
    pub q: String,
    /// Only in this conversation (404 if the caller is not a member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(required = false))]
    pub conversation_id: Option<Uuid>,
    /// Only messages this user sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(required = false))]
    pub from: Option<Uuid>,
    /// Only messages created before this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = i64, required = false))]
    pub before_ms: Option<i64>,
    /// Only messages created at or after this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = i64, required = false))]
    pub after_ms: Option<i64>,
    /// Only messages with at least one attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = bool, required = false))]
    pub has_attachment: Option<bool>,
    /// `newest` (default) or `relevance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(inline, required = false))]
    pub order: Option<SearchOrderParam>,
    /// The `next_cursor` of the page before, with the same query and order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(required = false, max_length = 24))]
    pub cursor: Option<String>,
    /// At most this many hits (1 to 50, default 20; values outside are clamped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = u64, required = false, minimum = 0, maximum = 4294967295_u64))]
    pub limit: Option<u32>,
}

/// A piece of a hit's snippet; the pieces in order are the shown text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SnippetPartView {
    pub text: String,
    /// A word the query matched (to highlight).
    pub hit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MessageHitView {
    /// The message as it is now.
    pub message: MessageView,
    /// Up to about 160 characters of its text around the first match (`…` where cut), in
    /// pieces, matches marked.
    pub snippet: Vec<SnippetPartView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MessageSearchPage {
    pub hits: Vec<MessageHitView>,
    /// Pass as `cursor` for the next page; absent on the last page. A page may hold fewer
    /// hits than `limit` (even none) and still have a next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserList {
    pub users: Vec<UserView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// Map of conversation id to a cursor, used by resume.
pub type Cursors = BTreeMap<Uuid, i64>;

/// An upload in progress (`POST /files/uploads`). The bytes go to `upload_url` with tus 1.0
/// `PATCH` requests (see docs/media.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UploadView {
    /// The upload's id, and the file's once complete.
    pub id: Uuid,
    /// Where to send the bytes (`HEAD` for the offset, `PATCH` to append, `DELETE` to cancel),
    /// relative to the server's origin.
    pub upload_url: String,
    pub name: String,
    /// Declared size in bytes.
    pub size: u64,
    /// Bytes received so far.
    pub offset: u64,
    /// When an upload still incomplete is deleted (Unix ms).
    pub expires_at_ms: i64,
}

/// A complete file (`GET /files/{file_id}`, and each of a message's `attachments`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FileView {
    pub id: Uuid,
    pub name: String,
    /// Size in bytes of what a download returns (an image's metadata is stripped, so this can
    /// be less than what was uploaded).
    pub size: u64,
    /// The media type the server found in the bytes (`application/octet-stream` when unknown),
    /// never the client's claim.
    pub mime: String,
    /// SHA-256 of the bytes, lower-case hex; also the download's `ETag`.
    pub sha256: String,
    /// True when browsers may show it in place (a safe image, video or audio type); otherwise the
    /// download is `Content-Disposition: attachment`.
    pub inline: bool,
    pub created_at_ms: i64,
    /// Pixels, as displayed (an image's EXIF orientation, a video's rotation applied), for
    /// images and videos whose size was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub height: Option<u32>,
    /// Length of a video or a sound, when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub duration_ms: Option<u64>,
    /// A ThumbHash of an image (or of a video's poster frame), base64 (standard alphabet,
    /// padded): a blurred placeholder to show before any byte of the file is fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub thumbhash: Option<String>,
    /// Smaller renderings of an image (or of a video's poster frame, when the server has
    /// ffmpeg), smallest first; empty when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thumbnails: Vec<ThumbnailView>,
    /// A signed download URL (relative to the server's origin), valid until `url_expires_at_ms`;
    /// anyone holding it can fetch the bytes until then, so treat it as a credential.
    pub url: String,
    /// When `url` and the thumbnails' URLs stop working (Unix ms): ask again
    /// (`GET /files/{file_id}`, or the history) for fresh ones.
    pub url_expires_at_ms: i64,
}

/// A thumbnail of an image: `small` fits in 320x320, `large` in 1280x1280 (never upscaled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ThumbnailView {
    #[cfg_attr(feature = "openapi", schema(value_type = ThumbnailSize))]
    pub size: String,
    pub width: u32,
    pub height: u32,
    pub mime: String,
    /// A signed URL like the file's, valid until the file's `url_expires_at_ms`.
    pub url: String,
}

// The values of `ThumbnailView::size`, stated in the OpenAPI document (the field stays a string).
/// Which thumbnail: `small` fits in 320x320, `large` in 1280x1280.
#[cfg(feature = "openapi")]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ThumbnailSize {
    Small,
    Large,
}

/// The signature of a download URL (`GET /files/{file_id}/content/{sha256}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// Unix seconds after which the URL no longer works.
    pub expires: u64,
    /// base64url HMAC-SHA-256 over the file id, its hash and `expires`.
    #[cfg_attr(feature = "openapi", param(max_length = 64))]
    pub signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_avatar_may_be_left_out_removed_or_set() {
        let parse = |json: &str| serde_json::from_str::<UpdateProfileRequest>(json).unwrap();
        assert_eq!(parse("{}").avatar_file_id, None);
        assert_eq!(
            parse(r#"{"avatar_file_id":null}"#).avatar_file_id,
            Some(None)
        );
        let id = Uuid::now_v7();
        let set = parse(&format!(r#"{{"avatar_file_id":"{id}"}}"#));
        assert_eq!(
            (set.avatar_file_id, set.display_name.as_deref()),
            (Some(Some(id)), None)
        );
        // What the SDK sends is read back the same.
        for request in [
            UpdateProfileRequest::default(),
            UpdateProfileRequest {
                avatar_file_id: Some(None),
                ..UpdateProfileRequest::default()
            },
            set,
        ] {
            let json = serde_json::to_string(&request).unwrap();
            assert_eq!(parse(&json), request, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&UpdateProfileRequest {
                avatar_file_id: Some(None),
                ..UpdateProfileRequest::default()
            })
            .unwrap(),
            r#"{"avatar_file_id":null}"#
        );
    }
}
