// No console window next to the app's on Windows (release builds).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    natter_desktop_lib::run()
}
