//! Records: what one upsert input is, and how Rust and JSON values become HubSpot's strings.

mod input;
pub(crate) mod json;
pub(crate) mod serialize;
pub(crate) mod values;

pub use input::{IntoPropertyValue, MAX_ID_LEN, NoneAs, RecordInput};
pub use serialize::to_properties;
