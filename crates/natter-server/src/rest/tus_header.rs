//! `Tus-Resumable` names the one tus version natter speaks: the document says so as an `enum`
//! (utoipa's tuple parameters take a pattern, which fuzzers do not all honour for headers), so
//! another value is schema-invalid, as the server's 412 `unsupported_version` treats it.

use utoipa::openapi::path::Parameter;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

use crate::media::tus::VERSION;

pub struct TusResumable;

impl utoipa::Modify for TusResumable {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
                &mut item.head,
                &mut item.options,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter {
                        close(parameter);
                    }
                }
            }
        }
    }
}

fn close(parameter: &mut Parameter) {
    if parameter.name != "Tus-Resumable" {
        return;
    }
    if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
        schema.pattern = None;
        schema.enum_values = Some(vec![VERSION.into()]);
    }
}
