//! The HTTP details of a download: which byte range was asked for (RFC 9110 `Range`, one range;
//! several are answered with the whole file, which the RFC allows), and a `Content-Disposition`
//! that carries any file name safely (RFC 6266: an ASCII fallback and the UTF-8 name
//! percent-encoded).

use std::ops::Range;

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranged {
    /// No usable range (absent, malformed, several ranges, not bytes): the whole file, 200.
    Whole,
    /// One satisfiable range, 206.
    Part(Range<u64>),
    /// A well-formed range outside the file, 416.
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(size.saturating_sub(n)..size),
        },
        (start, "") => match number(start) {
            None => Ranged::Whole,
            Some(start) if start >= size => Ranged::Unsatisfiable,
            Some(start) => Ranged::Part(start..size),
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    Ranged::Unsatisfiable
                } else {
                    Ranged::Part(start..end.saturating_add(1).min(size))
                }
            }
            _ => Ranged::Whole,
        },
    }
}

/// `inline` or `attachment`, with the file name.
pub fn content_disposition(inline: bool, name: &str) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |h: &str| parse_range(Some(h), 100);
        assert_eq!(parse_range(None, 100), Ranged::Whole);
        assert_eq!(r("bytes=0-9"), Ranged::Part(0..10));
        assert_eq!(r("bytes=90-"), Ranged::Part(90..100));
        assert_eq!(r("bytes=-10"), Ranged::Part(90..100));
        assert_eq!(r("bytes=-1000"), Ranged::Part(0..100));
        assert_eq!(r("bytes=50-1000"), Ranged::Part(50..100));
        assert_eq!(r("bytes=100-"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=100-200"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=9-0"), Ranged::Whole);
        assert_eq!(r("bytes=0-1,5-6"), Ranged::Whole);
        assert_eq!(r("items=0-1"), Ranged::Whole);
        assert_eq!(r("bytes=x-"), Ranged::Whole);
        assert_eq!(r("bytes=+1-2"), Ranged::Whole);
    }

    #[test]
    fn dispositions_escape_every_name() {
        assert_eq!(
            content_disposition(true, "cat.png"),
            "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png"
        );
        assert_eq!(
            content_disposition(false, "ré\"sumé;.pdf"),
            "attachment; filename=\"r__sum_;.pdf\"; filename*=UTF-8''r%C3%A9%22sum%C3%A9%3B.pdf"
        );
    }
}
