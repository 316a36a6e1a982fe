//! The CSP of tauri.conf.json, with the chosen server added where the web app needs it: its REST
//! API and WebSocket (`connect-src`), and the files and thumbnails it serves (`img-src`,
//! `media-src`). Nothing else is added: no other host, no inline script.

use tauri::http::{HeaderValue, Response, header::CONTENT_SECURITY_POLICY};

/// The sources the server adds to each directive: `https://host:port` and `wss://host:port`.
fn server_sources(server: &str) -> Option<(String, String)> {
    let url = url::Url::parse(server).ok()?;
    let origin = url.origin().ascii_serialization();
    let ws = match url.scheme() {
        "https" => origin.replacen("https://", "wss://", 1),
        "http" => origin.replacen("http://", "ws://", 1),
        _ => return None,
    };
    Some((origin, ws))
}

/// `policy` with the server's origin added to `connect-src` (and its WebSocket origin),
/// `img-src` and `media-src`.
pub fn with_server(policy: &str, server: &str) -> String {
    let Some((origin, ws)) = server_sources(server) else {
        return policy.to_owned();
    };
    policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|directive| {
            let name = directive.split_whitespace().next().unwrap_or_default();
            match name {
                "connect-src" => format!("{directive} {origin} {ws}"),
                "img-src" | "media-src" => format!("{directive} {origin}"),
                _ => directive.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Rewrites a page's CSP header (Tauri sets it on HTML pages) for the current server.
pub fn allow_server(
    response: &mut Response<std::borrow::Cow<'static, [u8]>>,
    server: Option<&str>,
) {
    let Some(server) = server else { return };
    let Some(policy) = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&with_server(policy, server)) {
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::with_server;

    #[test]
    fn the_server_is_added_where_the_app_needs_it() {
        let policy = "default-src 'self'; connect-src 'self' ipc: http://ipc.localhost; img-src 'self' data:; media-src 'self'; script-src 'self'";
        assert_eq!(
            with_server(policy, "https://chat.example.com"),
            "default-src 'self'; connect-src 'self' ipc: http://ipc.localhost https://chat.example.com wss://chat.example.com; \
             img-src 'self' data: https://chat.example.com; media-src 'self' https://chat.example.com; script-src 'self'"
        );
        assert!(
            with_server(policy, "http://127.0.0.1:8080/natter")
                .contains("http://127.0.0.1:8080 ws://127.0.0.1:8080;")
        );
        assert_eq!(with_server(policy, "not a url"), policy);
    }
}
