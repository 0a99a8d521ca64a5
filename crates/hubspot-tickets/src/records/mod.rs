//! Records: what one upsert input is, and how Rust values become HubSpot's strings.

mod input;
pub(crate) mod serialize;

pub use input::{IntoPropertyValue, MAX_ID_LEN, NoneAs, TicketInput};
pub use serialize::to_properties;
