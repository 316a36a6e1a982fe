//! `natter send` and `natter tail`: one message out, or a conversation's messages as JSON lines,
//! for scripts and operators.

use std::io::{self, Read, Write};

use natter_sdk::protocol::{HistoryParams, MessageView, ServerFrame};
use natter_sdk::{Client, Session};
use uuid::Uuid;

use crate::auth::{KEEPER_INTERVAL, Signed};
use crate::cli::{SendArgs, TailArgs};
use crate::exit::{Exit, Failure};

/// The server's page size limit for history.
const HISTORY_PAGE_MAX: u32 = 200;

pub async fn send(args: SendArgs) -> Result<(), Failure> {
    let text = match args.text.as_deref() {
        Some(text) if text != "-" => text.to_owned(),
        _ => {
            let mut text = String::new();
            io::stdin().read_to_string(&mut text)?;
            text.trim_end_matches('\n').to_owned()
        }
    };
    if text.trim().is_empty() {
        return Err(Failure::new(
            Exit::Usage,
            "nothing to send: the text is empty",
        ));
    }
    let file = session_file()?;
    let signed = Signed::from_env_or_saved(args.server.server.as_deref(), &file).await?;
    let result = async {
        let conversation = conversation_of(&signed, &args.to).await?;
        signed
            .client
            .send_text(conversation, &text)
            .await
            .map_err(|e| Failure::sdk("sending", e))
    }
    .await;
    signed.finish().await?;
    let message = result?;
    print_json(&message)?;
    Ok(())
}

fn session_file() -> Result<crate::saved::SessionFile, Failure> {
    crate::saved::SessionFile::from_env().map_err(|e| Failure::new(Exit::Failed, e.to_string()))
}

/// A conversation id as given, or the direct conversation with a username (`@` optional).
async fn conversation_of(signed: &Signed, to: &str) -> Result<Uuid, Failure> {
    if let Ok(id) = Uuid::parse_str(to) {
        return Ok(id);
    }
    let username = to.trim_start_matches('@');
    if username.is_empty() {
        return Err(Failure::new(
            Exit::Usage,
            "--to needs a username or a conversation id",
        ));
    }
    let user = find_user(&signed.client, username).await?;
    if user == signed.user_id {
        return Err(Failure::new(
            Exit::Refused,
            "that is you: send to someone else",
        ));
    }
    let summary = signed
        .client
        .create_direct(user)
        .await
        .map_err(|e| Failure::sdk(&format!("opening the conversation with {username}"), e))?;
    Ok(summary.conversation.id)
}

async fn find_user(client: &Client, username: &str) -> Result<Uuid, Failure> {
    let found = client
        .search_users(username, Some(50))
        .await
        .map_err(|e| Failure::sdk("looking the user up", e))?;
    found
        .users
        .into_iter()
        .find(|user| user.username.eq_ignore_ascii_case(username))
        .map(|user| user.id)
        .ok_or_else(|| Failure::new(Exit::NotFound, format!("no user named {username:?}")))
}

/// One JSON line on stdout, flushed. A closed stdout (`| head -1`) is a normal end.
fn print_json(message: &MessageView) -> Result<bool, Failure> {
    let line =
        serde_json::to_string(message).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
    let mut out = io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn tail(args: TailArgs) -> Result<(), Failure> {
    let file = session_file()?;
    let mut signed = Signed::from_env_or_saved(args.server.server.as_deref(), &file).await?;
    let result = tail_with(&mut signed, &args).await;
    let finished = signed.finish().await;
    result.and(finished)
}

async fn tail_with(signed: &mut Signed, args: &TailArgs) -> Result<(), Failure> {
    let id = args.conversation;
    // Connected first, so nothing sent from here on is missed.
    let session = signed
        .client
        .connect()
        .await
        .map_err(|e| Failure::sdk("connecting", e))?;
    let summary = signed
        .client
        .conversation(id)
        .await
        .map_err(|e| Failure::sdk("opening the conversation", e))?;
    // Resume this conversation from here after a dropped connection.
    session.track(id, summary.conversation.last_mod);
    let mut printed = summary.conversation.last_seq;
    if args.history > 0 {
        let history = last_messages(&signed.client, id, args.history).await?;
        for message in &history {
            if !print_json(message)? {
                return Ok(());
            }
        }
        printed = history.last().map_or(printed, |m| m.seq.max(printed));
    }
    let outcome = follow(signed, &session, id, printed).await;
    session.close().await;
    outcome
}

/// Prints each new message of `id` with a seq above `printed` until the session ends, stdout
/// closes or SIGINT/SIGTERM.
async fn follow(
    signed: &mut Signed,
    session: &Session,
    id: Uuid,
    mut printed: i64,
) -> Result<(), Failure> {
    let mut keeper = tokio::time::interval(KEEPER_INTERVAL);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            event = session.next_event() => match event {
                Some(ServerFrame::MessageNew { message })
                    if message.conversation_id == id && message.seq > printed =>
                {
                    printed = message.seq;
                    if !print_json(&message)? {
                        return Ok(());
                    }
                }
                Some(ServerFrame::ConversationRemoved { conversation_id })
                    if conversation_id == id =>
                {
                    return Err(Failure::new(Exit::NotFound, "no longer a member of the conversation"));
                }
                Some(ServerFrame::MemberRemoved { conversation_id, user_id, .. })
                    if conversation_id == id && user_id == signed.user_id =>
                {
                    return Err(Failure::new(Exit::NotFound, "removed from the conversation"));
                }
                Some(_) => {}
                None => {
                    let error = session.close_reason().unwrap_or(natter_sdk::Error::Closed {
                        code: None,
                        reason: "the session ended".into(),
                    });
                    return Err(Failure::sdk("the connection ended", error));
                }
            },
            _ = keeper.tick() => signed.keep_fresh().await?,
            () = &mut stop => return Ok(()),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// The last `count` messages of a conversation, oldest first.
async fn last_messages(client: &Client, id: Uuid, count: u32) -> Result<Vec<MessageView>, Failure> {
    let mut messages: Vec<MessageView> = Vec::new();
    let mut before = None;
    while (messages.len() as u32) < count {
        let want = (count - messages.len() as u32).min(HISTORY_PAGE_MAX);
        let params = HistoryParams {
            before,
            after: None,
            limit: Some(want),
        };
        let page = client
            .history(id, &params)
            .await
            .map_err(|e| Failure::sdk("reading the history", e))?
            .messages;
        let Some(first) = page.first() else { break };
        before = Some(first.seq);
        let full = page.len() as u32 == want;
        messages.splice(0..0, page);
        if !full {
            break;
        }
    }
    Ok(messages)
}
