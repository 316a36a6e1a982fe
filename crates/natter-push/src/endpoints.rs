//! Which Web Push endpoints natter sends to. A subscription's endpoint is a URL the browser's
//! push service chose, and any user can register one: without a list, a user could make the
//! notifier POST to any `https` host they name (an internal service, a victim's server). So an
//! endpoint must be on `push.web_push.allowed_hosts`: a host there, or a subdomain of it. The
//! default names the push services of the browsers people use.
//!
//! The rule is one regular expression, [`AllowedHosts::pattern`], which the server matches and
//! the OpenAPI document states as the endpoint's `pattern`, so the two cannot disagree: an `https`
//! URL whose host is an allowed one (any letter case, a trailing dot allowed) under any number of
//! labels of letters, digits and hyphens, with at most a 5-digit port, then a path, query or
//! fragment, or nothing.

/// Chrome and other Chromium browsers (FCM), Firefox (Mozilla autopush), Edge (WNS: hosts like
/// `wns2-by3p.notify.windows.com`), Safari (`web.push.apple.com`).
pub const KNOWN_PUSH_SERVICES: [&str; 4] = [
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "notify.windows.com",
    "push.apple.com",
];

/// Hosts (and their subdomains) Web Push endpoints may be on.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    hosts: Vec<String>,
    pattern: String,
    regex: regex_lite::Regex,
}

impl AllowedHosts {
    /// `None` when no host is named (no endpoint could be registered).
    pub fn new(hosts: &[String]) -> Option<Self> {
        let hosts: Vec<String> = hosts
            .iter()
            .map(|host| host.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect();
        if hosts.is_empty() {
            return None;
        }
        let alternatives: Vec<String> = hosts.iter().map(|host| host_pattern(host)).collect();
        let pattern = format!(
            "^https://([A-Za-z0-9-]+\\.)*({})\\.?(:[0-9]{{1,5}})?([/?#][!-~]*)?$",
            alternatives.join("|")
        );
        let regex = regex_lite::Regex::new(&pattern).expect("escaped hosts make a valid pattern");
        Some(Self {
            hosts,
            pattern,
            regex,
        })
    }

    /// The regular expression an admitted endpoint matches (ECMAScript and Rust alike).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Why `endpoint` is refused, or `None` when it matches [`Self::pattern`].
    pub fn refusal(&self, endpoint: &str) -> Option<String> {
        (!self.regex.is_match(endpoint)).then(|| {
            format!(
                "not an https URL on a known push service ({})",
                self.hosts.join(", ")
            )
        })
    }
}

/// `host` matched in any letter case, its other characters escaped.
fn host_pattern(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> AllowedHosts {
        let hosts: Vec<String> = KNOWN_PUSH_SERVICES.iter().map(|h| h.to_string()).collect();
        AllowedHosts::new(&hosts).expect("hosts")
    }

    #[test]
    fn the_browsers_push_services_are_admitted() {
        for endpoint in [
            "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
            "https://wns2-by3p.notify.windows.com/w/?token=BQYAAA",
            "https://web.push.apple.com/QGuQyavXutnMH",
            "https://FCM.googleapis.com./fcm/send/x",
            "https://fcm.googleapis.com:443",
        ] {
            assert_eq!(known().refusal(endpoint), None, "{endpoint}");
        }
    }

    #[test]
    fn other_hosts_and_look_alikes_are_refused() {
        for endpoint in [
            "https://push.example.net/x",
            "https://evilfcm.googleapis.com.example/x",
            "https://notfcm.googleapis.com/x",
            "https://fcmXgoogleapis.com/x",
            "https://user@fcm.googleapis.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "http://fcm.googleapis.com/fcm/send/x",
            "https:///x",
            "https://fcm.googleapis.com/x y",
            "not a url",
        ] {
            assert!(known().refusal(endpoint).is_some(), "{endpoint}");
        }
        let lab = AllowedHosts::new(&["127.0.0.1".to_owned()]).expect("hosts");
        assert_eq!(lab.refusal("https://127.0.0.1:4443/push/abc"), None);
        assert!(AllowedHosts::new(&[" ".to_owned()]).is_none());
    }
}
