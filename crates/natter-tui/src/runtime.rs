//! `natter chat`'s loop: the terminal, the SDK session and the tasks that carry out the app's
//! effects, all feeding one channel of [`Event`]s into [`App::update`].
//!
//! Who owns what: the loop owns the app, the terminal and every task (a `JoinSet` for loads, one
//! worker for commands, one task each for server events and connection states, one thread for
//! terminal input); all of them end before `chat` returns. Commands (send, edit, delete, react,
//! read, typing) go through one worker in the order they were given, so two messages typed
//! quickly arrive in that order; loads run side by side.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use natter_sdk::protocol::{EditMessageRequest, HistoryParams, SendMessageRequest};
use natter_sdk::{Client, ConnectionState, Session};
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyEventKind, MouseEventKind,
};
use ratatui::crossterm::execute;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::app::{App, Connection, Effect, Event, HISTORY_PAGE, Me};
use crate::auth::{KEEPER_INTERVAL, Signed, now_ms};
use crate::exit::{Exit, Failure};

/// The clock's tick: typing indicators and notices expire on it.
const TICK: Duration = Duration::from_secs(1);

/// How long the input thread waits for a key before looking at its stop flag.
const INPUT_POLL: Duration = Duration::from_millis(100);

/// Lines the wheel scrolls per notch.
const WHEEL_LINES: i16 = 3;

pub async fn chat(mut signed: Signed, mouse: bool) -> Result<(), Failure> {
    // Connected before the screen changes, so a refused session prints as usual.
    let session = Arc::new(
        signed
            .client
            .connect()
            .await
            .map_err(|e| Failure::sdk("connecting", e))?,
    );
    let tz = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    let me = Me {
        id: signed.user_id,
        username: signed.username.clone(),
        server: signed.server.clone(),
    };
    let mut app = App::new(me, now_ms(), tz);
    let mut terminal = Screen::enter(mouse)?;
    let outcome = run(&mut app, &mut signed, &session, &mut terminal.terminal).await;
    drop(terminal);
    session.close().await;
    match outcome? {
        End::Quit => {
            signed.finish().await?;
            match &app.connection {
                Connection::Closed(reason) => Err(Failure::new(
                    Exit::Auth,
                    format!("the session ended ({reason}): sign in again with `natter login`"),
                )),
                _ => Ok(()),
            }
        }
        End::SignOut => {
            signed.sign_out().await?;
            eprintln!("natter: signed out");
            Ok(())
        }
    }
}

enum End {
    Quit,
    SignOut,
}

async fn run(
    app: &mut App,
    signed: &mut Signed,
    session: &Arc<Session>,
    terminal: &mut DefaultTerminal,
) -> Result<End, Failure> {
    let (events, mut inbox) = mpsc::unbounded_channel::<Event>();
    let (commands, command_queue) = mpsc::unbounded_channel::<Effect>();
    let stop = Arc::new(AtomicBool::new(false));
    let input = {
        let (events, stop) = (events.clone(), stop.clone());
        std::thread::spawn(move || read_input(&events, &stop))
    };
    let mut tasks = JoinSet::new();
    tasks.spawn(forward_frames(session.clone(), events.clone()));
    tasks.spawn(forward_states(session.clone(), events.clone()));
    tasks.spawn(run_commands(session.clone(), command_queue, events.clone()));
    let mut loads = JoinSet::new();
    let mut tick = tokio::time::interval(TICK);
    let mut keeper = tokio::time::interval(KEEPER_INTERVAL);
    let mut pending = app.start();
    let end = 'main: loop {
        for effect in pending.drain(..) {
            match effect {
                Effect::Quit => break 'main Ok(End::Quit),
                Effect::SignOut => break 'main Ok(End::SignOut),
                Effect::LoadConversations
                | Effect::LoadConversation(_)
                | Effect::LoadHistory { .. }
                | Effect::LoadUsers(_)
                | Effect::OpenDirect { .. } => {
                    loads.spawn(load(
                        signed.client.clone(),
                        session.clone(),
                        effect,
                        events.clone(),
                    ));
                }
                command => {
                    let _ = commands.send(command);
                }
            }
        }
        if let Err(e) = terminal.draw(|frame| app.render(frame)) {
            break Err(Failure::new(Exit::Failed, format!("drawing: {e}")));
        }
        let event = tokio::select! {
            Some(event) = inbox.recv() => event,
            _ = tick.tick() => Event::Tick { now_ms: now_ms() },
            _ = keeper.tick() => {
                if let Err(failure) = signed.keep_fresh().await {
                    break Err(failure);
                }
                continue;
            }
            Some(_) = loads.join_next() => continue,
        };
        pending = app.update(event);
        // Whatever else is already waiting goes in before the next draw.
        while let Ok(event) = inbox.try_recv() {
            pending.extend(app.update(event));
        }
    };
    stop.store(true, Ordering::Relaxed);
    tasks.shutdown().await;
    loads.shutdown().await;
    let _ = input.join();
    end
}

/// The terminal in full-screen mode, given back as it was when dropped (also on a panic: ratatui's
/// hook restores it before the message prints).
struct Screen {
    terminal: DefaultTerminal,
    mouse: bool,
}

impl Screen {
    fn enter(mouse: bool) -> io::Result<Self> {
        let terminal = ratatui::try_init()?;
        let mut out = io::stdout();
        execute!(out, EnableBracketedPaste)?;
        if mouse {
            execute!(out, EnableMouseCapture)?;
        }
        Ok(Self { terminal, mouse })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let mut out = io::stdout();
        if self.mouse {
            let _ = execute!(out, DisableMouseCapture);
        }
        let _ = execute!(out, DisableBracketedPaste);
        ratatui::restore();
    }
}

/// The input thread: terminal events into the channel until `stop`.
fn read_input(events: &mpsc::UnboundedSender<Event>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match event::poll(INPUT_POLL) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) => return,
        }
        let event = match event::read() {
            Ok(event::Event::Key(key)) if key.kind != KeyEventKind::Release => Event::Key(key),
            Ok(event::Event::Mouse(mouse)) => match mouse.kind {
                MouseEventKind::ScrollUp => Event::Wheel(WHEEL_LINES),
                MouseEventKind::ScrollDown => Event::Wheel(-WHEEL_LINES),
                _ => continue,
            },
            Ok(event::Event::Paste(text)) => Event::Paste(text),
            // A resize redraws; the tick is as good an event as any for that.
            Ok(event::Event::Resize(..)) => Event::Tick { now_ms: now_ms() },
            Ok(_) => continue,
            Err(_) => return,
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// Server events into the channel; the session's end as a closed connection.
async fn forward_frames(session: Arc<Session>, events: mpsc::UnboundedSender<Event>) {
    while let Some(frame) = session.next_event().await {
        if events.send(Event::Frame(frame)).is_err() {
            return;
        }
    }
}

async fn forward_states(session: Arc<Session>, events: mpsc::UnboundedSender<Event>) {
    let mut states = session.state_changes();
    loop {
        let state = *states.borrow_and_update();
        let connection = match state {
            ConnectionState::Connecting => Connection::Connecting,
            ConnectionState::Connected => Connection::Connected,
            ConnectionState::Closed => Connection::Closed(
                session
                    .close_reason()
                    .map_or_else(|| "closed".to_owned(), |e| e.to_string()),
            ),
        };
        if events.send(Event::Connection(connection)).is_err() || states.changed().await.is_err() {
            return;
        }
    }
}

/// Loads (REST), each in its own task. Every summary the app learns is tracked by the
/// session, so a dropped connection resumes that conversation from there.
async fn load(
    client: Client,
    session: Arc<Session>,
    effect: Effect,
    events: mpsc::UnboundedSender<Event>,
) {
    let event = match effect {
        Effect::LoadConversations => match client.conversations(None, Some(500)).await {
            Ok(list) => {
                for summary in &list.conversations {
                    session.track(summary.conversation.id, summary.conversation.last_mod);
                }
                Event::Conversations(list.conversations)
            }
            Err(e) => failed("loading the conversations", e, None),
        },
        Effect::LoadConversation(id) => match client.conversation(id).await {
            Ok(summary) => {
                session.track(id, summary.conversation.last_mod);
                Event::Conversation(summary)
            }
            Err(e) => failed("loading a conversation", e, None),
        },
        Effect::LoadHistory {
            conversation_id,
            before,
        } => {
            let params = HistoryParams {
                before,
                after: None,
                limit: Some(HISTORY_PAGE),
            };
            match client.history(conversation_id, &params).await {
                Ok(page) => Event::History {
                    conversation_id,
                    before,
                    messages: page.messages,
                },
                Err(e) => failed("loading messages", e, None),
            }
        }
        Effect::OpenDirect { username } => match open_direct(&client, &username).await {
            Ok(summary) => {
                session.track(summary.conversation.id, summary.conversation.last_mod);
                Event::DirectOpened(summary)
            }
            Err(error) => Event::Failed {
                what: format!("opening a conversation with {username}"),
                error,
                client_msg_id: None,
            },
        },
        Effect::LoadUsers(ids) => {
            let mut users = Vec::with_capacity(ids.len());
            for id in ids {
                // A user we may not see stays a short id.
                if let Ok(user) = client.user(id).await {
                    users.push(user);
                }
            }
            Event::Users(users)
        }
        _ => return,
    };
    let _ = events.send(event);
}

/// The direct conversation with the user named `username` (created if new).
async fn open_direct(
    client: &Client,
    username: &str,
) -> Result<natter_sdk::protocol::ConversationSummaryView, String> {
    let found = client
        .search_users(username, Some(50))
        .await
        .map_err(|e| e.to_string())?;
    let user = found
        .users
        .into_iter()
        .find(|user| user.username.eq_ignore_ascii_case(username))
        .ok_or_else(|| "no such user".to_owned())?;
    client
        .create_direct(user.id)
        .await
        .map_err(|e| match e.body() {
            Some(body) if !body.message.is_empty() => body.message.clone(),
            _ => e.to_string(),
        })
}

/// Commands over the WebSocket, one after another, in order.
async fn run_commands(
    session: Arc<Session>,
    mut queue: mpsc::UnboundedReceiver<Effect>,
    events: mpsc::UnboundedSender<Event>,
) {
    while let Some(effect) = queue.recv().await {
        let event = match effect {
            Effect::Send {
                conversation_id,
                client_msg_id,
                text,
                reply_to_seq,
                mentions,
            } => {
                let request = SendMessageRequest {
                    client_msg_id: client_msg_id.clone(),
                    text,
                    reply_to_seq,
                    mentions,
                    attachments: Vec::new(),
                };
                match session.send_with(conversation_id, request).await {
                    Ok(message) => Some(Event::Message(message)),
                    Err(e) => Some(failed("sending", e, Some(client_msg_id))),
                }
            }
            Effect::Edit {
                conversation_id,
                seq,
                text,
                mentions,
            } => Some(answer(
                "editing",
                session
                    .edit_with(conversation_id, seq, EditMessageRequest { text, mentions })
                    .await,
            )),
            Effect::Delete {
                conversation_id,
                seq,
            } => Some(answer(
                "deleting",
                session.delete(conversation_id, seq).await,
            )),
            Effect::React {
                conversation_id,
                seq,
                emoji,
            } => Some(answer(
                "reacting",
                session.react(conversation_id, seq, emoji).await,
            )),
            Effect::Unreact {
                conversation_id,
                seq,
                emoji,
            } => Some(answer(
                "removing the reaction",
                session.unreact(conversation_id, seq, emoji).await,
            )),
            // Receipts and typing are best effort: a failure is not worth a word.
            Effect::Read {
                conversation_id,
                seq,
            } => {
                let _ = session.read(conversation_id, seq).await;
                None
            }
            Effect::Typing { conversation_id } => {
                let _ = session.typing(conversation_id).await;
                None
            }
            _ => None,
        };
        if let Some(event) = event
            && events.send(event).is_err()
        {
            return;
        }
    }
}

fn answer(what: &str, result: natter_sdk::Result<natter_sdk::protocol::MessageView>) -> Event {
    match result {
        Ok(message) => Event::Message(message),
        Err(e) => failed(what, e, None),
    }
}

fn failed(what: &str, error: natter_sdk::Error, client_msg_id: Option<String>) -> Event {
    let error = match error.body() {
        Some(body) if !body.message.is_empty() => body.message.clone(),
        _ => error.to_string(),
    };
    Event::Failed {
        what: what.to_owned(),
        error,
        client_msg_id,
    }
}
