//! The limits the OpenAPI document states are the ones the server enforces: utoipa's attributes
//! take only literals, so this test holds each number of `natter-protocol`'s schema attributes to
//! its constant in `natter_domain::limits`.

use natter_domain::limits::*;
use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(super::router().split_for_parts().1).expect("document as JSON")
}

fn property<'a>(doc: &'a Value, schema: &str, field: &str) -> &'a Value {
    let found = &doc["components"]["schemas"][schema]["properties"][field];
    assert!(found.is_object(), "{schema}.{field} in the document");
    found
}

fn query<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .and_then(|params| params.iter().find(|p| p["name"] == name))
        .map(|p| &p["schema"])
        .unwrap_or_else(|| panic!("{name} of GET {path}"))
}

#[test]
fn schema_lengths_and_counts_are_the_domain_limits() {
    let doc = document();
    let lengths = [
        (
            "RegisterRequest",
            "username",
            USERNAME_MIN_CHARS,
            USERNAME_MAX_CHARS,
        ),
        (
            "RegisterRequest",
            "password",
            PASSWORD_MIN_CHARS,
            PASSWORD_MAX_CHARS,
        ),
        ("RegisterRequest", "display_name", 1, DISPLAY_NAME_MAX_CHARS),
        ("RegisterRequest", "device_name", 1, DEVICE_NAME_MAX_CHARS),
        ("LoginRequest", "device_name", 1, DEVICE_NAME_MAX_CHARS),
        (
            "UpdateProfileRequest",
            "display_name",
            1,
            DISPLAY_NAME_MAX_CHARS,
        ),
        ("CreateGroupRequest", "name", 1, GROUP_NAME_MAX_CHARS),
        ("UpdateConversationRequest", "name", 1, GROUP_NAME_MAX_CHARS),
        (
            "SendMessageRequest",
            "client_msg_id",
            1,
            CLIENT_MSG_ID_MAX_BYTES,
        ),
    ];
    let lengths = lengths.into_iter().chain([(
        "WebPushSubscription",
        "endpoint",
        9,
        natter_domain::push::ENDPOINT_MAX,
    )]);
    for (schema, field, min, max) in lengths {
        let p = property(&doc, schema, field);
        assert_eq!(p["minLength"], min, "{schema}.{field} minLength");
        assert_eq!(p["maxLength"], max, "{schema}.{field} maxLength");
    }
    // The tokens of a device registration, one variant each.
    let variants = doc["components"]["schemas"]["RegisterDeviceRequest"]["oneOf"]
        .as_array()
        .expect("RegisterDeviceRequest variants");
    let token_max = |kind: &str| {
        variants
            .iter()
            .find(|v| v["properties"]["kind"]["enum"][0] == kind)
            .map(|v| {
                (
                    v["properties"]["token"]["maxLength"].clone(),
                    v["properties"]["topic"]["maxLength"].clone(),
                )
            })
    };
    use natter_domain::push::{APNS_TOPIC_MAX, FCM_TOKEN_MAX};
    assert_eq!(token_max("fcm"), Some((FCM_TOKEN_MAX.into(), Value::Null)));
    assert_eq!(token_max("apns"), Some((200.into(), APNS_TOPIC_MAX.into())));
    // A caption: empty is allowed when files are attached (the pattern's `^$`), in a send and
    // in an edit.
    for schema in ["SendMessageRequest", "EditMessageRequest"] {
        let caption = property(&doc, schema, "text");
        assert_eq!(
            caption["minLength"],
            Value::Null,
            "no minLength for a caption ({schema})"
        );
        assert_eq!(caption["maxLength"], MESSAGE_TEXT_MAX_CHARS, "{schema}");
    }
    assert_eq!(
        property(&doc, "SendMessageRequest", "attachments")["maxItems"],
        ATTACHMENTS_MAX
    );
    for (schema, field) in [
        ("CreateGroupRequest", "topic"),
        ("UpdateConversationRequest", "topic"),
    ] {
        assert_eq!(property(&doc, schema, field)["maxLength"], TOPIC_MAX_CHARS);
    }
    for schema in ["SendMessageRequest", "EditMessageRequest"] {
        assert_eq!(property(&doc, schema, "mentions")["maxItems"], MENTIONS_MAX);
    }
    // The creator is one of the initial members.
    assert_eq!(
        property(&doc, "CreateGroupRequest", "member_ids")["maxItems"],
        GROUP_INITIAL_MEMBERS_MAX - 1
    );
    let emoji =
        doc["paths"]["/conversations/{id}/messages/{seq}/reactions/{emoji}"]["put"]["parameters"]
            .as_array()
            .and_then(|params| params.iter().find(|p| p["name"] == "emoji"))
            .map(|p| p["schema"]["maxLength"].clone());
    assert_eq!(emoji, Some(REACTION_MAX_CHARS.into()));
    // Page sizes are clamped, so every u32 is accepted: the bound is u32's, not the page's.
    for (path, name) in [
        ("/conversations", "limit"),
        ("/conversations/{id}/messages", "limit"),
        ("/users", "limit"),
    ] {
        let limit = query(&doc, path, name);
        assert_eq!(limit["minimum"], 0, "{path} {name}");
        assert_eq!(limit["maximum"], u32::MAX, "{path} {name}");
    }
}
