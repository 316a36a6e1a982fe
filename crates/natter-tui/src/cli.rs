//! The client's subcommands of the `natter` binary (`chat`, `send`, `tail`, `login`, `logout`)
//! and what each does before handing over to the full screen (`runtime.rs`) or the scripts'
//! commands (`script.rs`).

use clap::{Args, Subcommand};

use crate::auth::{self, DEFAULT_SERVER, Signed};
use crate::exit::{EXIT_CODES_HELP, Exit, Failure};
use crate::saved::SessionFile;
use crate::{prompt, runtime, script};

/// The client's commands, flattened into `natter`'s own.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Chat in the terminal, full screen (signs in first when no session is saved).
    #[command(after_help = EXIT_CODES_HELP)]
    Chat(ChatArgs),
    /// Send one message: to a user (their direct conversation, created if new) or to a
    /// conversation by id. Prints the message as JSON.
    #[command(after_help = EXIT_CODES_HELP)]
    Send(SendArgs),
    /// Print a conversation's new messages as JSON lines, one per message, as they come.
    #[command(after_help = EXIT_CODES_HELP)]
    Tail(TailArgs),
    /// Sign in and save the session for the other commands (mode 0600 in the config dir).
    #[command(after_help = EXIT_CODES_HELP)]
    Login(LoginArgs),
    /// Sign out: end the saved session on the server and delete it.
    #[command(after_help = EXIT_CODES_HELP)]
    Logout,
}

#[derive(Debug, Args)]
pub struct ServerArg {
    /// The server's URL, e.g. http://127.0.0.1:8080 (default: the saved session's).
    #[arg(long, env = "NATTER_SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Leave the mouse to the terminal (text selection) instead of scrolling with the wheel.
    #[arg(long)]
    pub no_mouse: bool,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// A username (their direct conversation) or a conversation id.
    #[arg(long, value_name = "USER|CONVERSATION")]
    pub to: String,
    /// The text; read from standard input when absent or `-`.
    pub text: Option<String>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// The conversation's id.
    pub conversation: uuid::Uuid,
    /// First print the last N messages.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub history: u32,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Asked for when absent (or taken from NATTER_USERNAME).
    #[arg(long)]
    pub username: Option<String>,
}

/// Runs a client command; the exit code to end with.
pub async fn run(command: ClientCommand) -> u8 {
    let result = match command {
        ClientCommand::Chat(args) => chat(args).await,
        ClientCommand::Send(args) => script::send(args).await,
        ClientCommand::Tail(args) => script::tail(args).await,
        ClientCommand::Login(args) => login(args).await.map(|_| ()),
        ClientCommand::Logout => logout().await,
    };
    match result {
        Ok(()) => Exit::Ok.code(),
        Err(failure) => {
            eprintln!("natter: {failure}");
            failure.exit.code()
        }
    }
}

fn session_file() -> Result<SessionFile, Failure> {
    SessionFile::from_env().map_err(|e| Failure::new(Exit::Failed, e.to_string()))
}

async fn chat(args: ChatArgs) -> Result<(), Failure> {
    let file = session_file()?;
    let have_saved = file.load().ok().flatten().is_some();
    let signed = if have_saved || auth::env_credentials().is_some() {
        Signed::from_env_or_saved(args.server.server.as_deref(), &file).await?
    } else if prompt::interactive() {
        login(LoginArgs {
            server: args.server,
            username: None,
        })
        .await?
    } else {
        return Err(Failure::new(
            Exit::Auth,
            "not signed in: run `natter login` first",
        ));
    };
    runtime::chat(signed, !args.no_mouse).await
}

/// Signs in (asking for what is missing) and saves the session.
async fn login(args: LoginArgs) -> Result<Signed, Failure> {
    let file = session_file()?;
    let previous = file.load().ok().flatten();
    let interactive = prompt::interactive();
    let server = match args.server.server {
        Some(server) => server,
        None if interactive => line_or(
            "Server",
            previous
                .as_ref()
                .map_or(DEFAULT_SERVER, |p| p.server.as_str()),
        )?,
        None => previous
            .as_ref()
            .map_or(DEFAULT_SERVER.to_owned(), |p| p.server.clone()),
    };
    let server = auth::normalise_server(&server);
    let username = match args.username.or_else(|| {
        std::env::var("NATTER_USERNAME")
            .ok()
            .filter(|u| !u.is_empty())
    }) {
        Some(username) => username,
        None if interactive => prompt::line("Username", None)?,
        None => return Err(Failure::new(Exit::Usage, "--username is needed")),
    };
    let password = match std::env::var("NATTER_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        Some(password) => password,
        None if interactive => prompt::password("Password")?,
        None => return Err(Failure::new(Exit::Usage, "NATTER_PASSWORD is needed")),
    };
    let (_client, tokens) = auth::log_in(&server, &username, &password).await?;
    // A session saved before (another user, another server) ends on its server too.
    if let Some(previous) = previous
        && let Ok(old) = Signed::from_saved(None, file.clone(), previous).await
    {
        let _ = old.sign_out().await;
    }
    let saved = auth::saved_from(&server, &tokens);
    file.save(&saved)?;
    eprintln!(
        "natter: signed in as {} on {server}; session saved in {}",
        saved.username,
        file.path().display()
    );
    Signed::from_saved(None, file, saved).await
}

fn line_or(question: &str, default: &str) -> Result<String, Failure> {
    prompt::line(question, Some(default))
}

async fn logout() -> Result<(), Failure> {
    let file = session_file()?;
    let Some(saved) = file.load().ok().flatten() else {
        // A file that cannot be read is removed all the same.
        file.remove()?;
        eprintln!("natter: not signed in");
        return Ok(());
    };
    let server = saved.server.clone();
    match Signed::from_saved(None, file.clone(), saved).await {
        Ok(signed) => {
            let result = signed.sign_out().await;
            file.remove()?;
            result?;
        }
        Err(failure) => {
            // The server may be gone or the session over: forget it here anyway.
            file.remove()?;
            if failure.exit != Exit::Auth {
                eprintln!("natter: the session may still be open on {server}: {failure}");
            }
        }
    }
    eprintln!("natter: signed out");
    Ok(())
}
