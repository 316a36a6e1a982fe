//! The web app: `web/dist` (built by Vite from `web/`, committed) embedded into the binary at
//! compile time, so `natter serve` serves it with no extra step and no Node on the machine.
//!
//! Routing: every GET/HEAD that no other route took lands here. A file of the build is served as
//! is (hashed `/assets/*` cached for a year, everything else revalidated); any other non-API
//! path gets `index.html` so the app's client-side routes (`/c/<id>`) survive a reload. Under
//! `/api/` (and for other methods) the JSON 404 of the API stays: an API client never gets HTML.
//!
//! Compression: the build writes a brotli (`x.br`) and a gzip (`x.gz`) sibling of each text file
//! worth it (`web/scripts/compress.mjs`: js, css, html, svg, json, webmanifest, txt of at least
//! 512 bytes), embedded with the rest, so nothing is compressed per request. A request gets the
//! sibling its `Accept-Encoding` allows ([`negotiate`], RFC 9110 §12.5.3: q-values, `*`,
//! `identity`, `x-gzip`; the highest q wins, brotli before gzip before the file itself on a tie),
//! with `Content-Encoding`, the original file's `Content-Type` and caching headers. A request
//! without the header, or with an empty one, gets the file itself; one that accepts none of the
//! three (`identity;q=0` alone, `*;q=0`) gets it too (§12.1 lets a server disregard the header
//! rather than answer 406). Every response of a text type says `Vary: Accept-Encoding`, the
//! uncompressed one too, so caches keep one copy per coding. The siblings are no files of the
//! app: `/assets/x.js.br` is a 404. No compression layer runs over these responses (tower-http's
//! is not in the stack), so nothing is compressed twice.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, File, include_dir};
use natter_domain::DomainError;

use crate::error::ApiError;

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../web/dist");

/// Hashed file names never change content: cache them for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// index.html, sw.js, the manifest: always revalidate, so a new build shows at once.
const REVALIDATE: &str = "no-cache";
/// Everything comes from this origin; the app never needs inline scripts.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'; object-src 'none'";

/// The router's fallback: the app for GET/HEAD outside `/api/`, the API's JSON 404 otherwise.
pub(crate) async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let is_api = path == "/api" || path.starts_with("/api/");
    if is_api || (method != Method::GET && method != Method::HEAD) {
        return ApiError::Domain(DomainError::NotFound).into_response();
    }
    let relative = path.trim_start_matches('/');
    if is_sibling(relative) {
        // A precompressed copy is a coding of its file, not a file of the app.
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    if let Some(file) = DIST.get_file(relative).filter(|_| !relative.is_empty()) {
        let cache = if relative.starts_with("assets/") {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        return serve(file, cache, &headers);
    }
    if relative.starts_with("assets/") {
        // A stale hashed name: a clear 404 rather than HTML the browser would try to run.
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match DIST.get_file("index.html") {
        Some(index) => serve(index, REVALIDATE, &headers),
        None => (
            StatusCode::NOT_FOUND,
            "the web app was not built into this binary",
        )
            .into_response(),
    }
}

/// `x.br` or `x.gz` next to a compressible `x` of the build.
fn is_sibling(relative: &str) -> bool {
    [Coding::Brotli, Coding::Gzip].into_iter().any(|coding| {
        relative
            .strip_suffix(coding.suffix())
            .is_some_and(|original| compressible(original) && DIST.get_file(original).is_some())
    })
}

fn serve(file: &'static File<'static>, cache: &'static str, request: &HeaderMap) -> Response {
    let path = file.path().to_string_lossy();
    let (coding, body) = if compressible(&path) {
        let sibling = |coding: Coding| DIST.get_file(format!("{path}{}", coding.suffix()));
        let (br, gz) = (sibling(Coding::Brotli), sibling(Coding::Gzip));
        match negotiate(request, br.is_some(), gz.is_some()) {
            Coding::Brotli => (Coding::Brotli, br.unwrap_or(file)),
            Coding::Gzip => (Coding::Gzip, gz.unwrap_or(file)),
            Coding::Identity => (Coding::Identity, file),
        }
    } else {
        (Coding::Identity, file)
    };
    let mut response = body.contents().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    if let Some(token) = coding.token() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
    }
    if compressible(&path) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if path.ends_with(".html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    response
}

/// The text types the build writes precompressed siblings of (as `web/scripts/compress.mjs`).
fn compressible(path: &str) -> bool {
    matches!(
        path.rsplit_once('.').map(|(_, ext)| ext),
        Some("js" | "mjs" | "css" | "html" | "svg" | "json" | "webmanifest" | "txt")
    )
}

/// A content coding natter can send a file in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    /// The sibling's file name suffix.
    fn suffix(self) -> &'static str {
        match self {
            Coding::Brotli => ".br",
            Coding::Gzip => ".gz",
            Coding::Identity => "",
        }
    }

    /// Its `Content-Encoding`, none for the file itself.
    fn token(self) -> Option<&'static str> {
        match self {
            Coding::Brotli => Some("br"),
            Coding::Gzip => Some("gzip"),
            Coding::Identity => None,
        }
    }
}

/// What a request's `Accept-Encoding` says of each coding natter has: the weight it listed
/// (q-value in thousandths) or `None` when it did not name it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Accepted {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

/// Every `Accept-Encoding` line of a request, as one list (RFC 9110 §5.3). Codings are
/// case-insensitive, `x-gzip` is `gzip` (§8.4.1.3), a member without `q` weighs 1, a member
/// with a malformed `q` or coding is ignored, other parameters are ignored, and a coding
/// listed twice keeps its lower weight.
fn parse_accept_encoding<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> Accepted {
    let mut accepted = Accepted::default();
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        for member in value.split(',') {
            let mut parts = member.split(';');
            let coding = parts.next().unwrap_or("").trim_matches([' ', '\t']);
            if coding.is_empty() || !coding.bytes().all(is_tchar) {
                continue;
            }
            let mut weight = Some(1000);
            for parameter in parts {
                let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
                if name.trim_matches([' ', '\t']).eq_ignore_ascii_case("q") {
                    weight = parse_qvalue(value.trim_matches([' ', '\t']));
                }
            }
            let Some(weight) = weight else { continue };
            let slot = if coding.eq_ignore_ascii_case("br") {
                &mut accepted.br
            } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                &mut accepted.gzip
            } else if coding.eq_ignore_ascii_case("identity") {
                &mut accepted.identity
            } else if coding == "*" {
                &mut accepted.any
            } else {
                continue;
            };
            *slot = Some(slot.map_or(weight, |earlier| earlier.min(weight)));
        }
    }
    accepted
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (RFC 9110 §12.4.2), in
/// thousandths.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |n, digit| n * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// `tchar` of RFC 9110 §5.6.2: the characters of a token.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// The coding to send a file in, given which siblings it has: the acceptable one (weight above
/// 0) the request weighs highest, brotli before gzip before identity on a tie. A coding the
/// request does not name takes the weight of `*`, if listed; brotli and gzip are otherwise not
/// acceptable, identity is (rule 2 of RFC 9110 §12.5.3) but below anything the request named.
/// No header, an empty one, or none acceptable: identity.
fn negotiate(request: &HeaderMap, has_br: bool, has_gzip: bool) -> Coding {
    let accepted = parse_accept_encoding(request.get_all(header::ACCEPT_ENCODING));
    let weight = |listed: Option<u16>, unnamed: u16| listed.or(accepted.any).unwrap_or(unnamed);
    [
        (Coding::Brotli, has_br, weight(accepted.br, 0)),
        (Coding::Gzip, has_gzip, weight(accepted.gzip, 0)),
        (Coding::Identity, true, weight(accepted.identity, 1)),
    ]
    .into_iter()
    .filter(|&(_, available, weight)| available && weight > 0)
    // max_by_key keeps the last of equals: reversed, the first (the preferred) wins a tie.
    .rev()
    .max_by_key(|&(_, _, weight)| weight)
    .map_or(Coding::Identity, |(coding, _, _)| coding)
}

/// The few types a Vite build emits; no dependency needed for them.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(path: &str) -> Response {
        fallback(Method::GET, path.parse().expect("uri"), HeaderMap::new()).await
    }

    async fn get_accepting(path: &str, accept_encoding: &str) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept_encoding).expect("header"),
        );
        fallback(Method::GET, path.parse().expect("uri"), headers).await
    }

    fn header(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec()
    }

    /// The coding chosen for `lines` (one `Accept-Encoding` line each) with both siblings.
    fn chosen(lines: &[&str]) -> Coding {
        chosen_among(lines, true, true)
    }

    fn chosen_among(lines: &[&str], has_br: bool, has_gzip: bool) -> Coding {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(line).expect("header"),
            );
        }
        negotiate(&headers, has_br, has_gzip)
    }

    /// The build's script: the largest file of `/assets`, which has both siblings.
    fn script() -> &'static File<'static> {
        DIST.get_dir("assets")
            .and_then(|dir| {
                dir.files()
                    .filter(|f| f.path().extension().is_some_and(|e| e == "js"))
                    .max_by_key(|f| f.contents().len())
            })
            .expect("the build has a script")
    }

    #[tokio::test]
    async fn the_app_is_served_at_the_root_and_for_client_routes() {
        for path in [
            "/",
            "/c/0192f1c2-7c1a-7d33-9a55-6a3c1d9f0b11",
            "/index.html",
        ] {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(
                header(&response, header::CONTENT_TYPE).starts_with("text/html"),
                "{path}"
            );
            assert_eq!(header(&response, header::CACHE_CONTROL), REVALIDATE);
        }
    }

    #[tokio::test]
    async fn hashed_assets_are_cached_for_long_and_missing_ones_are_404() {
        let asset = script();
        let response = get(&format!("/{}", asset.path().display())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, header::CACHE_CONTROL), IMMUTABLE);
        assert!(header(&response, header::CONTENT_TYPE).starts_with("text/javascript"));
        assert_eq!(
            get("/assets/nope-123.js").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn api_paths_and_other_methods_keep_the_json_404() {
        for response in [
            get("/api/v1/nope").await,
            get("/api").await,
            fallback(Method::POST, "/x".parse().unwrap(), HeaderMap::new()).await,
        ] {
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            assert_eq!(header(&response, header::CONTENT_TYPE), "application/json");
        }
    }

    #[tokio::test]
    async fn the_sibling_the_request_accepts_is_served_with_the_files_headers() {
        let script = script();
        let path = format!("/{}", script.path().display());
        for (accept, coding) in [
            ("br", Coding::Brotli),
            ("gzip", Coding::Gzip),
            ("gzip, deflate, br, zstd", Coding::Brotli),
            ("gzip;q=0, br;q=0", Coding::Identity),
            ("", Coding::Identity),
        ] {
            let response = get_accepting(&path, accept).await;
            assert_eq!(response.status(), StatusCode::OK, "{accept}");
            assert_eq!(
                header(&response, header::CONTENT_ENCODING),
                coding.token().unwrap_or(""),
                "{accept}"
            );
            assert_eq!(header(&response, header::VARY), "accept-encoding");
            assert_eq!(
                header(&response, header::CONTENT_TYPE),
                "text/javascript; charset=utf-8"
            );
            assert_eq!(header(&response, header::CACHE_CONTROL), IMMUTABLE);
            let sent = DIST
                .get_file(format!("{}{}", script.path().display(), coding.suffix()))
                .expect("the script has a .br and a .gz sibling");
            assert_eq!(body(response).await, sent.contents(), "{accept}");
        }
    }

    #[tokio::test]
    async fn client_routes_get_index_html_compressed() {
        for path in ["/", "/c/0192f1c2-7c1a-7d33-9a55-6a3c1d9f0b11"] {
            let response = get_accepting(path, "gzip, br").await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, header::CONTENT_ENCODING), "br", "{path}");
            assert_eq!(header(&response, header::VARY), "accept-encoding");
            assert!(header(&response, header::CONTENT_TYPE).starts_with("text/html"));
            assert_eq!(header(&response, header::CONTENT_SECURITY_POLICY), CSP);
            let sibling = DIST.get_file("index.html.br").expect("index.html.br");
            assert_eq!(body(response).await, sibling.contents());
        }
    }

    #[tokio::test]
    async fn siblings_are_not_files_of_the_app() {
        let script = script().path().display().to_string();
        for path in [
            format!("/{script}.br"),
            format!("/{script}.gz"),
            "/index.html.br".to_string(),
            "/index.html.gz".to_string(),
        ] {
            let response = get_accepting(&path, "br, gzip").await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(header(&response, header::CONTENT_TYPE).starts_with("text/plain"));
        }
    }

    #[tokio::test]
    async fn images_are_sent_as_they_are_without_vary() {
        let response = get_accepting("/icon-192.png", "br, gzip").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, header::CONTENT_TYPE), "image/png");
        assert_eq!(header(&response, header::CONTENT_ENCODING), "");
        assert_eq!(header(&response, header::VARY), "");
    }

    #[test]
    fn brotli_is_preferred_then_gzip_then_the_file() {
        assert_eq!(chosen(&["gzip, deflate, br"]), Coding::Brotli);
        assert_eq!(chosen(&["br, gzip"]), Coding::Brotli);
        assert_eq!(chosen(&["gzip"]), Coding::Gzip);
        assert_eq!(chosen(&["deflate, zstd"]), Coding::Identity);
        assert_eq!(chosen(&["*"]), Coding::Brotli);
        assert_eq!(chosen_among(&["br, gzip"], false, true), Coding::Gzip);
        assert_eq!(chosen_among(&["br"], false, true), Coding::Identity);
        assert_eq!(chosen_among(&["gzip"], true, false), Coding::Identity);
        assert_eq!(chosen_among(&["br, gzip"], false, false), Coding::Identity);
    }

    #[test]
    fn no_header_or_an_empty_one_is_the_file_itself() {
        assert_eq!(chosen(&[]), Coding::Identity);
        assert_eq!(chosen(&[""]), Coding::Identity);
        assert_eq!(chosen(&[" , ,"]), Coding::Identity);
    }

    #[test]
    fn q_values_rank_the_codings() {
        assert_eq!(chosen(&["br;q=0.8, gzip;q=0.9"]), Coding::Gzip);
        assert_eq!(chosen(&["br;q=0.9, gzip"]), Coding::Gzip);
        assert_eq!(chosen(&["gzip;q=0.5, br;q=0.5"]), Coding::Brotli, "tie");
        assert_eq!(chosen(&["br;q=0.5, identity"]), Coding::Identity);
        assert_eq!(chosen(&["br;q=0.001"]), Coding::Brotli);
        assert_eq!(chosen(&["gzip;q=1.000, br;q=0.999"]), Coding::Gzip);
        assert_eq!(chosen(&["gzip;q=0.5, *;q=0.6"]), Coding::Brotli, "br is *");
        assert_eq!(chosen(&["gzip ; q=0.7 , br ;q=0.6"]), Coding::Gzip, "OWS");
        assert_eq!(chosen(&["br;Q=0.4, gzip;q=0.3"]), Coding::Brotli, "Q");
    }

    #[test]
    fn q_zero_refuses_a_coding() {
        assert_eq!(chosen(&["gzip;q=0, br;q=0"]), Coding::Identity);
        assert_eq!(chosen(&["br;q=0, gzip"]), Coding::Gzip);
        assert_eq!(chosen(&["br;q=0.000, *"]), Coding::Gzip);
        assert_eq!(
            chosen(&["*, br;q=0"]),
            Coding::Gzip,
            "the named entry beats *"
        );
        assert_eq!(chosen(&["*;q=0, gzip"]), Coding::Gzip);
        assert_eq!(
            chosen(&["br, br;q=0, gzip"]),
            Coding::Gzip,
            "the lower of two"
        );
    }

    #[test]
    fn identity_and_star_zero_exclude_the_file_itself() {
        assert_eq!(chosen(&["identity;q=0, gzip"]), Coding::Gzip);
        assert_eq!(chosen(&["identity;q=0, gzip;q=0.001"]), Coding::Gzip);
        assert_eq!(chosen(&["*;q=0, br"]), Coding::Brotli);
        assert_eq!(chosen(&["*;q=0, identity"]), Coding::Identity);
        // Nothing acceptable: the header is disregarded (RFC 9110 §12.1), not answered with 406.
        assert_eq!(chosen(&["*;q=0"]), Coding::Identity);
        assert_eq!(chosen(&["identity;q=0"]), Coding::Identity);
        assert_eq!(
            chosen_among(&["identity;q=0, br"], false, true),
            Coding::Identity
        );
        // `*` stands for identity too unless identity is named.
        assert_eq!(chosen_among(&["*"], false, false), Coding::Identity);
    }

    #[test]
    fn codings_are_case_insensitive_and_x_gzip_is_gzip() {
        assert_eq!(chosen(&["BR"]), Coding::Brotli);
        assert_eq!(chosen(&["GZip"]), Coding::Gzip);
        assert_eq!(chosen(&["x-gzip"]), Coding::Gzip);
        assert_eq!(chosen(&["X-GZIP;q=0.5, br;q=0.4"]), Coding::Gzip);
        assert_eq!(chosen(&["Identity;Q=0, *;q=0"]), Coding::Identity);
    }

    #[test]
    fn every_line_of_the_header_counts() {
        assert_eq!(chosen(&["gzip;q=0.5", "br;q=0.4"]), Coding::Gzip);
        assert_eq!(chosen(&["gzip", "br"]), Coding::Brotli);
        assert_eq!(chosen(&["br", "br;q=0"]), Coding::Identity);
    }

    #[test]
    fn malformed_members_are_ignored() {
        for bad in [
            "br;q=1.5",
            "br;q=2",
            "br;q=1.001",
            "br;q=0.0001",
            "br;q=.5",
            "br;q=-0",
            "br;q=0x1",
            "br;q=",
            "br;q",
            "br;q=0.5x",
            "b r",
            "br\"",
            ";q=1",
        ] {
            assert_eq!(chosen(&[bad]), Coding::Identity, "{bad}");
            // Ignored, not an error: the rest of the list still counts.
            assert_eq!(chosen(&[&format!("{bad}, gzip")]), Coding::Gzip, "{bad}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_bytes(b"br\xff").expect("header"),
        );
        headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(negotiate(&headers, true, true), Coding::Gzip, "not ASCII");
    }

    #[test]
    fn q_values_are_read_in_thousandths() {
        for (text, thousandths) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.123", Some(123)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.0000", None),
            ("1.1", None),
            ("01", None),
            ("0.1234", None),
            ("", None),
            (" 1", None),
        ] {
            assert_eq!(parse_qvalue(text), thousandths, "{text}");
        }
        assert_eq!(
            parse_accept_encoding([&HeaderValue::from_static("br;q=0.8;level=4, gzip;level=9")]),
            Accepted {
                br: Some(800),
                gzip: Some(1000),
                identity: None,
                any: None,
            },
            "other parameters are ignored"
        );
    }
}
