//! utoipa says `additionalProperties: false` for a struct with `deny_unknown_fields`, but not
//! for the variants of an internally tagged enum with it (`RegisterDeviceRequest`): this closes
//! each object variant of every request's `oneOf`, so the document refuses unknown fields exactly
//! where the server does, and names the tag as the `oneOf`'s discriminator.

use utoipa::openapi::schema::{AdditionalProperties, Discriminator, Schema};
use utoipa::openapi::{OpenApi, RefOr};

/// The field internally tagged request enums are tagged by.
const TAG: &str = "kind";

pub struct ClosedVariants;

impl utoipa::Modify for ClosedVariants {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (name, schema) in components.schemas.iter_mut() {
            let RefOr::T(Schema::OneOf(one_of)) = schema else {
                continue;
            };
            if !name.ends_with("Request") {
                continue;
            }
            let mut tagged = true;
            for variant in &mut one_of.items {
                if let RefOr::T(Schema::Object(object)) = variant {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                    tagged &= object.properties.contains_key(TAG);
                }
            }
            if tagged {
                one_of.discriminator = Some(Discriminator::new(TAG));
            }
        }
    }
}
