//! Records: what one upsert input is, and how Rust and JSON values become HubSpot's strings.

mod input;
mod json;
pub(crate) mod serialize;
mod values;

pub use input::{IntoPropertyValue, MAX_ID_LEN, NoneAs, RecordInput};
pub use json::{JsonRecordError, JsonRecordErrorKind};
pub use serialize::to_properties;
pub use values::{
    FieldError, MAX_PROPERTY_NAME_CHARS, MAX_VALUE_CHARS, check_id, check_property_name,
    check_property_value,
};
