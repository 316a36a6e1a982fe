//! The session's tokens in the OS keyring (the Secret Service on Linux, the Keychain on macOS,
//! the Credential Manager on Windows), one entry per server: the web app's token store
//! (web/src/desktop.ts) reads them once at start and writes each rotation, so nothing of the
//! session is kept in the webview's storage.

use tauri::State;

use crate::AppState;

const SERVICE: &str = "chat.natter.desktop";

fn entry(state: &State<'_, AppState>) -> Result<keyring::Entry, String> {
    let server = state.server().ok_or("no server chosen")?;
    keyring::Entry::new(SERVICE, &server).map_err(|e| format!("keyring: {e}"))
}

/// The keyring's calls block (D-Bus round trips): off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

/// The saved session (the web app's `AuthTokens` as JSON), or null.
#[tauri::command]
pub async fn session_get(state: State<'_, AppState>) -> Result<Option<String>, String> {
    let entry = entry(&state)?;
    blocking(move || match entry.get_password() {
        Ok(secret) => Ok(Some(secret)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(format!("keyring: {e}")),
    })
    .await
}

#[tauri::command]
pub async fn session_set(state: State<'_, AppState>, value: String) -> Result<(), String> {
    if value.len() > 64 * 1024 {
        return Err("session too large".into());
    }
    let entry = entry(&state)?;
    blocking(move || {
        entry
            .set_password(&value)
            .map_err(|e| format!("keyring: {e}"))
    })
    .await
}

#[tauri::command]
pub async fn session_delete(state: State<'_, AppState>) -> Result<(), String> {
    let entry = entry(&state)?;
    blocking(move || match entry.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(format!("keyring: {e}")),
    })
    .await
}
