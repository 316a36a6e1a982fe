//! The OpenAPI document matches docs/rest-routes.md (parsed here, so neither can drift from the
//! other), and the operational endpoints answer: /healthz, /readyz, /metrics.

use std::collections::BTreeSet;
use std::time::Duration;

use natter_sdk::{Method, RawBody};
use serde_json::Value;

use crate::server::TestServer;
use crate::support::user;

/// `(METHOD, /path)` rows of the route table in docs/rest-routes.md, query strings dropped.
fn documented_routes() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rest-routes.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut routes = BTreeSet::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| GET | /path | body | answer |" splits into ["", "GET", "/path", ...].
        if cells.len() < 4 || !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&cells[1]) {
            continue;
        }
        let route = cells[2].split('?').next().unwrap().to_owned();
        assert!(route.starts_with('/'), "odd path cell {line:?}");
        assert!(
            routes.insert((cells[1].to_owned(), route)),
            "documented twice: {line:?}"
        );
    }
    routes
}

async fn get(server: &TestServer, path: &str) -> natter_sdk::RawResponse {
    let response = server
        .client()
        .raw_request(Method::GET, path, RawBody::Empty, None)
        .await
        .expect("request");
    assert!(response.status < 500, "{path}: {}", response.status);
    response
}

fn content_type(response: &natter_sdk::RawResponse) -> String {
    response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_documented_route() {
    let server = TestServer::spawn();
    let response = get(&server, "/api/v1/openapi.json").await;
    assert_eq!(response.status, 200);
    assert!(content_type(&response).starts_with("application/json"));
    let spec: Value = response.json().expect("JSON");
    let version = spec["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert!(spec["info"]["title"].is_string());

    let documented = documented_routes();
    assert!(documented.len() >= 30, "the table parsed: {documented:?}");
    let paths = spec["paths"].as_object().expect("paths");
    // The spec's paths are relative to /api/v1 (as in the doc), or carry the prefix.
    let mut specified = BTreeSet::new();
    for (path, item) in paths {
        let path = path.strip_prefix("/api/v1").unwrap_or(path).to_owned();
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(operation) = item.get(method) {
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} has responses"
                );
                specified.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let undocumented: Vec<_> = specified.difference(&documented).collect();
    let unspecified: Vec<_> = documented.difference(&specified).collect();
    assert!(
        unspecified.is_empty(),
        "documented but missing from openapi.json: {unspecified:?}"
    );
    assert!(
        undocumented.is_empty(),
        "in openapi.json but not in docs/rest-routes.md: {undocumented:?}"
    );

    // The bodies the doc names are schemas of the document.
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "RegisterRequest",
        "AuthTokens",
        "SendMessageRequest",
        "MessageView",
        "ErrorBody",
        "SyncView",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    assert!(
        spec["components"]["securitySchemes"]["bearer"].is_object(),
        "bearer auth is described"
    );
    assert_complete(&spec);
}

/// The routes that need no token.
const PUBLIC: [(&str, &str); 7] = [
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("post", "/auth/refresh"),
    // tus discovery, and downloads and their check (the signed URL is the credential).
    ("options", "/files/uploads"),
    ("get", "/files/{file_id}/content/{sha256}"),
    ("get", "/files/{file_id}/content/{sha256}/check"),
    // A service worker fetches it before anyone signs in.
    ("get", "/push/vapid-public-key"),
];

/// What tools need to call the API from the document alone: where it lives, every parameter,
/// every answer described (errors with `ErrorBody`, `Retry-After` on 429 and 503), and which
/// routes need a token.
fn assert_complete(spec: &Value) {
    let servers: Vec<&str> = spec["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .filter_map(|s| s["url"].as_str())
        .collect();
    assert_eq!(servers, ["/api/v1"], "tools call the paths under /api/v1");
    let responses = &spec["components"]["responses"];
    let resolve = |answer: &'_ Value| -> Value {
        match answer["$ref"].as_str() {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/responses/")
                    .unwrap_or_else(|| panic!("odd response $ref {reference}"));
                assert!(responses[name].is_object(), "{reference} exists");
                responses[name].clone()
            }
            None => answer.clone(),
        }
    };
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in item.as_object().expect("path item") {
            let at = format!("{method} {path}");
            let params = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let declared: BTreeSet<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{at}: path parameters are required");
                    p["name"].as_str().expect("name")
                })
                .collect();
            assert_eq!(declared, in_path, "{at}: every {{param}} declared in: path");
            for param in &params {
                assert!(param["schema"].is_object(), "{at}: {param} has a schema");
            }

            let answers = operation["responses"].as_object().expect("responses");
            assert!(
                answers.keys().any(|s| s.starts_with('2')),
                "{at}: a success"
            );
            for (status, answer) in answers {
                let answer = resolve(answer);
                assert!(
                    answer["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{at} {status}: described"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        answer["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{at} {status}: the error body"
                    );
                }
                if status == "429" || status == "503" {
                    assert!(
                        answer["headers"]["Retry-After"].is_object(),
                        "{at} {status}: Retry-After"
                    );
                }
            }
            assert!(answers.contains_key("503"), "{at}: storage may be down");
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(answers.contains_key(status), "{at}: {status} for a body");
                }
            }
            let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
            let security = &operation["security"];
            if public {
                assert_eq!(security, &serde_json::json!([{}]), "{at}: no token needed");
            } else {
                assert!(security.is_null(), "{at}: the global bearer requirement");
                assert!(answers.contains_key("401"), "{at}: 401 without a token");
            }
        }
    }
    assert_eq!(spec["security"], serde_json::json!([{"bearer": []}]));

    // Query parameters are in: query (never in: path), and not nullable.
    for (path, name) in [
        ("/users", "prefix"),
        ("/users", "limit"),
        ("/conversations", "limit"),
        ("/conversations", "before_activity_ms"),
        ("/conversations", "q"),
        ("/conversations/{id}/messages", "before"),
        ("/conversations/{id}/messages", "after"),
        ("/conversations/{id}/messages", "limit"),
        ("/sync", "since"),
    ] {
        let param = spec["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("{name} of GET {path}"));
        assert_eq!(param["in"], "query", "{name} of GET {path}");
        assert!(
            param["schema"]["type"].is_string(),
            "{name}: one type, no null"
        );
    }

    // Strings have limits, and requests that refuse unknown fields say so.
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    for (name, schema) in schemas.iter().filter(|(n, _)| n.ends_with("Request")) {
        // A tagged enum: each variant refuses unknown fields (closing the `oneOf` itself
        // would refuse every field).
        let variants = match schema["oneOf"].as_array() {
            Some(variants) => variants.iter().collect(),
            None => vec![schema],
        };
        for variant in variants {
            assert_eq!(
                variant["additionalProperties"], false,
                "{name}: unknown fields are refused"
            );
        }
    }
    let register = &schemas["RegisterRequest"]["properties"];
    assert_eq!(register["username"]["maxLength"], 32);
    assert_eq!(
        schemas["SendMessageRequest"]["properties"]["text"]["maxLength"],
        4000
    );
}

/// Whether a schema admits `null`: `type: [T, "null"]`, or a `oneOf`/`anyOf` with `{type: null}`.
fn admits_null(schema: &Value) -> bool {
    let typed = schema["type"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "null"));
    let variant = ["oneOf", "anyOf"].iter().any(|k| {
        schema[k]
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| v["type"] == "null"))
    });
    typed || variant
}

/// Every `$ref` to a schema under `value`, by schema name.
fn references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                into.push(name.to_owned());
            }
            map.values().for_each(|v| references(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, into)),
        _ => {}
    }
}

/// The document says what the server sends: a field of a response the server leaves out when it
/// has no value (`skip_serializing_if`) is optional and never `null`; the string fields with a
/// fixed set of values are enums; a `PUT` that replaces settings whole requires all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_says_absent_not_null_and_names_the_values() {
    let server = TestServer::spawn();
    let spec: Value = get(&server, "/api/v1/openapi.json")
        .await
        .json()
        .expect("JSON");
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");

    // The schemas a request body reaches, directly or inside another: a client may send `null`
    // there, and the server takes it as absent.
    let mut pending = Vec::new();
    for item in spec["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("path item").values() {
            references(&operation["requestBody"], &mut pending);
        }
    }
    let mut sent = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if sent.insert(name.clone()) {
            references(&schemas[&name], &mut pending);
        }
    }
    assert!(sent.contains("SendMessageRequest") && sent.contains("QuietHoursView"));

    // The one `null` a response carries: no quiet hours (in a body that is a request too).
    let mut nullable = Vec::new();
    for (name, schema) in schemas.iter().filter(|(n, _)| !sent.contains(*n)) {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if admits_null(property) {
                nullable.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        nullable.is_empty(),
        "response fields the document says may be null, though the server leaves them out: \
         {nullable:?}"
    );
    for (name, field) in [
        ("UserView", "online"),
        ("UserView", "avatar"),
        ("AvatarView", "thumbhash"),
        ("ConversationSummaryView", "last_message"),
        ("MessageSearchPage", "next_cursor"),
        ("ErrorBody", "retry_after_ms"),
    ] {
        let schema = &schemas[name];
        assert!(schema["properties"][field].is_object(), "{name}.{field}");
        assert!(
            !schema["required"]
                .as_array()
                .expect("required")
                .iter()
                .any(|f| f == field),
            "{name}.{field} is optional"
        );
    }

    let settings = &schemas["NotificationSettingsBody"];
    let required: BTreeSet<&str> = settings["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["level", "preview", "quiet_hours"]),
        "PUT /users/me/notifications takes every field"
    );
    assert!(admits_null(&settings["properties"]["quiet_hours"]));

    // Fixed values, as enums (through a `$ref`, or in a nullable `oneOf`).
    let values = |schema: &str, field: &str| -> Vec<String> {
        let property = &schemas[schema]["properties"][field];
        let mut named = Vec::new();
        references(property, &mut named);
        let target = match named.as_slice() {
            [one] => &schemas[one],
            _ => property,
        };
        target["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema}.{field} is an enum: {property}"))
            .iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect()
    };
    assert_eq!(values("ConversationView", "kind"), ["direct", "group"]);
    assert_eq!(values("MemberView", "role"), ["owner", "admin", "member"]);
    assert_eq!(values("DeviceView", "kind"), ["fcm", "apns", "web_push"]);
    assert_eq!(values("ThumbnailView", "size"), ["small", "large"]);
    assert_eq!(values("UpdateMemberRequest", "role"), ["member", "admin"]);
    assert_eq!(values("AddMemberRequest", "role"), ["member", "admin"]);
    assert!(admits_null(
        &schemas["AddMemberRequest"]["properties"]["role"]
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let server = TestServer::spawn();
    let health = get(&server, "/healthz").await;
    assert_eq!(health.status, 200);
    server.client().health().await.expect("SDK health");
    let ready = get(&server, "/readyz").await;
    assert_eq!(
        ready.status,
        200,
        "{}",
        String::from_utf8_lossy(&ready.body)
    );

    // Some REST traffic, including a message and an error, and a WebSocket connection.
    let (alice, _) = user(&server, "alice").await;
    let conversation = alice
        .create_group("g", None, &[])
        .await
        .unwrap()
        .conversation
        .id;
    alice.send_text(conversation, "counted").await.unwrap();
    assert!(alice.conversation(uuid::Uuid::now_v7()).await.is_err());
    let session = alice.connect().await.expect("connect");
    session.ping().await.expect("ping");

    // Metrics are per node (Prometheus scrapes each); a cluster's traffic is spread over them.
    // They are served on a listener of their own, never on the public one.
    let mut text = String::new();
    for node in 0..server.node_count() {
        let public = server
            .node_client(node)
            .raw_request(Method::GET, "/metrics", RawBody::Empty, None)
            .await
            .expect("public /metrics");
        assert!(
            !String::from_utf8_lossy(&public.body).contains("natter_http_requests_total"),
            "metrics leak on the public listener"
        );
        let metrics_url = server.metrics_url(node).expect("metrics listener");
        let metrics = natter_sdk::Client::new(metrics_url.trim_end_matches("/metrics"))
            .expect("metrics client")
            .raw_request(Method::GET, "/metrics", RawBody::Empty, None)
            .await
            .expect("metrics");
        assert_eq!(metrics.status, 200);
        assert!(
            content_type(&metrics).starts_with("text/plain"),
            "{}",
            content_type(&metrics)
        );
        text.push_str(&String::from_utf8(metrics.body.clone()).expect("UTF-8"));
    }
    // Prometheus text format: comments and `name{labels} value` samples.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad sample line {line:?}"
        );
    }
    for family in [
        "natter_ws_connections",
        "natter_http_requests_total",
        "natter_messages_sent_total",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("natter_http_requests_total") && l.contains("status=\"404\"")),
        "errors are counted by status:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("natter_http_requests_total")
                && l.contains("/api/v1/conversations/{id}/messages")),
        "requests are labelled by route template:\n{text}"
    );
    let connections = text
        .lines()
        .find(|l| l.starts_with("natter_ws_connections"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("natter_ws_connections sample");
    assert!(connections >= 1.0, "{connections}");
    tokio::time::timeout(Duration::from_secs(10), session.close())
        .await
        .expect("close in time");
}
