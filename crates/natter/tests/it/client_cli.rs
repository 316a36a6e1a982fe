//! The client's commands for scripts, end to end: `natter login`, `send`, `tail` and `logout`
//! run as processes against a real server, with their exit codes.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use natter_sdk::protocol::MessageView;
use uuid::Uuid;

use crate::cutter::Cutter;
use crate::server::TestServer;
use crate::support::username;

pub const PASSWORD: &str = "correct horse battery staple";

/// A `natter` client command with a config dir of its own and no credentials from the
/// environment of the test run.
pub struct Cli {
    pub config: tempfile::TempDir,
}

impl Cli {
    pub fn new() -> Self {
        Self {
            config: tempfile::tempdir().expect("config dir"),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_natter"));
        command
            .args(args)
            .env("XDG_CONFIG_HOME", self.config.path())
            .env_remove("NATTER_USERNAME")
            .env_remove("NATTER_PASSWORD")
            .env_remove("NATTER_SERVER")
            .env_remove("NATTER_SESSION_FILE")
            .stdin(Stdio::null());
        command
    }

    /// Runs to the end (bounded: every command here talks to a local server).
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("natter");
        wait_bounded(child, Duration::from_secs(30))
    }

    pub fn session_file(&self) -> std::path::PathBuf {
        self.config.path().join("natter").join("session.toml")
    }

    /// `natter login` for `user`, the password from the environment.
    pub fn login(&self, server: &str, user: &str) {
        let out = self.run(
            &["login", "--server", server, "--username", user],
            &[("NATTER_PASSWORD", PASSWORD)],
        );
        assert_eq!(code(&out), 0, "login: {}", stderr(&out));
    }
}

fn wait_bounded(mut child: Child, within: Duration) -> Output {
    let deadline = std::time::Instant::now() + within;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("natter did not finish in {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn message_of(out: &Output) -> MessageView {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a message ({e}): {:?}", out.stdout))
}

/// Two users: `(client, id, username)` each.
pub async fn two_users(server: &TestServer) -> [(natter_sdk::Client, Uuid, String); 2] {
    let mut users = Vec::new();
    for prefix in ["alice", "bob"] {
        let name = username(prefix);
        let client = server.client();
        let tokens = client.register(&name, PASSWORD).await.expect("register");
        users.push((client, tokens.user.id, name));
    }
    users.try_into().expect("two")
}

/// Arguments, environment, the exit code expected, and why.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_opens_the_direct_conversation_and_exit_codes_say_what_failed() {
    let server = TestServer::spawn();
    let [(alice, _, alice_name), (_, bob_id, bob_name)] = two_users(&server).await;
    let cli = Cli::new();
    let url = server.base_url.as_str();
    let creds = [
        ("NATTER_USERNAME", alice_name.as_str()),
        ("NATTER_PASSWORD", PASSWORD),
    ];

    let out = cli.run(
        &["send", "--server", url, "--to", &bob_name, "hi bob"],
        &creds,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sent = message_of(&out);
    assert_eq!((sent.text.as_str(), sent.seq), ("hi bob", 1));
    let direct = alice.create_direct(bob_id).await.expect("direct");
    assert_eq!(
        direct.conversation.id, sent.conversation_id,
        "the same direct conversation"
    );
    let id = sent.conversation_id.to_string();

    // By conversation id, the text on stdin.
    let mut child = cli
        .command(&["send", "--server", url, "--to", &id])
        .envs(creds)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natter");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    let out = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(message_of(&out).text, "from stdin");

    let cases: [Case; 7] = [
        (&["send", "--to", &bob_name], &creds, 2, "no text: usage"),
        (&["send", "x"], &creds, 2, "no --to: usage"),
        (
            &["send", "--server", url, "--to", &bob_name, "x"],
            &[],
            3,
            "no credentials",
        ),
        (
            &["send", "--server", url, "--to", &bob_name, "x"],
            &[
                ("NATTER_USERNAME", &alice_name),
                ("NATTER_PASSWORD", "wrong password"),
            ],
            3,
            "wrong password",
        ),
        (
            &["send", "--server", url, "--to", "nobody-at-all", "x"],
            &creds,
            4,
            "no such user",
        ),
        (
            &[
                "send",
                "--server",
                url,
                "--to",
                &Uuid::now_v7().to_string(),
                "x",
            ],
            &creds,
            4,
            "not a member",
        ),
        (
            &[
                "send",
                "--server",
                "http://127.0.0.1:1",
                "--to",
                &bob_name,
                "x",
            ],
            &creds,
            5,
            "unreachable",
        ),
    ];
    for (args, env, expected, why) in cases {
        let out = cli.run(args, env);
        assert_eq!(code(&out), expected, "{why}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{why}: nothing on stdout");
        assert!(
            stderr(&out).starts_with("natter: ") || expected == 2,
            "{why}: {}",
            stderr(&out)
        );
    }
    let too_long = "x".repeat(4001);
    let out = cli.run(&["send", "--server", url, "--to", &id, &too_long], &creds);
    assert_eq!(code(&out), 6, "refused: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_saves_a_private_session_that_send_uses_and_logout_ends() {
    let server = TestServer::spawn();
    let [(alice, _, alice_name), (_, _, bob_name)] = two_users(&server).await;
    let cli = Cli::new();
    cli.login(&server.base_url, &alice_name);
    let file = cli.session_file();
    let mode = std::fs::metadata(&file)
        .expect("saved")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains(&alice_name), "{saved}");

    // The saved session is enough, and the server defaults to it.
    let out = cli.run(&["send", "--to", &bob_name, "saved session"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Another server than the saved one is refused rather than sent the token.
    let out = cli.run(
        &[
            "send",
            "--server",
            "http://127.0.0.1:1",
            "--to",
            &bob_name,
            "x",
        ],
        &[],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    let refresh_token = saved
        .lines()
        .find_map(|line| line.strip_prefix("refresh_token = "))
        .expect("refresh token")
        .trim_matches('"')
        .to_owned();
    let out = cli.run(&["logout"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!file.exists(), "the saved session is deleted");
    let out = cli.run(&["send", "--to", &bob_name, "x"], &[]);
    assert_eq!(code(&out), 3, "signed out: {}", stderr(&out));
    // The session ended on the server too: its refresh token is refused.
    let raw = alice
        .raw_request(
            natter_sdk::Method::POST,
            "/api/v1/auth/refresh",
            natter_sdk::RawBody::Json(serde_json::json!({ "refresh_token": refresh_token })),
            None,
        )
        .await
        .expect("refresh");
    assert_eq!(raw.status, 401);
    let out = cli.run(&["logout"], &[]);
    assert_eq!(code(&out), 0, "logging out twice is fine: {}", stderr(&out));
}

/// Reads stdout lines of a child on a thread, so a test can wait for them with a deadline.
pub struct Lines {
    receiver: std::sync::mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Lines {
    pub fn of(child: &mut Child) -> Self {
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            receiver,
            reader: Some(reader),
        }
    }

    pub fn next(&self, within: Duration) -> String {
        self.receiver
            .recv_timeout(within)
            .unwrap_or_else(|e| panic!("no line within {within:?}: {e}"))
    }

    pub fn none_within(&self, within: Duration) {
        if let Ok(line) = self.receiver.recv_timeout(within) {
            panic!("unexpected line {line}");
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn text_of(line: &str) -> String {
    serde_json::from_str::<MessageView>(line)
        .unwrap_or_else(|e| panic!("not a message line ({e}): {line}"))
        .text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_history_then_each_new_message_once_across_a_dropped_connection() {
    let server = TestServer::spawn();
    let [(alice, alice_id, alice_name), (bob, _, _)] = two_users(&server).await;
    let conversation = bob
        .create_direct(alice_id)
        .await
        .expect("direct")
        .conversation
        .id;
    for text in ["one", "two", "three"] {
        bob.send_text(conversation, text).await.expect("send");
    }
    // Alice's tail goes through a proxy that can cut its WebSocket.
    let proxy = Cutter::start(&server.base_url).await;
    let cli = Cli::new();
    let mut child = cli
        .command(&[
            "tail",
            &conversation.to_string(),
            "--history",
            "2",
            "--server",
            &proxy.base_url,
        ])
        .envs([
            ("NATTER_USERNAME", alice_name.as_str()),
            ("NATTER_PASSWORD", PASSWORD),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("natter tail");
    let lines = Lines::of(&mut child);
    let within = Duration::from_secs(15);
    assert_eq!(text_of(&lines.next(within)), "two");
    assert_eq!(text_of(&lines.next(within)), "three");

    // The tail connected before it printed the history.
    let bob_session = bob.connect().await.expect("bob connects");
    bob_session
        .send(conversation, natter_sdk::new_client_msg_id(), "four")
        .await
        .expect("four");
    assert_eq!(text_of(&lines.next(within)), "four");

    // Cut the next frame to the tail in its middle: the message must come by the resume, once.
    proxy.cut_downstream_after(12);
    bob_session
        .send(conversation, natter_sdk::new_client_msg_id(), "five")
        .await
        .expect("five");
    assert_eq!(text_of(&lines.next(within)), "five");
    assert_eq!(proxy.cuts(), 1, "the connection was cut");
    bob_session
        .send(conversation, natter_sdk::new_client_msg_id(), "six")
        .await
        .expect("six");
    assert_eq!(text_of(&lines.next(within)), "six");
    // Alice's own messages from elsewhere are printed too.
    alice.send_text(conversation, "seven").await.expect("seven");
    assert_eq!(text_of(&lines.next(within)), "seven");
    lines.none_within(Duration::from_millis(500));

    // SIGTERM ends it quietly, with 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait_bounded(child, Duration::from_secs(10));
    assert_eq!(code(&out), 0);
    drop(lines);
    bob_session.close().await;

    // Not a member: 4.
    let out = cli.run(
        &[
            "tail",
            &Uuid::now_v7().to_string(),
            "--server",
            &server.base_url,
        ],
        &[
            ("NATTER_USERNAME", &alice_name),
            ("NATTER_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}
