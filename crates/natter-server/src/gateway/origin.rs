//! Which browser pages may open a WebSocket. Tokens travel in the `hello` frame, not in cookies,
//! so a foreign page cannot ride on a user's session anyway; checking `Origin` is defence in
//! depth (against a token leaked into another origin's script, and against cross-site socket
//! exhaustion). Allowed: no `Origin` at all (SDKs, bots: browsers always send one), the server's
//! own origin (its host as the request's `Host` names it; the port too when `Host` has one, as
//! NGINX's `$host` drops it), and every origin in `server.allowed_origins` (`"*"`: any).

/// Whether a WebSocket upgrade with these headers may proceed.
pub fn allowed(origin: Option<&str>, host: Option<&str>, allowlist: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    if listed(origin, allowlist) {
        return true;
    }
    let Some(origin_authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false; // "null" (sandboxed frames, files) or another scheme
    };
    let Some(host) = host else {
        return false;
    };
    if has_port(host) {
        origin_authority.eq_ignore_ascii_case(host)
    } else {
        strip_port(origin_authority).eq_ignore_ascii_case(host)
    }
}

/// Whether `origin` is in `server.allowed_origins` (or that holds `"*"`). Also what CORS allows
/// (`crate::cors`).
pub fn listed(origin: &str, allowlist: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    allowlist
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// `example.com:8080` and `[::1]:8080` have a port; `example.com`, `[::1]` do not.
fn has_port(authority: &str) -> bool {
    strip_port(authority).len() != authority.len()
}

fn strip_port(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(colon)
            if !authority[colon..].contains(']')
                && authority[colon + 1..].chars().all(|c| c.is_ascii_digit()) =>
        {
            &authority[..colon]
        }
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn no_origin_and_same_origin_are_allowed() {
        assert!(allowed(None, Some("chat.example.com"), &[]));
        assert!(allowed(
            Some("https://chat.example.com"),
            Some("chat.example.com"),
            &[]
        ));
        assert!(allowed(
            Some("http://127.0.0.1:8080"),
            Some("127.0.0.1:8080"),
            &[]
        ));
        // Behind NGINX, `Host` lost the port: the host name decides.
        assert!(allowed(
            Some("https://chat.example.com:8443"),
            Some("chat.example.com"),
            &[]
        ));
        assert!(allowed(Some("http://[::1]:8080"), Some("[::1]:8080"), &[]));
    }

    #[test]
    fn other_origins_need_the_allowlist() {
        let none: &[String] = &[];
        assert!(!allowed(
            Some("https://evil.example"),
            Some("chat.example.com"),
            none
        ));
        assert!(!allowed(
            Some("http://127.0.0.1:9999"),
            Some("127.0.0.1:8080"),
            none
        ));
        assert!(!allowed(Some("null"), Some("chat.example.com"), none));
        assert!(!allowed(
            Some("https://chat.example.com.evil.example"),
            Some("chat.example.com"),
            none
        ));
        assert!(!allowed(Some("https://chat.example.com"), None, none));
        let list = vec!["https://app.example.com/".to_owned()];
        assert!(allowed(
            Some("https://app.example.com"),
            Some("api.example.com"),
            &list
        ));
        assert!(!allowed(
            Some("http://app.example.com"),
            Some("api.example.com"),
            &list
        ));
        assert!(allowed(
            Some("https://anything.example"),
            Some("x"),
            &["*".to_owned()]
        ));
    }

    #[test]
    fn the_desktop_app_is_an_origin_like_any_other() {
        let list = vec![
            "tauri://localhost".to_owned(),
            "http://tauri.localhost".to_owned(),
        ];
        assert!(allowed(
            Some("tauri://localhost"),
            Some("chat.example.com"),
            &list
        ));
        assert!(allowed(
            Some("http://tauri.localhost"),
            Some("chat.example.com"),
            &list
        ));
        assert!(!allowed(
            Some("tauri://localhost"),
            Some("chat.example.com"),
            &[]
        ));
        assert!(super::listed("tauri://localhost", &list));
        assert!(!super::listed("tauri://evil", &list));
    }
}
