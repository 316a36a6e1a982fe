//! Native notifications (tauri-plugin-notification, which on Linux speaks the Desktop
//! Notifications protocol over the session bus): the web app asks for one when a message arrives
//! while the window is not focused (web/src/store.ts), and a click on it shows the window and
//! opens the conversation, where the notification server reports clicks.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicI32, Ordering},
    },
};

use tauri::{AppHandle, Manager, State};
use tauri_plugin_notification::NotificationExt;

/// The conversation of each notification shown, by its id (the last 100).
#[derive(Default)]
pub struct Shown {
    next: AtomicI32,
    conversations: Mutex<HashMap<i32, String>>,
}

/// Calls the conversation's opening on a click ("tap") on one of ours.
pub fn listen(app: &AppHandle) {
    let handle = app.clone();
    let _ = app.notification().on_action(move |performed| {
        if performed.action_id() != "tap" {
            return;
        }
        let Some(id) = performed.notification().map(|n| n.id()) else {
            crate::reveal(&handle);
            return;
        };
        let conversation = handle
            .state::<Shown>()
            .conversations
            .lock()
            .unwrap()
            .get(&id)
            .cloned();
        let handle2 = handle.clone();
        // Window calls belong on the main thread.
        let _ = handle.run_on_main_thread(move || match conversation {
            Some(c) => crate::open_conversation(&handle2, &c),
            None => crate::reveal(&handle2),
        });
    });
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[tauri::command]
pub fn notify(
    app: AppHandle,
    shown: State<'_, Shown>,
    conversation_id: String,
    title: String,
    body: String,
) -> Result<(), String> {
    if !conversation_id
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == '-')
        || conversation_id.len() > 64
    {
        return Err("bad conversation id".into());
    }
    let id = shown.next.fetch_add(1, Ordering::Relaxed) + 1;
    {
        let mut conversations = shown.conversations.lock().unwrap();
        conversations.retain(|k, _| *k > id - 100);
        conversations.insert(id, conversation_id);
    }
    app.notification()
        .builder()
        .id(id)
        .title(clip(&title, 120))
        .body(clip(&body, 300))
        .show()
        .map_err(|e| e.to_string())
}
