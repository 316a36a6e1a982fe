//! Fitting an alert into a provider's payload limit: the body is cut (then, if it must, the
//! title), at a character boundary with an ellipsis, and the payload rendered again. The JSON
//! itself is never cut, so what arrives always parses.

/// The largest rendering of `title` and `body` at most `limit` bytes long, the body cut first;
/// `None` when even an empty title and body do not fit.
pub(crate) fn fit(
    title: &str,
    body: &str,
    limit: usize,
    render: impl Fn(&str, &str) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let whole = render(title, body);
    if whole.len() <= limit {
        return Some(whole);
    }
    if let Some(rendered) = longest(body, |cut| render(title, cut), limit) {
        return Some(rendered);
    }
    longest(title, |cut| render(cut, ""), limit)
}

/// Binary search over how many characters of `text` to keep (at most log2(len) renderings).
fn longest(text: &str, render: impl Fn(&str) -> Vec<u8>, limit: usize) -> Option<Vec<u8>> {
    let chars: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
    let cut = |keep: usize| -> String {
        if keep >= chars.len() {
            text.to_owned()
        } else if keep == 0 {
            String::new()
        } else {
            format!("{}…", &text[..chars[keep]])
        }
    };
    let mut best = None;
    let (mut low, mut high) = (0usize, chars.len().saturating_sub(1));
    loop {
        if low > high {
            return best;
        }
        let middle = low + (high - low) / 2;
        let rendered = render(&cut(middle));
        if rendered.len() <= limit {
            best = Some(rendered);
            low = middle + 1;
        } else if middle == 0 {
            return best;
        } else {
            high = middle - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(title: &str, body: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "t": title, "b": body })).unwrap()
    }

    #[test]
    fn small_payloads_are_untouched() {
        assert_eq!(fit("hi", "there", 100, render), Some(render("hi", "there")));
    }

    #[test]
    fn the_body_is_cut_at_a_character_with_an_ellipsis_and_fills_the_limit() {
        let body = "é\"".repeat(500);
        let out = fit("title", &body, 300, render).unwrap();
        assert!(out.len() <= 300 && out.len() > 290, "{}", out.len());
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let cut = value["b"].as_str().unwrap();
        assert!(cut.ends_with('…') && body.starts_with(cut.trim_end_matches('…')));
        assert_eq!(value["t"], "title");
    }

    #[test]
    fn the_title_is_cut_when_the_body_alone_is_not_enough() {
        let title = "x".repeat(400);
        let out = fit(&title, "body", 100, render).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["b"], "");
        assert!(out.len() <= 100);
        assert_eq!(fit("t", "b", 5, render), None);
    }
}
