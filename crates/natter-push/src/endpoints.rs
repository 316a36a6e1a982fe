//! Which Web Push endpoints natter sends to. A subscription's endpoint is a URL the browser's
//! push service chose, and any user can register one: without a list, a user could make the
//! notifier POST to any `https` host they name (an internal service, a victim's server). So an
//! endpoint must be on `push.web_push.allowed_hosts`: a host there, or a subdomain of it. The
//! default names the push services of the browsers people use.

/// Chrome and other Chromium browsers (FCM), Firefox (Mozilla autopush), Edge (WNS: hosts like
/// `wns2-by3p.notify.windows.com`), Safari (`web.push.apple.com`).
pub const KNOWN_PUSH_SERVICES: [&str; 4] = [
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "notify.windows.com",
    "push.apple.com",
];

/// Hosts (and their subdomains) Web Push endpoints may be on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub fn new(hosts: &[String]) -> Self {
        Self(
            hosts
                .iter()
                .map(|host| host.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
        )
    }

    /// Why `endpoint` is refused, or `None` when it is an `https` URL on an allowed host.
    pub fn refusal(&self, endpoint: &str) -> Option<String> {
        let Ok(url) = reqwest::Url::parse(endpoint) else {
            return Some("the endpoint is not a URL".into());
        };
        if url.scheme() != "https" {
            return Some("the endpoint is not an https URL".into());
        }
        let Some(host) = url.host_str() else {
            return Some("the endpoint has no host".into());
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let allowed = self.0.iter().any(|entry| {
            host == *entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
        });
        (!allowed).then(|| format!("{host} is not a known push service"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> AllowedHosts {
        let hosts: Vec<String> = KNOWN_PUSH_SERVICES.iter().map(|h| h.to_string()).collect();
        AllowedHosts::new(&hosts)
    }

    #[test]
    fn the_browsers_push_services_are_admitted() {
        for endpoint in [
            "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
            "https://wns2-by3p.notify.windows.com/w/?token=BQYAAA",
            "https://web.push.apple.com/QGuQyavXutnMH",
            "https://FCM.googleapis.com./fcm/send/x",
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
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "http://fcm.googleapis.com/fcm/send/x",
            "https:///x",
            "not a url",
        ] {
            assert!(known().refusal(endpoint).is_some(), "{endpoint}");
        }
        let lab = AllowedHosts::new(&["127.0.0.1".to_owned()]);
        assert_eq!(lab.refusal("https://127.0.0.1:4443/push/abc"), None);
    }
}
