//! The tray icon: its menu (show/hide, change server, start at login, quit) and the unread count
//! as its tooltip and, where the tray shows one (Linux), its label.

use std::sync::atomic::{AtomicBool, Ordering};

use tauri::{
    AppHandle, Manager,
    menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem},
    tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent},
};
use tauri_plugin_autostart::ManagerExt;

const TRAY: &str = "natter";
static QUITTING: AtomicBool = AtomicBool::new(false);

/// Whether Quit was chosen (the window's close then closes instead of hiding).
pub fn quitting(_app: &AppHandle) -> bool {
    QUITTING.load(Ordering::Relaxed)
}

fn toggle(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(crate::MAIN) {
        if window.is_visible().unwrap_or(false) && !window.is_minimized().unwrap_or(false) {
            let _ = window.hide();
        } else {
            crate::reveal(app);
        }
    }
}

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "toggle", "Show/Hide natter", true, None::<&str>)?;
    let server = MenuItem::with_id(app, "server", "Change server…", true, None::<&str>)?;
    let at_login = app.autolaunch().is_enabled().unwrap_or(false);
    let autostart = CheckMenuItem::with_id(
        app,
        "autostart",
        "Start at login",
        true,
        at_login,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", "Quit natter", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &show,
            &server,
            &autostart,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let autostart_item = autostart.clone();
    TrayIconBuilder::with_id(TRAY)
        .icon(
            app.default_window_icon()
                .cloned()
                .expect("the bundle's icon"),
        )
        .tooltip("natter")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "toggle" => toggle(app),
            "server" => {
                crate::reveal(app);
                // The first-start page, with the current server filled in; a new one restarts.
                if let Some(window) = app.get_webview_window(crate::MAIN) {
                    let _ = window.eval("location.assign('/setup.html')");
                }
            }
            "autostart" => {
                let launcher = app.autolaunch();
                let enable = !launcher.is_enabled().unwrap_or(false);
                let result = if enable {
                    launcher.enable()
                } else {
                    launcher.disable()
                };
                let now = launcher.is_enabled().unwrap_or(false);
                let _ = autostart_item.set_checked(now);
                if let Err(err) = result {
                    eprintln!("natter: start at login: {err}");
                }
            }
            "quit" => {
                QUITTING.store(true, Ordering::Relaxed);
                app.exit(0);
            }
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                toggle(tray.app_handle());
            }
        })
        .build(app)?;
    Ok(())
}

/// The unread count on the tray icon: its tooltip, and its label on Linux.
pub fn show_unread(app: &AppHandle, count: Option<String>) {
    let Some(tray) = app.tray_by_id(TRAY) else {
        return;
    };
    let tooltip = match &count {
        Some(n) => format!("natter: {n} unread"),
        None => "natter".to_owned(),
    };
    let _ = tray.set_tooltip(Some(&tooltip));
    #[cfg(target_os = "linux")]
    let _ = tray.set_title(count.as_deref());
}
