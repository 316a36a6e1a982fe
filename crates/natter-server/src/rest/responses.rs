//! The error answers of the REST API as reusable OpenAPI responses, so that the document lists
//! every status a route can really answer, each with the `ErrorBody` schema.
//!
//! Handlers name the answers that depend on what they do (`response = NotFound`, `Forbidden`,
//! `Conflict`, `RateLimited`). [`TransportErrors`] adds those that follow from the shape of the
//! route, the same for all (see `crate::extract` and `crate::idempotency`): 400 for a malformed
//! body, path or query; 413 and 415 for a body; 401 for a route that needs a bearer token; 409
//! and the `Idempotency-Key` header for writes that need one; 503 when storage is unavailable.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{
    Content, OpenApi, Ref, RefOr, Required, Response, ResponseBuilder, Responses,
};

/// `Retry-After`: whole seconds to wait, on 429 and 503.
fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        ))
        .description(Some(
            "Seconds to wait before retrying (always on 429; on 503 when the server knows).",
        ))
        .build()
}

fn error(description: &str, retry: bool) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
    );
    if retry {
        response = response.header("Retry-After", retry_after());
    }
    response.build()
}

macro_rules! error_responses {
    ($($name:ident, $retry:literal, $description:literal;)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'s> utoipa::ToResponse<'s> for $name {
                fn response() -> (&'s str, RefOr<Response>) {
                    (stringify!($name), error($description, $retry).into())
                }
            }
        )*

        /// Every error response, for the document's components.
        fn all() -> Vec<(&'static str, RefOr<Response>)> {
            vec![$(<$name as utoipa::ToResponse>::response()),*]
        }
    };
}

error_responses! {
    BadRequest, false, "`invalid`: malformed JSON, a wrong type, an unknown field, a body that is \
        not a JSON object, an unparsable path or query parameter, or a value outside its limits.";
    Unauthorized, false, "`unauthenticated`: no bearer token, or an invalid, expired or revoked one; \
        `bad_credentials` for a wrong username or password.";
    Forbidden, false, "`forbidden`: a member whose role does not allow this.";
    NotFound, false, "`not_found`: no such resource, or a conversation the caller is not a \
        member of (the same answer, so ids cannot be probed).";
    Conflict, false, "`conflict`: the change contradicts the current state (for writes also: \
        the `Idempotency-Key` was used for another request, or that request is still running).";
    PayloadTooLarge, false, "`payload_too_large`: the body exceeds `limits.max_body_bytes`.";
    UnsupportedMediaType, false, "`unsupported_media_type`: the body is not `application/json`.";
    RateLimited, true, "`rate_limited`: too many requests; `retry_after_ms` and `Retry-After` \
        say when to retry.";
    Unavailable, true, "`unavailable`: storage (or another backend) cannot be reached; retry later.";
}

/// Adds the error responses that follow from each route's shape, and the `Idempotency-Key`
/// header of writes. Runs after the handlers' own declarations, which it never overrides.
pub struct TransportErrors;

impl utoipa::Modify for TransportErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, response) in all() {
            components.responses.insert(name.to_owned(), response);
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let shared_params = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
            // `/auth/*` ignores `Idempotency-Key` (see `crate::idempotency`).
            let keyed = !path.starts_with("/auth/");
            for (method, operation) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
                (HttpMethod::Head, item.head.as_mut()),
                (HttpMethod::Options, item.options.as_mut()),
            ] {
                // Upload chunks ignore it (`crate::idempotency`).
                let keyed =
                    keyed && !(method == HttpMethod::Patch && path.starts_with("/files/uploads/"));
                if let Some(operation) = operation {
                    add_transport_errors(method, operation, shared_params, keyed);
                }
            }
        }
    }
}

fn add_transport_errors(
    method: HttpMethod,
    operation: &mut Operation,
    shared_params: bool,
    keyed: bool,
) {
    let has_body = operation.request_body.is_some();
    let has_params = shared_params || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    // `security(())` (an empty requirement) marks the routes that need no token.
    let needs_token = !operation
        .security
        .as_ref()
        .is_some_and(|s| !s.is_empty() && s.iter().all(is_empty_requirement));
    // `Idempotency-Key` is kept per credentials, so only writes that need a token take it.
    let write = matches!(
        method,
        HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch | HttpMethod::Delete
    ) && needs_token
        && keyed;
    if write {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(idempotency_key().into());
    }
    let responses = &mut operation.responses;
    let mut add = |status: &str, name: &str, when: bool| {
        if when {
            add_ref(responses, status, name);
        }
    };
    add("400", "BadRequest", has_body || has_params || write);
    add("401", "Unauthorized", needs_token);
    add("409", "Conflict", write);
    add("413", "PayloadTooLarge", has_body);
    add("415", "UnsupportedMediaType", has_body);
    add("503", "Unavailable", true);
}

fn is_empty_requirement(requirement: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(requirement)
        .ok()
        .and_then(|v| v.as_object().map(|o| o.is_empty()))
        .unwrap_or(false)
}

fn add_ref(responses: &mut Responses, status: &str, name: &str) {
    responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| Ref::from_response_name(name).into());
}

fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "A retry with the same key, from the same credentials, within 24 hours, returns the \
             first answer (with `Idempotent-Replayed: true`) instead of running again; the same \
             key for another request, or while the first runs, is 409. See docs/rest-routes.md.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .build()
}
