//! Which time zone names `quiet_hours.time_zone` accepts cannot be a pattern: it is the list
//! of the time zone database natter reads (the system's, or the one bundled with jiff). This
//! states that list as the property's `enum`, so the document accepts exactly what the server
//! does.

use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

pub struct TimeZoneNames;

impl utoipa::Modify for TimeZoneNames {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(quiet))) = components.schemas.get_mut("QuietHoursView")
        else {
            return;
        };
        let Some(RefOr::T(Schema::Object(zone))) = quiet.properties.get_mut("time_zone") else {
            return;
        };
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_owned())
            .filter(|name| jiff::tz::TimeZone::get(name).is_ok())
            .collect();
        names.sort();
        zone.enum_values = Some(names.into_iter().map(Into::into).collect());
    }
}
