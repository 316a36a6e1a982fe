//! The server the app talks to: chosen on the first-start page (`server_set`), kept as
//! `settings.json` in the app's config dir (`~/.config/chat.natter.desktop/` on Linux).

use std::{
    net::{TcpStream, ToSocketAddrs},
    path::PathBuf,
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};

use crate::AppState;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub server: Option<String>,
}

fn path(app: &AppHandle) -> Option<PathBuf> {
    app.path()
        .app_config_dir()
        .ok()
        .map(|d| d.join("settings.json"))
}

pub fn load(app: &AppHandle) -> Settings {
    path(app)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

pub fn save(app: &AppHandle, settings: &Settings) -> std::io::Result<()> {
    let path = path(app).ok_or_else(|| std::io::Error::other("no config directory"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}

/// A server address as the web app uses it: `http(s)://host[:port][/path]`, no trailing slash,
/// no query, fragment or credentials. A bare host gets `https://`.
pub fn normalize_server(input: &str) -> Result<String, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("Enter the server's address.".into());
    }
    let with_scheme = if input.contains("://") {
        input.to_owned()
    } else {
        format!("https://{input}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("Not an address: {e}."))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("The address must start with https:// (or http://).".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("The address has no host.".into());
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err("Only the server's address, without a user, query or #.".into());
    }
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    Ok(format!("{origin}{path}"))
}

/// Whether something listens at the server's host and port (a TCP connection within 3 s): a
/// mistyped address is said on the first-start page rather than by a web app that cannot
/// connect.
fn reachable(server: &str) -> Result<(), String> {
    let url = url::Url::parse(server).map_err(|e| e.to_string())?;
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| format!("Cannot find {host}."))?
        .collect();
    for addr in &addrs {
        if TcpStream::connect_timeout(addr, Duration::from_secs(3)).is_ok() {
            return Ok(());
        }
    }
    Err(format!("Nothing answers at {host}:{port}."))
}

#[tauri::command]
pub fn server_get(state: State<'_, AppState>) -> Option<String> {
    state.server()
}

/// Stores the server and restarts the app on it (its CSP and the web app's start follow).
#[tauri::command]
pub async fn server_set(app: AppHandle, server: String) -> Result<(), String> {
    let server = normalize_server(&server)?;
    let check = server.clone();
    tauri::async_runtime::spawn_blocking(move || reachable(&check))
        .await
        .map_err(|e| e.to_string())??;
    let mut settings = load(&app);
    settings.server = Some(server);
    save(&app, &settings).map_err(|e| format!("Cannot save the settings: {e}."))?;
    // The single-instance name goes first, here, off the main thread: released only on the way
    // out, it could still be held when the new process starts, which would then hand its
    // arguments to this one as it exits, and fail.
    tauri_plugin_single_instance::destroy(&app);
    app.restart()
}

#[cfg(test)]
mod tests {
    use super::normalize_server;

    #[test]
    fn addresses() {
        assert_eq!(
            normalize_server("https://chat.example.com/").unwrap(),
            "https://chat.example.com"
        );
        assert_eq!(
            normalize_server(" chat.example.com ").unwrap(),
            "https://chat.example.com"
        );
        assert_eq!(
            normalize_server("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalize_server("https://example.com/natter/").unwrap(),
            "https://example.com/natter"
        );
        assert_eq!(
            normalize_server("HTTPS://Example.COM:443").unwrap(),
            "https://example.com"
        );
        assert!(normalize_server("").is_err());
        assert!(normalize_server("ftp://example.com").is_err());
        assert!(normalize_server("javascript:alert(1)").is_err());
        assert!(normalize_server("https://u:p@example.com").is_err());
        assert!(normalize_server("https://example.com/?x=1").is_err());
    }
}
