//! `natter chat` end to end, as a person uses it: the real binary full screen in tmux (keys with
//! `send-keys`, the screen with `capture-pane`), against a real server, talking with a second user
//! on the SDK; its WebSocket goes through a proxy that cuts it once, and no line is lost or
//! doubled. Needs tmux (scripts/test installs it).

use std::process::{Command, Output};
use std::time::Duration;

use natter_sdk::protocol::ServerFrame;

use crate::client_cli::{Cli, two_users};
use crate::cutter::Cutter;
use crate::server::TestServer;
use crate::support::expect_event;

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(width: u16, height: u16, command: &str) -> Self {
        let tmux = Self {
            socket: format!("natter-test-{}-{}", std::process::id(), rand_suffix()),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "chat",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is installed (scripts/test installs it)")
    }

    /// Keys as tmux names them (`Enter`, `Up`, `C-c`) or literal text (`-l`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend(keys);
        assert!(self.run(&args).status.success());
    }

    fn type_text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "chat", "-l", text])
                .status
                .success()
        );
    }

    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "chat"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `ready` holds (15 s at most), and returns it.
    async fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {what}; the screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(text, |screen| screen.contains(text)).await
    }

    /// Whether the client process is still running in the pane.
    fn alive(&self) -> bool {
        let out = self.run(&["list-panes", "-t", "chat", "-F", "#{pane_dead}"]);
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How many messages on the screen show `text` (a reply's quote of it is not one).
fn count(screen: &str, text: &str) -> usize {
    screen
        .lines()
        .filter(|line| line.contains(text) && !line.contains('↳'))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_in_tmux_talks_with_an_sdk_client_and_survives_a_dropped_connection() {
    let server = TestServer::spawn();
    let [(_, alice_id, alice_name), (bob, _, bob_name)] = two_users(&server).await;
    let conversation = bob
        .create_direct(alice_id)
        .await
        .expect("direct")
        .conversation
        .id;
    bob.send_text(conversation, "before you came")
        .await
        .expect("send");
    let bob_session = bob.connect().await.expect("bob connects");

    // Alice signs in once (the saved session), through a proxy that can cut her WebSocket.
    let proxy = Cutter::start(&server.base_url).await;
    let cli = Cli::new();
    cli.login(&proxy.base_url, &alice_name);
    let command = format!(
        "env XDG_CONFIG_HOME={} TZ=UTC TERM=xterm-256color {} chat",
        cli.config.path().display(),
        env!("CARGO_BIN_EXE_natter")
    );
    let tmux = Tmux::start(100, 30, &command);
    tmux.wait_for_text("● connected").await;
    // The list is read over REST beside the connection: it may show a moment after.
    let screen = tmux.wait_for_text(&bob_name).await;
    assert!(screen.contains("⏎  open"), "the help bar:\n{screen}");

    // Open the conversation: its history, and the unread count gone.
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("before you came").await;
    tmux.wait_for_text("start of the conversation").await;
    let read = expect_event(&bob_session, Duration::from_secs(10), |event| match event {
        ServerFrame::Receipt {
            user_id, read_seq, ..
        } if *user_id == alice_id => Some(*read_seq),
        _ => None,
    })
    .await;
    assert_eq!(read, 1, "opening it marks it read");

    // Bob writes; Alice sees it. Bob types; Alice sees that too.
    bob_session
        .send(conversation, natter_sdk::new_client_msg_id(), "hello alice")
        .await
        .expect("send");
    tmux.wait_for_text(&format!("{bob_name}: hello alice"))
        .await;
    bob_session.typing(conversation).await.expect("typing");
    tmux.wait_for_text(&format!("{bob_name} is typing…")).await;

    // Alice types (Bob sees the indicator) and sends; Bob receives it.
    tmux.type_text("hello bob, from the terminal");
    expect_event(&bob_session, Duration::from_secs(10), |event| match event {
        ServerFrame::Typing { user_id, .. } if *user_id == alice_id => Some(()),
        _ => None,
    })
    .await;
    tmux.keys(&["Enter"]);
    let got = expect_event(&bob_session, Duration::from_secs(10), |event| match event {
        ServerFrame::MessageNew { message } if message.sender_id == alice_id => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(got.text, "hello bob, from the terminal");
    assert_eq!(got.conversation_id, conversation);
    tmux.wait_for_text(&format!("{alice_name}: hello bob, from the terminal"))
        .await;

    // The connection drops in the middle of the next frame to Alice: the client reconnects
    // through the proxy and resumes; every line shows once.
    proxy.cut_downstream_after(16);
    for text in ["during the drop", "right after", "and one more"] {
        bob_session
            .send(conversation, natter_sdk::new_client_msg_id(), text)
            .await
            .expect("send");
    }
    let screen = tmux.wait_for_text("and one more").await;
    assert_eq!(proxy.cuts(), 1, "the connection was cut:\n{screen}");
    tmux.wait_for_text("● connected").await;
    // Alice replies to Bob's last message over the new connection.
    tmux.keys(&["Up"]);
    tmux.keys(&["r"]);
    tmux.wait_for_text("Reply to").await;
    tmux.type_text("got them all");
    tmux.keys(&["Enter"]);
    let reply = expect_event(&bob_session, Duration::from_secs(10), |event| match event {
        ServerFrame::MessageNew { message } if message.sender_id == alice_id => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(reply.text, "got them all");
    assert_eq!(reply.reply_to_seq, Some(6), "a reply to 'and one more'");
    // Acknowledged: a tick (while it is pending it says "sending").
    let screen = tmux.wait_for_text("got them all ✓").await;
    for text in [
        "before you came",
        "hello alice",
        "hello bob, from the terminal",
        "during the drop",
        "right after",
        "and one more",
    ] {
        assert_eq!(count(&screen, text), 1, "{text:?} once:\n{screen}");
    }
    let quotes: Vec<&str> = screen.lines().filter(|l| l.contains('↳')).collect();
    assert_eq!(quotes.len(), 1, "the reply quotes once:\n{screen}");
    assert!(quotes[0].contains(": and one more"), "{}", quotes[0]);

    // Bob reads: Alice's messages get their second tick. Bob reacts: Alice sees it.
    bob_session
        .read(conversation, reply.seq)
        .await
        .expect("read");
    tmux.wait_for_text("got them all ✓✓").await;
    bob_session
        .react(conversation, reply.seq, "🎉")
        .await
        .expect("react");
    tmux.wait_for_text("🎉 1").await;

    // A new direct conversation from the list: n, a username, Enter; then a first message.
    let carol_name = crate::support::username("carol");
    let carol = server.client();
    carol
        .register(&carol_name, crate::client_cli::PASSWORD)
        .await
        .expect("carol");
    tmux.keys(&["Tab"]);
    tmux.keys(&["n"]);
    tmux.wait_for_text("New conversation with").await;
    tmux.type_text(&carol_name);
    tmux.keys(&["Enter"]);
    tmux.wait_for_text(&format!("{carol_name} · @{carol_name}"))
        .await;
    tmux.type_text("hi carol");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("hi carol ✓").await;
    let direct = carol.create_direct(alice_id).await.expect("direct");
    let history = carol
        .history(direct.conversation.id, &Default::default())
        .await
        .expect("history");
    let texts: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hi carol"]);

    // Ctrl-C quits and gives the terminal back.
    tmux.keys(&["C-c"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "natter chat did not quit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bob_session.close().await;
}
