//! Each command's own result, taken out of the server's typed [`Ack`]. An ack of another kind
//! than the command's is a protocol breach, reported as [`Error::WrongAck`] rather than as a
//! missing field.

use natter_protocol::{Ack, MemberView, MessageView};

use crate::error::{Error, Result};

/// What a `send` was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The stored message: the original one when `duplicate`.
    pub message: MessageView,
    /// True when this `client_msg_id` was already used in the conversation, so nothing new was
    /// stored.
    pub duplicate: bool,
}

fn wrong(expected: &'static str, got: &Ack) -> Error {
    Error::WrongAck {
        expected,
        got: got.kind(),
    }
}

/// `send`.
pub(crate) fn sent(ack: Ack) -> Result<Sent> {
    match ack {
        Ack::Message { message, duplicate } => Ok(Sent { message, duplicate }),
        other => Err(wrong("message", &other)),
    }
}

/// `edit`, `delete`, `react`, `unreact`.
pub(crate) fn message(ack: Ack) -> Result<MessageView> {
    sent(ack).map(|sent| sent.message)
}

/// `read`, `delivered`.
pub(crate) fn member(ack: Ack) -> Result<MemberView> {
    match ack {
        Ack::Member(member) => Ok(member),
        other => Err(wrong("member", &other)),
    }
}

/// `history`.
pub(crate) fn history(ack: Ack) -> Result<Vec<MessageView>> {
    match ack {
        Ack::History(messages) => Ok(messages),
        other => Err(wrong("messages", &other)),
    }
}

/// `typing`, `ping`.
pub(crate) fn done(ack: Ack) -> Result<()> {
    match ack {
        Ack::Done => Ok(()),
        other => Err(wrong("empty", &other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_of_another_kind_is_a_typed_error() {
        let error = member(Ack::Done).expect_err("not a member");
        assert!(
            matches!(
                error,
                Error::WrongAck {
                    expected: "member",
                    got: "empty"
                }
            ),
            "{error:?}"
        );
        assert!(matches!(
            history(Ack::Member(MemberView {
                conversation_id: uuid::Uuid::nil(),
                user_id: uuid::Uuid::nil(),
                role: "member".into(),
                muted: false,
                read_seq: 0,
                delivered_seq: 0,
                joined_at_ms: 0,
            })),
            Err(Error::WrongAck {
                expected: "messages",
                got: "member"
            })
        ));
        assert!(matches!(
            done(Ack::History(Vec::new())),
            Err(Error::WrongAck {
                expected: "empty",
                got: "messages"
            })
        ));
        assert_eq!(history(Ack::History(Vec::new())).ok(), Some(Vec::new()));
        assert!(done(Ack::Done).is_ok());
    }
}
