//! Which Web Push endpoints a device may register depends on `push.web_push.allowed_hosts`, so
//! the endpoint's `pattern` in the served document is the server's own rule
//! (`natter_push::Pusher::web_push_endpoint_pattern`): a client or fuzzer reading the document
//! knows exactly which endpoints are accepted.

use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

pub struct EndpointPattern<'a>(pub &'a str);

impl utoipa::Modify for EndpointPattern<'_> {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(subscription))) =
            components.schemas.get_mut("WebPushSubscription")
        else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(endpoint))) =
            subscription.properties.get_mut("endpoint")
        {
            endpoint.pattern = Some(self.0.to_owned());
        }
    }
}
