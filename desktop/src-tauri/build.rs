// The app's own commands are declared here, so each needs a permission the capability grants
// (capabilities/main.json): nothing is allowed by default.
fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "server_get",
            "server_set",
            "session_get",
            "session_set",
            "session_delete",
            "notify",
        ]),
    ))
    .expect("tauri build script");
}
