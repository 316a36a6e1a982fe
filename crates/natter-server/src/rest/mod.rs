//! The REST API under `/api/v1`. Every route is declared once with `utoipa-axum`, so the OpenAPI
//! document at `/api/v1/openapi.json` is generated from the same code that serves it.

mod accounts;
mod closed_variants;
mod conversations;
mod files;
mod messages;
mod password;
mod push;
pub mod push_endpoints;
mod responses;
#[cfg(test)]
mod schema_limits;
mod search;
mod time_zones;
mod tus_header;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "natter", description = "natter chat server REST API. Real-time events: WebSocket at /api/v1/ws (see docs/protocol.md)."),
    servers((url = "/api/v1", description = "This server: every path is relative to /api/v1.")),
    modifiers(&BearerAuth),
    components(schemas(natter_protocol::ErrorBody)),
    security(("bearer" = [])),
    tags((name = "auth"), (name = "users"), (name = "conversations"), (name = "messages"), (name = "files"), (name = "push"), (name = "search"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API routes (relative to `/api/v1`) and their OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    let mut router = routes();
    // After the routes: it completes each operation's declared answers.
    utoipa::Modify::modify(&responses::TransportErrors, router.get_openapi_mut());
    utoipa::Modify::modify(&closed_variants::ClosedVariants, router.get_openapi_mut());
    utoipa::Modify::modify(&time_zones::TimeZoneNames, router.get_openapi_mut());
    utoipa::Modify::modify(&tus_header::TusResumable, router.get_openapi_mut());
    router
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::refresh))
        .routes(routes!(accounts::logout))
        .routes(routes!(password::change_password))
        .routes(routes!(accounts::sessions))
        .routes(routes!(accounts::revoke_session))
        .routes(routes!(accounts::me, accounts::update_me))
        .routes(routes!(
            push::notification_settings,
            push::set_notification_settings
        ))
        .routes(routes!(push::register_device, push::devices))
        .routes(routes!(push::remove_device))
        .routes(routes!(push::vapid_public_key))
        .routes(routes!(accounts::search))
        .routes(routes!(accounts::user))
        .routes(routes!(conversations::open_direct))
        .routes(routes!(conversations::create_group, conversations::list))
        .routes(routes!(conversations::get, conversations::update))
        .routes(routes!(conversations::mute))
        .routes(routes!(conversations::members, conversations::add_member))
        .routes(routes!(
            conversations::update_member,
            conversations::remove_member
        ))
        .routes(routes!(conversations::sync))
        .routes(routes!(messages::send, messages::history))
        .routes(routes!(messages::edit, messages::delete))
        .routes(routes!(messages::react, messages::unreact))
        .routes(routes!(messages::read))
        .routes(routes!(messages::delivered))
        .routes(routes!(search::messages))
        .routes(routes!(messages::typing))
        .routes(routes!(files::create_upload, files::discover))
        .routes(routes!(
            files::upload_status,
            files::append,
            files::cancel_upload
        ))
        .routes(routes!(files::file))
        .routes(routes!(files::download))
        .routes(routes!(files::check_url))
}
