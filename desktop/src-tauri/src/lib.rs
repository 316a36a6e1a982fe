//! natter's desktop app: the web app's build (web/dist, assembled into desktop/dist with the
//! first-start page by scripts/frontend.mjs) in a Tauri 2 window, and what a desktop adds to it:
//!
//! - the server: chosen on the first-start page (`setup.html`), kept in `settings.json` in the
//!   app's config dir, handed to the web app by an initialization script
//!   (`window.__NATTER_DESKTOP__ = { server }`, which the web app's `desktop.ts` reads) and added
//!   to the CSP's `connect-src`, `img-src` and `media-src` (`csp.rs`); "Change server…" in the
//!   tray menu goes back to that page, and a new server restarts the app;
//! - the session's tokens in the OS keyring (`tokens.rs`), never in the webview's storage;
//! - native notifications (`notify.rs`): a click shows the window and opens the conversation;
//! - the unread count: the web app puts it in `document.title` ("(3) natter"), which becomes the
//!   window's title and the tray icon's tooltip and label;
//! - a tray icon (`tray.rs`): show/hide, change server, start at login (opt-in), quit; closing
//!   the window hides it (notifications go on), and quitting is the tray's;
//! - one instance: a second launch focuses the first (and hands it its `natter://` link);
//! - `natter://c/<conversation id>` links open that conversation;
//! - the window's size and position are kept across runs.
//!
//! The capability (capabilities/main.json) grants the window this crate's six commands and
//! nothing else of Tauri's or the plugins' APIs but the notification shim's permission check.

mod csp;
mod notify;
mod settings;
mod tokens;
mod tray;

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tauri::{
    AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindow, WebviewWindowBuilder, WindowEvent,
};
use tauri_plugin_deep_link::DeepLinkExt;
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

pub use settings::normalize_server;

/// The one window's label (the capability names it).
pub const MAIN: &str = "main";
const TITLE: &str = "natter";
/// What is kept of the window: all but "hidden", which it is whenever it sits in the tray.
const WINDOW_STATE: StateFlags = StateFlags::all().difference(StateFlags::VISIBLE);

/// What the app runs on: the server (None until chosen), shared with the commands and the CSP.
pub struct AppState {
    pub server: Mutex<Option<String>>,
}

impl AppState {
    pub fn server(&self) -> Option<String> {
        self.server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Command-line options: `--server URL` (chosen and stored, as on the first-start page),
/// `--minimized` (start in the tray: what "start at login" launches), and a `natter://` link.
struct Args {
    server: Option<String>,
    minimized: bool,
}

fn parse_args(argv: &[String]) -> Args {
    let mut args = Args {
        server: None,
        minimized: false,
    };
    let mut it = argv.iter().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--server" => args.server = it.next().cloned(),
            "--minimized" => args.minimized = true,
            _ => {
                if let Some(server) = arg.strip_prefix("--server=") {
                    args.server = Some(server.to_owned());
                }
            }
        }
    }
    args
}

/// The conversation a `natter://c/<id>` link names (a UUID's characters only).
pub fn conversation_of_link(link: &str) -> Option<String> {
    let url = url::Url::parse(link).ok()?;
    if url.scheme() != "natter" || url.host_str() != Some("c") {
        return None;
    }
    let id = url.path().trim_matches('/');
    let valid =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    valid.then(|| id.to_ascii_lowercase())
}

/// Shows, unminimises and focuses the window.
pub fn reveal(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Opens a conversation in the web app (its `natter:open` listener navigates there) and shows
/// the window.
pub fn open_conversation(app: &AppHandle, id: &str) {
    reveal(app);
    if let Some(window) = app.get_webview_window(MAIN) {
        // `id` is checked (hex digits and dashes), and JSON-quoted anyway.
        let quoted = serde_json::to_string(id).unwrap_or_default();
        let _ = window.eval(format!(
            "window.dispatchEvent(new CustomEvent('natter:open', {{ detail: {quoted} }}))"
        ));
    }
}

/// The main window: the web app on the chosen server (at `path`, e.g. `c/<id>` for a link the
/// app was started with), or the first-start page when no server is chosen yet.
fn build_main_window(
    app: &AppHandle,
    server: Option<&str>,
    path: Option<String>,
    visible: bool,
) -> tauri::Result<WebviewWindow> {
    let url = match server {
        None => WebviewUrl::App("setup.html".into()),
        Some(_) => WebviewUrl::App(path.unwrap_or_else(|| "index.html".into()).into()),
    };
    let init = format!(
        "Object.defineProperty(window, '__NATTER_DESKTOP__', {{ value: Object.freeze({{ server: {} }}) }});",
        serde_json::to_string(&server).expect("a string serialises")
    );
    let for_csp = app.clone();
    let for_title = app.clone();
    WebviewWindowBuilder::new(app, MAIN, url)
        .title(TITLE)
        .inner_size(1100.0, 760.0)
        .min_inner_size(360.0, 480.0)
        .visible(visible)
        .initialization_script(&init)
        .on_web_resource_request(move |_request, response| {
            let server = for_csp.state::<AppState>().server();
            csp::allow_server(response, server.as_deref());
        })
        .on_document_title_changed(move |window, title| {
            // The web app's title carries the unread count: "(3) natter".
            let _ = window.set_title(&title);
            tray::show_unread(&for_title, unread_in_title(&title));
        })
        .build()
}

/// The unread count in the web app's title, "(12) natter" or "(99+) natter"; 0 without one.
pub fn unread_in_title(title: &str) -> Option<String> {
    let rest = title.strip_prefix('(')?;
    let count = &rest[..rest.find(')')?];
    (!count.is_empty()
        && count
            .trim_end_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit()))
    .then(|| count.to_owned())
}

/// Writes the window's size and position a second after it last moved, was resized or hidden:
/// the plugin writes them only at a clean exit, and a session's end may just kill the app.
fn save_window_state_soon(app: &AppHandle) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let mine = LAST.fetch_add(1, Ordering::Relaxed) + 1;
    let app = app.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        if LAST.load(Ordering::Relaxed) == mine {
            let _ = app.save_window_state(WINDOW_STATE);
        }
    });
}

pub fn run() {
    let context = tauri::generate_context!();
    let argv: Vec<String> = std::env::args().collect();
    let args = parse_args(&argv);

    let app = tauri::Builder::default()
        // First: a second launch ends here and hands its arguments (a natter:// link: the
        // deep-link plugin reads them) to this one, which comes to the front.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            reveal(app)
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--minimized"]),
        ))
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(WINDOW_STATE)
                .build(),
        )
        .manage(AppState {
            server: Mutex::new(None),
        })
        .manage(notify::Shown::default())
        .invoke_handler(tauri::generate_handler![
            settings::server_get,
            settings::server_set,
            tokens::session_get,
            tokens::session_set,
            tokens::session_delete,
            notify::notify,
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            let mut stored = settings::load(&handle);
            if let Some(server) = &args.server {
                match normalize_server(server) {
                    Ok(server) => {
                        stored.server = Some(server);
                        if let Err(err) = settings::save(&handle, &stored) {
                            eprintln!("natter: settings not saved: {err}");
                        }
                    }
                    Err(err) => eprintln!("natter: --server {server}: {err}"),
                }
            }
            *app.state::<AppState>().server.lock().unwrap() = stored.server.clone();

            // A link the app was started with opens its conversation once the app is loaded.
            let start_path = app
                .deep_link()
                .get_current()
                .ok()
                .flatten()
                .and_then(|urls| urls.iter().find_map(|u| conversation_of_link(u.as_str())))
                .map(|id| format!("c/{id}"));
            let for_links = handle.clone();
            app.deep_link().on_open_url(move |event| {
                if let Some(id) = event
                    .urls()
                    .iter()
                    .find_map(|u| conversation_of_link(u.as_str()))
                {
                    open_conversation(&for_links, &id);
                }
            });
            // An unpackaged build (a developer's, the tests') registers natter:// itself; the
            // .deb's desktop entry declares it.
            #[cfg(target_os = "linux")]
            if std::env::var_os("NATTER_DESKTOP_REGISTER_LINKS").is_some() {
                let _ = app.deep_link().register_all();
            }

            notify::listen(&handle);
            tray::create(&handle)?;
            build_main_window(
                &handle,
                stored.server.as_deref(),
                start_path,
                !args.minimized,
            )?;
            Ok(())
        })
        .on_window_event(|window, event| {
            if window.label() != MAIN {
                return;
            }
            match event {
                // Closing hides to the tray: notifications go on. Quit is in the tray's menu.
                WindowEvent::CloseRequested { api, .. } if !tray::quitting(window.app_handle()) => {
                    api.prevent_close();
                    let _ = window.hide();
                    save_window_state_soon(window.app_handle());
                }
                WindowEvent::Moved(_) | WindowEvent::Resized(_) => {
                    save_window_state_soon(window.app_handle())
                }
                _ => {}
            }
        })
        .build(context)
        .expect("natter: the app could not start");

    app.run(|_app, _event: RunEvent| {});
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_a_conversation() {
        let id = "0195f0a4-7c1e-7a2b-9c3d-1234567890ab";
        assert_eq!(
            conversation_of_link(&format!("natter://c/{id}")).as_deref(),
            Some(id)
        );
        assert_eq!(
            conversation_of_link(&format!("natter://c/{id}/")).as_deref(),
            Some(id)
        );
        assert_eq!(conversation_of_link(&format!("natter://x/{id}")), None);
        assert_eq!(conversation_of_link(&format!("https://c/{id}")), None);
        assert_eq!(conversation_of_link("natter://c/');alert(1)//"), None);
        assert_eq!(conversation_of_link("natter://c/"), None);
    }

    #[test]
    fn the_title_carries_the_unread_count() {
        assert_eq!(unread_in_title("(3) natter").as_deref(), Some("3"));
        assert_eq!(unread_in_title("(99+) natter").as_deref(), Some("99+"));
        assert_eq!(unread_in_title("natter"), None);
        assert_eq!(unread_in_title("(x) natter"), None);
    }

    #[test]
    fn arguments() {
        let argv: Vec<String> = ["natter-desktop", "--server", "http://a:1", "--minimized"]
            .map(String::from)
            .to_vec();
        let args = parse_args(&argv);
        assert_eq!(args.server.as_deref(), Some("http://a:1"));
        assert!(args.minimized);
        let argv: Vec<String> = ["natter-desktop", "--server=http://b"]
            .map(String::from)
            .to_vec();
        assert_eq!(parse_args(&argv).server.as_deref(), Some("http://b"));
    }
}
