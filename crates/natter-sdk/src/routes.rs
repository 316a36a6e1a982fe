//! One typed method per route of `docs/rest-routes.md`, in the table's order. Each is a thin
//! wrapper: the path, the body, the answer type; the machinery lives in `rest.rs`.

use natter_protocol::{
    AddMemberRequest, AuthTokens, ChangePasswordRequest, ConversationList, ConversationListQuery,
    ConversationSummaryView, ConversationView, CreateDirectRequest, CreateGroupRequest,
    CursorRequest, DeviceList, DeviceView, EditMessageRequest, HistoryParams, LoginRequest,
    MemberList, MemberView, MessagePage, MessageSearchPage, MessageSearchParams, MessageView,
    MuteRequest, NotificationSettingsBody, RegisterDeviceRequest, RegisterRequest,
    SendMessageRequest, SessionList, SyncQuery, SyncView, UpdateConversationRequest,
    UpdateMemberRequest, UpdateProfileRequest, UserList, UserSearchQuery, UserView,
};
use uuid::Uuid;

use crate::error::Result;
use crate::rest::Client;
use crate::urls::encode_path_segment;

/// Auth: register, login, refresh, logout, password, sessions.
impl Client {
    /// `POST /auth/register`. Stores the returned tokens in this client.
    pub async fn register(&self, username: &str, password: &str) -> Result<AuthTokens> {
        self.register_with(&RegisterRequest {
            username: username.into(),
            password: password.into(),
            display_name: None,
            device_name: None,
        })
        .await
    }

    /// `POST /auth/register` with every field. Stores the returned tokens in this client.
    pub async fn register_with(&self, request: &RegisterRequest) -> Result<AuthTokens> {
        let tokens: AuthTokens = self
            .call_anonymous(|http, url| http.post(url).json(request), "/auth/register")
            .await?;
        self.set_tokens(&tokens);
        Ok(tokens)
    }

    /// `POST /auth/login`. Stores the returned tokens in this client.
    pub async fn login(&self, username: &str, password: &str) -> Result<AuthTokens> {
        self.login_with(&LoginRequest {
            username: username.into(),
            password: password.into(),
            device_name: None,
        })
        .await
    }

    /// `POST /auth/login` with every field. Stores the returned tokens in this client.
    pub async fn login_with(&self, request: &LoginRequest) -> Result<AuthTokens> {
        let tokens: AuthTokens = self
            .call_anonymous(|http, url| http.post(url).json(request), "/auth/login")
            .await?;
        self.set_tokens(&tokens);
        Ok(tokens)
    }

    /// `POST /auth/logout`: revokes this client's session, then forgets the tokens.
    pub async fn logout(&self) -> Result<()> {
        self.call_empty(|http, url| http.post(url), "/auth/logout")
            .await?;
        self.clear_tokens();
        Ok(())
    }

    /// `POST /auth/password`: replaces the password (the current one proves it is the user).
    /// Every other session of the user is revoked; this client's stays signed in.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        let request = ChangePasswordRequest {
            current_password: current.into(),
            new_password: new.into(),
        };
        self.call_empty(|http, url| http.post(url).json(&request), "/auth/password")
            .await
    }

    /// `GET /auth/sessions`: the caller's sessions (devices).
    pub async fn sessions(&self) -> Result<SessionList> {
        self.call(|http, url| http.get(url), "/auth/sessions").await
    }

    /// `DELETE /auth/sessions/{session_id}`: revokes one of the caller's sessions.
    pub async fn revoke_session(&self, session_id: Uuid) -> Result<()> {
        self.call_empty(
            |http, url| http.delete(url),
            &format!("/auth/sessions/{session_id}"),
        )
        .await
    }
}

/// Push devices and notification settings.
impl Client {
    /// `POST /push/devices`: registers a device for this client's session (logging out
    /// unregisters it).
    pub async fn register_device(&self, request: &RegisterDeviceRequest) -> Result<DeviceView> {
        self.call(|http, url| http.post(url).json(request), "/push/devices")
            .await
    }

    /// `GET /push/devices`: the caller's devices whose session is live.
    pub async fn devices(&self) -> Result<DeviceList> {
        self.call(|http, url| http.get(url), "/push/devices").await
    }

    /// `DELETE /push/devices/{device_id}`.
    pub async fn remove_device(&self, device_id: Uuid) -> Result<()> {
        self.call_empty(
            |http, url| http.delete(url),
            &format!("/push/devices/{device_id}"),
        )
        .await
    }

    /// `GET /users/me/notifications`.
    pub async fn notification_settings(&self) -> Result<NotificationSettingsBody> {
        self.call(|http, url| http.get(url), "/users/me/notifications")
            .await
    }

    /// `PUT /users/me/notifications`: replaces the settings whole.
    pub async fn set_notification_settings(
        &self,
        settings: &NotificationSettingsBody,
    ) -> Result<NotificationSettingsBody> {
        self.call(
            |http, url| http.put(url).json(settings),
            "/users/me/notifications",
        )
        .await
    }
}

/// Users.
impl Client {
    /// `GET /users/me`.
    pub async fn me(&self) -> Result<UserView> {
        self.call(|http, url| http.get(url), "/users/me").await
    }

    /// `PATCH /users/me`: changes the display name.
    pub async fn update_profile(&self, display_name: &str) -> Result<UserView> {
        self.patch_me(&UpdateProfileRequest {
            display_name: Some(display_name.into()),
            ..UpdateProfileRequest::default()
        })
        .await
    }

    /// `PATCH /users/me` with `avatar_file_id`: makes `file_id`, a complete picture of the
    /// caller's (an upload: [`Client::upload`]), their avatar, or with `None` removes
    /// it. The answer's `avatar` carries URLs that expire (`url_expires_at_ms`): fetch the user
    /// again ([`Client::user`], [`Client::me`]) for fresh ones.
    pub async fn set_avatar(&self, file_id: Option<Uuid>) -> Result<UserView> {
        self.patch_me(&UpdateProfileRequest {
            avatar_file_id: Some(file_id),
            ..UpdateProfileRequest::default()
        })
        .await
    }

    /// `PATCH /users/me` with any of its fields.
    pub async fn patch_me(&self, body: &UpdateProfileRequest) -> Result<UserView> {
        self.call(|http, url| http.patch(url).json(body), "/users/me")
            .await
    }

    /// `GET /users?prefix=&limit=`: users whose username starts with `prefix`, or whose
    /// display name has a word beginning with each word of it.
    pub async fn search_users(&self, prefix: &str, limit: Option<u32>) -> Result<UserList> {
        let query = UserSearchQuery {
            prefix: prefix.into(),
            limit,
        };
        self.call(|http, url| http.get(url).query(&query), "/users")
            .await
    }

    /// `GET /users/{user_id}`.
    pub async fn user(&self, user_id: Uuid) -> Result<UserView> {
        self.call(|http, url| http.get(url), &format!("/users/{user_id}"))
            .await
    }
}

/// Conversations and members.
impl Client {
    /// `POST /conversations/direct`: the direct conversation with `user_id` (created if new;
    /// the existing one otherwise).
    pub async fn create_direct(&self, user_id: Uuid) -> Result<ConversationSummaryView> {
        let body = CreateDirectRequest { user_id };
        self.call(
            |http, url| http.post(url).json(&body),
            "/conversations/direct",
        )
        .await
    }

    /// `POST /conversations`: a group with the caller as owner and `member_ids` as members.
    pub async fn create_group(
        &self,
        name: &str,
        topic: Option<&str>,
        member_ids: &[Uuid],
    ) -> Result<ConversationSummaryView> {
        self.create_group_with(&CreateGroupRequest {
            name: name.into(),
            topic: topic.map(Into::into),
            member_ids: member_ids.to_vec(),
        })
        .await
    }

    /// `POST /conversations` with a full request.
    pub async fn create_group_with(
        &self,
        request: &CreateGroupRequest,
    ) -> Result<ConversationSummaryView> {
        self.call(|http, url| http.post(url).json(request), "/conversations")
            .await
    }

    /// `GET /conversations?before_activity_ms=&limit=`: most recent activity first.
    pub async fn conversations(
        &self,
        before_activity_ms: Option<i64>,
        limit: Option<u32>,
    ) -> Result<ConversationList> {
        self.conversations_with(&ConversationListQuery {
            before_activity_ms,
            q: None,
            limit,
        })
        .await
    }

    /// `GET /conversations?q=`: the caller's conversations whose title (a group's name, a
    /// direct conversation's other member's display name or username) matches `q`, most
    /// recent activity first.
    pub async fn find_conversations(
        &self,
        q: &str,
        limit: Option<u32>,
    ) -> Result<ConversationList> {
        self.conversations_with(&ConversationListQuery {
            before_activity_ms: None,
            q: Some(q.into()),
            limit,
        })
        .await
    }

    /// `GET /conversations` with a full query.
    pub async fn conversations_with(
        &self,
        query: &ConversationListQuery,
    ) -> Result<ConversationList> {
        self.call(|http, url| http.get(url).query(query), "/conversations")
            .await
    }

    /// `GET /conversations/{id}`.
    pub async fn conversation(&self, conversation_id: Uuid) -> Result<ConversationSummaryView> {
        self.call(
            |http, url| http.get(url),
            &format!("/conversations/{conversation_id}"),
        )
        .await
    }

    /// `PATCH /conversations/{id}`: rename or change the topic of a group.
    pub async fn update_conversation(
        &self,
        conversation_id: Uuid,
        request: &UpdateConversationRequest,
    ) -> Result<ConversationView> {
        self.call(
            |http, url| http.patch(url).json(request),
            &format!("/conversations/{conversation_id}"),
        )
        .await
    }

    /// `PUT /conversations/{id}/mute`.
    pub async fn set_muted(&self, conversation_id: Uuid, muted: bool) -> Result<MemberView> {
        let body = MuteRequest { muted };
        self.call(
            |http, url| http.put(url).json(&body),
            &format!("/conversations/{conversation_id}/mute"),
        )
        .await
    }

    /// `GET /conversations/{id}/members`.
    pub async fn members(&self, conversation_id: Uuid) -> Result<MemberList> {
        self.call(
            |http, url| http.get(url),
            &format!("/conversations/{conversation_id}/members"),
        )
        .await
    }

    /// `POST /conversations/{id}/members`; `role` is `member` (the default) or `admin`.
    pub async fn add_member(
        &self,
        conversation_id: Uuid,
        user_id: Uuid,
        role: Option<&str>,
    ) -> Result<MemberView> {
        let body = AddMemberRequest {
            user_id,
            role: role.map(Into::into),
        };
        let path = format!("/conversations/{conversation_id}/members");
        self.call(|http, url| http.post(url).json(&body), &path)
            .await
    }

    /// `PATCH /conversations/{id}/members/{user_id}`; `role` is `member` or `admin`.
    pub async fn update_member_role(
        &self,
        conversation_id: Uuid,
        user_id: Uuid,
        role: &str,
    ) -> Result<MemberView> {
        let body = UpdateMemberRequest { role: role.into() };
        let path = format!("/conversations/{conversation_id}/members/{user_id}");
        self.call(|http, url| http.patch(url).json(&body), &path)
            .await
    }

    /// `DELETE /conversations/{id}/members/{user_id}`: removes a member, or leaves when
    /// `user_id` is the caller.
    pub async fn remove_member(&self, conversation_id: Uuid, user_id: Uuid) -> Result<()> {
        let path = format!("/conversations/{conversation_id}/members/{user_id}");
        self.call_empty(|http, url| http.delete(url), &path).await
    }
}

/// Messages, receipts, typing, sync.
impl Client {
    /// `POST /conversations/{id}/messages`. Idempotent on `client_msg_id`: a retry returns the
    /// original message.
    pub async fn send_message(
        &self,
        conversation_id: Uuid,
        request: &SendMessageRequest,
    ) -> Result<MessageView> {
        let path = format!("/conversations/{conversation_id}/messages");
        self.call(|http, url| http.post(url).json(request), &path)
            .await
    }

    /// [`send_message`](Client::send_message) with a fresh `client_msg_id` and no reply or
    /// mentions.
    pub async fn send_text(&self, conversation_id: Uuid, text: &str) -> Result<MessageView> {
        let request = SendMessageRequest {
            client_msg_id: crate::new_client_msg_id(),
            text: text.into(),
            reply_to_seq: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        };
        self.send_message(conversation_id, &request).await
    }

    /// `GET /search/messages`: a page of the messages matching `params.q` that the caller may
    /// read; pass `next_cursor` back as `params.cursor` for the next page.
    pub async fn search_messages(&self, params: &MessageSearchParams) -> Result<MessageSearchPage> {
        self.call(|http, url| http.get(url).query(params), "/search/messages")
            .await
    }

    /// `GET /conversations/{id}/messages?before=&after=&limit=`: a page in ascending seq.
    pub async fn history(
        &self,
        conversation_id: Uuid,
        params: &HistoryParams,
    ) -> Result<MessagePage> {
        let path = format!("/conversations/{conversation_id}/messages");
        self.call(|http, url| http.get(url).query(params), &path)
            .await
    }

    /// `PATCH /conversations/{id}/messages/{seq}` with new text and no mentions.
    pub async fn edit_message(
        &self,
        conversation_id: Uuid,
        seq: i64,
        text: &str,
    ) -> Result<MessageView> {
        self.edit_message_with(
            conversation_id,
            seq,
            &EditMessageRequest {
                text: text.into(),
                mentions: Vec::new(),
            },
        )
        .await
    }

    /// `PATCH /conversations/{id}/messages/{seq}` with a full request.
    pub async fn edit_message_with(
        &self,
        conversation_id: Uuid,
        seq: i64,
        request: &EditMessageRequest,
    ) -> Result<MessageView> {
        let path = format!("/conversations/{conversation_id}/messages/{seq}");
        self.call(|http, url| http.patch(url).json(request), &path)
            .await
    }

    /// `DELETE /conversations/{id}/messages/{seq}`: soft-deletes, returns the deleted state.
    pub async fn delete_message(&self, conversation_id: Uuid, seq: i64) -> Result<MessageView> {
        let path = format!("/conversations/{conversation_id}/messages/{seq}");
        self.call(|http, url| http.delete(url), &path).await
    }

    /// `PUT /conversations/{id}/messages/{seq}/reactions/{emoji}` (the emoji is
    /// percent-encoded for you).
    pub async fn react(&self, conversation_id: Uuid, seq: i64, emoji: &str) -> Result<MessageView> {
        let path = reaction_path(conversation_id, seq, emoji);
        self.call(|http, url| http.put(url), &path).await
    }

    /// `DELETE /conversations/{id}/messages/{seq}/reactions/{emoji}`.
    pub async fn unreact(
        &self,
        conversation_id: Uuid,
        seq: i64,
        emoji: &str,
    ) -> Result<MessageView> {
        let path = reaction_path(conversation_id, seq, emoji);
        self.call(|http, url| http.delete(url), &path).await
    }

    /// `POST /conversations/{id}/read`: moves the caller's read cursor to `seq`.
    pub async fn mark_read(&self, conversation_id: Uuid, seq: i64) -> Result<MemberView> {
        let body = CursorRequest { seq };
        self.call(
            |http, url| http.post(url).json(&body),
            &format!("/conversations/{conversation_id}/read"),
        )
        .await
    }

    /// `POST /conversations/{id}/delivered`: moves the caller's delivered cursor to `seq`.
    pub async fn mark_delivered(&self, conversation_id: Uuid, seq: i64) -> Result<MemberView> {
        let body = CursorRequest { seq };
        let path = format!("/conversations/{conversation_id}/delivered");
        self.call(|http, url| http.post(url).json(&body), &path)
            .await
    }

    /// `POST /conversations/{id}/typing`.
    pub async fn typing(&self, conversation_id: Uuid) -> Result<()> {
        self.call_empty(
            |http, url| http.post(url),
            &format!("/conversations/{conversation_id}/typing"),
        )
        .await
    }

    /// `GET /sync?since=`: what changed since a previous sync's `cursor` (`None` for everything).
    pub async fn sync(&self, since: Option<i64>) -> Result<SyncView> {
        let query = SyncQuery { since };
        self.call(|http, url| http.get(url).query(&query), "/sync")
            .await
    }
}

/// The reaction route's path, with the emoji percent-encoded as one path segment.
pub(crate) fn reaction_path(conversation_id: Uuid, seq: i64, emoji: &str) -> String {
    format!(
        "/conversations/{conversation_id}/messages/{seq}/reactions/{}",
        encode_path_segment(emoji)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_paths_encode_the_emoji() {
        let id = Uuid::nil();
        assert_eq!(
            reaction_path(id, 3, "👍"),
            "/conversations/00000000-0000-0000-0000-000000000000/messages/3/reactions/%F0%9F%91%8D"
        );
    }

    #[test]
    fn absent_query_parameters_are_left_out() {
        let http = reqwest::Client::new();
        let query = UserSearchQuery {
            prefix: "al ice".into(),
            limit: None,
        };
        let request = http
            .get("http://h/api/v1/users")
            .query(&query)
            .build()
            .unwrap();
        assert_eq!(request.url().query(), Some("prefix=al+ice"));
        let query = SyncQuery { since: None };
        let request = http
            .get("http://h/api/v1/sync")
            .query(&query)
            .build()
            .unwrap();
        assert_eq!(request.url().query(), None);
        let params = HistoryParams {
            before: Some(9),
            after: None,
            limit: Some(2),
        };
        let request = http.get("http://h/x").query(&params).build().unwrap();
        assert_eq!(request.url().query(), Some("before=9&limit=2"));
    }
}
