//! `/files/*`: tus 1.0 uploads (create, status, append, cancel), a file's metadata with a
//! signed download URL, and the download itself. The design is in docs/media.md; the I/O in
//! `crate::media`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use natter_domain::files::{Attachment, FileId, FileRecord};
use natter_domain::{Chat, DomainError};
use natter_protocol::*;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, PathParams, QueryParams};
use crate::media::http::{Ranged, content_disposition, parse_range};
use crate::media::{Download, FileService, sniff, tus};
use crate::rest::responses::*;

/// Raw bytes, as the OpenAPI document must describe them (`type: string, format: binary`; a
/// `Vec<u8>` would read as an array of integers). Only a type: no value of it ever exists.
enum Binary {}

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// Most bytes of a refused `PATCH` body read and thrown away so the refusal reaches the client
/// on a connection it can reuse (as `serving::body` does for other bodies).
const DRAIN_MAX_BYTES: u64 = 1024 * 1024;

/// The file service, or 503 where the backends have no file store.
fn service(files: Option<&FileService>) -> ApiResult<&FileService> {
    files.ok_or_else(|| {
        tracing::debug!("no file store configured");
        ApiError::Domain(DomainError::Unavailable)
    })
}

fn upload_url(id: FileId) -> String {
    format!("/api/v1/files/uploads/{id}")
}

/// `Tus-Resumable` on every upload answer, and never cached (offsets change).
fn tus_headers(headers: &mut HeaderMap) {
    headers.insert("tus-resumable", HeaderValue::from_static(tus::VERSION));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn offset_headers(headers: &mut HeaderMap, files: &FileService, record: &FileRecord, offset: u64) {
    tus_headers(headers);
    headers.insert("upload-offset", HeaderValue::from(offset));
    headers.insert("upload-length", HeaderValue::from(record.size));
    if record.content.is_none() {
        let expires = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(
                u64::try_from(files.expires_at_ms(record)).unwrap_or(0),
            );
        if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(expires)) {
            headers.insert("upload-expires", value);
        }
    }
}

#[utoipa::path(options, path = "/files/uploads", tag = "files", security(()),
    responses((status = 204, description = "tus discovery: the version, extensions and largest size natter accepts.",
        headers(("Tus-Version" = String), ("Tus-Resumable" = String), ("Tus-Extension" = String), ("Tus-Max-Size" = u64)))))]
pub async fn discover(State(files): State<Option<FileService>>) -> ApiResult<Response> {
    let files = service(files.as_ref())?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    tus_headers(headers);
    headers.insert("tus-version", HeaderValue::from_static(tus::VERSION));
    headers.insert("tus-extension", HeaderValue::from_static(tus::EXTENSIONS));
    headers.insert("tus-max-size", HeaderValue::from(files.config().max_bytes));
    Ok(response)
}

#[utoipa::path(post, path = "/files/uploads", tag = "files",
    params(
        ("Upload-Length" = u64, Header, minimum = 1, description = "The file's size in bytes (at most `files.max_bytes`)."),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: comma-separated `key base64(value)` pairs; `filename` (or `name`) names the file. A claimed type is ignored."),
        ("Tus-Resumable" = Option<String>, Header, description = "`1.0.0`, or absent (natter does not require it); another version is refused with 412.", nullable = false),
    ),
    responses(
        (status = 201, description = "The upload exists; send its bytes to `Location` (tus `PATCH`).", body = UploadView,
            headers(("Location" = String, description = "The upload's URL."), ("Tus-Resumable" = String), ("Upload-Expires" = String))),
        (status = 412, description = "`unsupported_version`: `Tus-Resumable` names another tus version; `Tus-Version` lists the one natter speaks (`1.0.0`).", body = ErrorBody, headers(("Tus-Version" = String))),
        (status = 413, response = PayloadTooLarge),
    ))]
pub async fn create_upload(
    State(files): State<Option<FileService>>,
    me: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let files = service(files.as_ref())?;
    tus::check_version(&headers)?;
    let size = tus::number(&headers, "upload-length")?;
    let name = tus::file_name(&headers)?;
    let record = files.create(me.user_id, size, name).await?;
    let view = UploadView {
        id: record.id.0,
        upload_url: upload_url(record.id),
        name: record.name.as_str().to_owned(),
        size: record.size,
        offset: 0,
        expires_at_ms: files.expires_at_ms(&record),
    };
    let mut response = (StatusCode::CREATED, axum::Json(&view)).into_response();
    let headers = response.headers_mut();
    offset_headers(headers, files, &record, 0);
    if let Ok(location) = HeaderValue::from_str(&view.upload_url) {
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(head, path = "/files/uploads/{upload_id}", tag = "files",
    params(("upload_id" = Uuid, Path, description = "One of the caller's uploads."), ("Tus-Resumable" = Option<String>, Header, description = "`1.0.0`, or absent (natter does not require it); another version is refused with 412.", nullable = false),),
    responses(
        (status = 200, description = "`Upload-Offset`: bytes received; `Upload-Length`: the declared size (equal once complete).",
            headers(("Upload-Offset" = u64), ("Upload-Length" = u64), ("Tus-Resumable" = String))),
        (status = 404, response = NotFound),
        (status = 412, description = "`unsupported_version`: `Tus-Resumable` names another tus version; `Tus-Version` lists the one natter speaks (`1.0.0`).", body = ErrorBody, headers(("Tus-Version" = String))),
    ))]
pub async fn upload_status(
    State(files): State<Option<FileService>>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let files = service(files.as_ref())?;
    tus::check_version(&headers)?;
    let (record, offset) = files.status(me.user_id, FileId(id)).await?;
    let mut response = StatusCode::OK.into_response();
    offset_headers(response.headers_mut(), files, &record, offset);
    Ok(response)
}

#[utoipa::path(patch, path = "/files/uploads/{upload_id}", tag = "files",
    params(
        ("upload_id" = Uuid, Path, description = "One of the caller's uploads."),
        ("Upload-Offset" = u64, Header, description = "Where these bytes start: the offset `HEAD` reports."),
        ("Tus-Resumable" = Option<String>, Header, description = "`1.0.0`, or absent (natter does not require it); another version is refused with 412.", nullable = false),
    ),
    request_body(content = inline(Binary), content_type = "application/offset+octet-stream",
        description = "The next bytes of the file. A body cut short keeps what arrived (resume from `HEAD`'s offset)."),
    responses(
        (status = 204, description = "Appended; `Upload-Offset` is the new offset. The last byte completes the file.",
            headers(("Upload-Offset" = u64), ("Tus-Resumable" = String))),
        (status = 404, response = NotFound),
        (status = 409, description = "`offset_mismatch`: `Upload-Offset` is not the upload's offset (the answer's `Upload-Offset` is); or `conflict`: another request is writing this upload.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body goes past the declared `Upload-Length`; nothing of it is kept.", body = ErrorBody),
        (status = 412, description = "`unsupported_version`: `Tus-Resumable` names another tus version; `Tus-Version` lists the one natter speaks (`1.0.0`).", body = ErrorBody, headers(("Tus-Version" = String))),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/offset+octet-stream`.", body = ErrorBody),
    ))]
pub async fn append(
    State(files): State<Option<FileService>>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut body = body;
    let result = append_body(files.as_ref(), me, FileId(id), &headers, &mut body).await;
    if result.is_err() {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_none_or(|n| n <= DRAIN_MAX_BYTES) {
            drain(body).await;
        }
    }
    match result {
        Ok(response) => response,
        Err(err) => {
            let mut response = err.into_response();
            tus_headers(response.headers_mut());
            response
        }
    }
}

async fn append_body(
    files: Option<&FileService>,
    me: AuthUser,
    id: FileId,
    headers: &HeaderMap,
    body: &mut Body,
) -> ApiResult<Response> {
    let files = service(files)?;
    tus::check_version(headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.eq_ignore_ascii_case(tus::CHUNK_CONTENT_TYPE) {
        return Err(ApiError::NotUploadChunk);
    }
    let offset = tus::number(headers, "upload-offset")?;
    let (record, offset) = files.append(me.user_id, id, offset, body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    offset_headers(response.headers_mut(), files, &record, offset);
    Ok(response)
}

/// Reads and discards what is left of a body, [`DRAIN_MAX_BYTES`] at most, for a while at most.
async fn drain(mut body: Body) {
    let within = std::time::Duration::from_secs(5);
    let _ = tokio::time::timeout(within, async {
        let mut read = 0u64;
        while read <= DRAIN_MAX_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
                _ => return,
            }
        }
    })
    .await;
}

#[utoipa::path(delete, path = "/files/uploads/{upload_id}", tag = "files",
    params(("upload_id" = Uuid, Path, description = "One of the caller's incomplete uploads."), ("Tus-Resumable" = Option<String>, Header, description = "`1.0.0`, or absent (natter does not require it); another version is refused with 412.", nullable = false),),
    responses(
        (status = 204, description = "Cancelled: the upload and its bytes are gone.", headers(("Tus-Resumable" = String))),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, description = "`unsupported_version`: `Tus-Resumable` names another tus version; `Tus-Version` lists the one natter speaks (`1.0.0`).", body = ErrorBody, headers(("Tus-Version" = String))),
    ))]
pub async fn cancel_upload(
    State(files): State<Option<FileService>>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let files = service(files.as_ref())?;
    tus::check_version(&headers)?;
    files.cancel(me.user_id, FileId(id)).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(response.headers_mut());
    Ok(response)
}

#[utoipa::path(get, path = "/files/{file_id}", tag = "files",
    params(("file_id" = Uuid, Path, description = "A complete file of the caller's, or one a message shows in a conversation the caller is a member of.")),
    responses(
        (status = 200, description = "The file, with a download URL valid for `files.url_ttl_s`.", body = FileView),
        (status = 404, response = NotFound),
    ))]
pub async fn file(
    State(chat): State<Chat>,
    State(files): State<Option<FileService>>,
    me: AuthUser,
    PathParams(id): PathParams<Uuid>,
) -> ApiResult<Response> {
    let files = service(files.as_ref())?;
    let (record, content) = chat.readable_file(me.user_id, FileId(id)).await?;
    let view = files.view(&Attachment::of(record, content));
    let mut response = axum::Json(view).into_response();
    // The URL in it is a credential.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(get, path = "/files/{file_id}/content/{sha256}", tag = "files", security(()),
    params(
        ("file_id" = Uuid, Path, description = "The file."),
        ("sha256" = String, Path, description = "The SHA-256 (lower-case hex) of the file's stored bytes, or of one of its thumbnails (the `thumbnails[].url` of a `FileView`): the same route, signature and headers serve both.", pattern = "^[0-9a-f]{64}$"),
        DownloadQuery,
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-99`, `bytes=100-`, `bytes=-100`)."),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` held: 304 if it matches."),
    ),
    responses(
        (status = 200, description = "The bytes. Safe images, video and audio inline with their type; anything else `application/octet-stream` as an attachment.",
            content_type = "application/octet-stream", body = inline(Binary),
            headers(("ETag" = String), ("Cache-Control" = String), ("Content-Disposition" = String),
                ("X-Content-Type-Options" = String), ("Content-Security-Policy" = String))),
        (status = 206, description = "The requested range (`Content-Range`).", content_type = "application/octet-stream", body = inline(Binary)),
        (status = 304, description = "Not modified: the `If-None-Match` tag is current."),
        (status = 403, description = "`forbidden`: the URL's signature is wrong or it has expired.", body = ErrorBody),
        (status = 404, response = NotFound),
        (status = 416, description = "`range_not_satisfiable`: the range is outside the file (`Content-Range: bytes */size`).", body = ErrorBody),
    ))]
pub async fn download(
    State(files): State<Option<FileService>>,
    PathParams((id, sha256)): PathParams<(Uuid, String)>,
    QueryParams(query): QueryParams<DownloadQuery>,
    headers: HeaderMap,
) -> Response {
    let mut response = match serve(files.as_ref(), FileId(id), &sha256, &query, &headers).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    response
}

async fn serve(
    files: Option<&FileService>,
    id: FileId,
    sha256: &str,
    query: &DownloadQuery,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let files = service(files)?;
    let file = files
        .by_url(id, sha256, query.expires, &query.signature)
        .await?;
    let size = file.size;
    let etag = format!("\"{sha256}\"");
    let now_s = u64::try_from(crate::media::now_ms() / 1000).unwrap_or(0);
    let max_age = query.expires.saturating_sub(now_s);
    let mut common = HeaderMap::new();
    common.insert(header::ETAG, header_value(&etag)?);
    common.insert(
        header::CACHE_CONTROL,
        header_value(&format!("private, max-age={max_age}, immutable"))?,
    );
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if matches_etag(headers.get(header::IF_NONE_MATCH), &etag) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    // `If-Range` naming another version: the whole file rather than a part of the wrong one.
    let range_header = match headers.get(header::IF_RANGE) {
        Some(tag) if tag.as_bytes() != etag.as_bytes() => None,
        _ => headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
    };
    let (status, range) = match parse_range(range_header, size) {
        Ranged::Whole => (StatusCode::OK, 0..size),
        Ranged::Part(range) => (StatusCode::PARTIAL_CONTENT, range),
        Ranged::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
    };
    let stream = files.bytes(&file, Some(range.clone())).await?;
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let out = response.headers_mut();
    out.extend(common);
    content_headers(out, &file)?;
    out.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        out.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {}-{}/{size}", range.start, range.end - 1))?,
        );
    }
    Ok(response)
}

/// `Content-Type` and `Content-Disposition`: inline only for safe media types.
fn content_headers(out: &mut HeaderMap, file: &Download) -> ApiResult<()> {
    let inline = sniff::is_inline(&file.mime);
    let served_type = if inline {
        file.mime.as_str()
    } else {
        sniff::OCTET_STREAM
    };
    out.insert(header::CONTENT_TYPE, header_value(served_type)?);
    out.insert(
        header::CONTENT_DISPOSITION,
        header_value(&content_disposition(inline, file.name.as_str()))?,
    );
    Ok(())
}

fn header_value(value: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(value).map_err(|_| ApiError::Domain(DomainError::Internal))
}

/// `If-None-Match: *` or a list naming `etag` (weak comparison, as RFC 9110 asks for it).
fn matches_etag(header: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[utoipa::path(get, path = "/files/{file_id}/content/{sha256}/check", tag = "files", security(()),
    params(
        ("file_id" = Uuid, Path, description = "The file."),
        ("sha256" = String, Path, description = "Its SHA-256, lower-case hex.", pattern = "^[0-9a-f]{64}$"),
        DownloadQuery,
    ),
    responses(
        (status = 204, description = "The download URL is valid, has not expired, and the file still has that content (its bytes or a thumbnail). For a CDN's edge (NGINX `auth_request`, deploy/nginx): it asks this before serving bytes it has cached, so a cached file never reaches a tampered or expired URL, nor anyone once the file was deleted. One metadata lookup, no bytes."),
        (status = 403, description = "`forbidden`: the URL's signature is wrong, it has expired, or its query is missing or malformed.", body = ErrorBody),
        (status = 404, description = "`not_found`: the URL is valid but names no content any more (the file was deleted by the collector).", body = ErrorBody),
    ))]
pub async fn check_url(
    State(files): State<Option<FileService>>,
    PathParams((id, sha256)): PathParams<(Uuid, String)>,
    uri: axum::http::Uri,
) -> ApiResult<StatusCode> {
    let files = service(files.as_ref())?;
    // A query that does not parse is a URL that is not valid: 403 like any other, never a 400,
    // which the edge could only report as its own failure.
    let axum::extract::Query(query) = axum::extract::Query::<DownloadQuery>::try_from_uri(&uri)
        .map_err(|_| DomainError::Forbidden("the download URL is not valid"))?;
    files
        .by_url(FileId(id), &sha256, query.expires, &query.signature)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
