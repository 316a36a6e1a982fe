use std::collections::{HashMap, HashSet};

use crate::files::{Attachment, FileContent, FileId, FileName};
use crate::ids::{ConversationId, MessageId, UserId};
use crate::model::{ConversationKind, Member, Message, Role};
use crate::push::{NotificationSettings, NotifyLevel, PreviewLevel, QuietHours};
use crate::values::ClientMsgId;

use super::*;

fn message(sender: UserId, text: &str, mentions: Vec<UserId>) -> Message {
    Message {
        id: MessageId(7),
        conversation_id: ConversationId::new(),
        seq: 5,
        mod_seq: 5,
        sender_id: sender,
        client_msg_id: ClientMsgId::parse("c").unwrap(),
        text: text.into(),
        reply_to_seq: None,
        mentions,
        created_at_ms: 0,
        edited_at_ms: None,
        deleted: false,
        reactions: vec![],
        attachments: vec![],
    }
}

fn member(user: UserId, read_seq: i64, muted: bool) -> Member {
    Member {
        conversation_id: ConversationId::new(),
        user_id: user,
        role: Role::Member,
        muted,
        read_seq,
        delivered_seq: read_seq,
        joined_at_ms: 0,
        replied: true,
    }
}

fn settings(level: NotifyLevel, preview: PreviewLevel) -> NotificationSettings {
    NotificationSettings {
        level,
        preview,
        quiet_hours: None,
    }
}

struct Case {
    kind: ConversationKind,
    message: Message,
    members: Vec<Member>,
    online: HashSet<UserId>,
    settings: HashMap<UserId, NotificationSettings>,
    unread: HashMap<UserId, i64>,
}

impl Case {
    fn new(kind: ConversationKind, message: Message, members: Vec<Member>) -> Self {
        Self {
            kind,
            message,
            members,
            online: HashSet::new(),
            settings: HashMap::new(),
            unread: HashMap::new(),
        }
    }

    fn plan(&self) -> Vec<(UserId, PushContent)> {
        plan(&PlanInput {
            message: &self.message,
            kind: self.kind,
            conversation_name: (self.kind == ConversationKind::Group).then_some("general"),
            sender_name: "Ada",
            members: &self.members,
            online: &self.online,
            settings: &self.settings,
            unread: &self.unread,
            now_ms: 1_768_435_200_000,
        })
    }

    fn users(&self) -> Vec<UserId> {
        self.plan().into_iter().map(|(user, _)| user).collect()
    }
}

#[test]
fn everyone_but_the_sender_the_online_and_those_who_read_it() {
    let [sender, offline, online, read, behind] = [(); 5].map(|_| UserId::new());
    let mut case = Case::new(
        ConversationKind::Group,
        message(sender, "hello", vec![]),
        vec![
            member(sender, 5, false),
            member(offline, 0, false),
            member(online, 0, false),
            member(read, 5, false),
            member(behind, 4, false),
        ],
    );
    case.online.insert(online);
    assert_eq!(case.users(), vec![offline, behind]);
    case.message.deleted = true;
    assert!(case.users().is_empty(), "a deleted message notifies nobody");
}

#[test]
fn muted_conversations_notify_only_mentions() {
    let [sender, muted, mentioned_muted] = [(); 3].map(|_| UserId::new());
    let case = Case::new(
        ConversationKind::Group,
        message(sender, "hi @x", vec![mentioned_muted]),
        vec![
            member(sender, 0, false),
            member(muted, 0, true),
            member(mentioned_muted, 0, true),
        ],
    );
    assert_eq!(case.users(), vec![mentioned_muted]);
}

#[test]
fn levels_decide_which_messages_notify() {
    let [
        sender,
        all,
        mentions,
        mentions_named,
        nothing,
        nothing_named,
    ] = [(); 6].map(|_| UserId::new());
    let members = [
        sender,
        all,
        mentions,
        mentions_named,
        nothing,
        nothing_named,
    ]
    .map(|user| member(user, 0, false))
    .to_vec();
    let mentioned = vec![mentions_named, nothing_named];
    let mut group = Case::new(
        ConversationKind::Group,
        message(sender, "hi", mentioned.clone()),
        members.clone(),
    );
    for (user, level) in [
        (mentions, NotifyLevel::MentionsAndDirect),
        (mentions_named, NotifyLevel::MentionsAndDirect),
        (nothing, NotifyLevel::Nothing),
        (nothing_named, NotifyLevel::Nothing),
    ] {
        group
            .settings
            .insert(user, settings(level, PreviewLevel::Full));
    }
    assert_eq!(group.users(), vec![all, mentions_named]);
    let direct = Case {
        kind: ConversationKind::Direct,
        ..group
    };
    assert_eq!(direct.users(), vec![all, mentions, mentions_named]);
}

#[test]
fn previews_follow_the_users_privacy_setting() {
    let [sender, full, sender_only, hidden] = [(); 4].map(|_| UserId::new());
    let mut case = Case::new(
        ConversationKind::Group,
        message(sender, "the launch code is 1234", vec![]),
        [sender, full, sender_only, hidden]
            .map(|user| member(user, 0, false))
            .to_vec(),
    );
    case.settings.insert(
        sender_only,
        settings(NotifyLevel::All, PreviewLevel::SenderOnly),
    );
    case.settings
        .insert(hidden, settings(NotifyLevel::All, PreviewLevel::Hidden));
    let shown: Vec<_> = case
        .plan()
        .into_iter()
        .map(|(_, content)| (content.title, content.body))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("Ada in general".into(), "the launch code is 1234".into()),
            ("Ada in general".into(), HIDDEN_TEXT.into()),
            (HIDDEN_TITLE.into(), HIDDEN_TEXT.into()),
        ]
    );
    let direct = Case {
        kind: ConversationKind::Direct,
        ..case
    };
    assert_eq!(direct.plan()[0].1.title, "Ada");
}

#[test]
fn badges_quiet_hours_and_ids() {
    let [sender, sleeping, awake] = [(); 3].map(|_| UserId::new());
    let mut case = Case::new(
        ConversationKind::Group,
        message(sender, "hi", vec![]),
        [sender, sleeping, awake]
            .map(|user| member(user, 0, false))
            .to_vec(),
    );
    // The case's clock is 2026-01-15 00:00 UTC: 01:00 in Paris.
    case.settings.insert(
        sleeping,
        NotificationSettings {
            quiet_hours: Some(QuietHours {
                start_min: 22 * 60,
                end_min: 7 * 60,
                time_zone: "Europe/Paris".into(),
            }),
            ..NotificationSettings::default()
        },
    );
    case.unread.insert(sleeping, 3);
    let planned = case.plan();
    assert_eq!(planned.len(), 2);
    let (user, quiet) = &planned[0];
    assert_eq!(*user, sleeping);
    assert!(quiet.quiet);
    assert_eq!(quiet.badge, Some(3));
    assert_eq!((quiet.message_id, quiet.seq), (MessageId(7), 5));
    assert_eq!(quiet.conversation_id, case.message.conversation_id);
    assert!(!planned[1].1.quiet);
    assert_eq!(planned[1].1.badge, None, "unknown unread: badge left alone");
}

fn attachment(name: &str, mime: &str) -> Attachment {
    Attachment {
        file_id: FileId::new(),
        name: FileName::parse(name).unwrap(),
        created_at_ms: 0,
        content: FileContent {
            sha256: [0; 32],
            size: 1,
            mime: mime.into(),
            completed_at_ms: 0,
            media: None,
        },
    }
}

#[test]
fn preview_counts_characters_not_bytes() {
    let text = "é".repeat(150);
    assert_eq!(preview_text(&text, &[]).chars().count(), PREVIEW_CHARS);
    assert_eq!(preview_text("short", &[]), "short");
}

#[test]
fn files_without_a_caption_say_what_they_are() {
    let photo = attachment("cat.jpg", "image/jpeg");
    let pdf = attachment("report.pdf", "application/pdf");
    assert_eq!(preview_text("", std::slice::from_ref(&photo)), "📷 Photo");
    assert_eq!(
        preview_text("", &[pdf, photo.clone(), photo.clone()]),
        "📎 report.pdf +2"
    );
    assert_eq!(
        preview_text("", &[attachment("a.ogg", "audio/ogg")]),
        "🎤 Audio"
    );
    assert_eq!(preview_text("look", &[photo]), "look", "a caption wins");
}
