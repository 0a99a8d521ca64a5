//! Knowing the portal before writing (issue 24): an object type's property definitions,
//! read once per run from HubSpot's properties operation, and the checks each record
//! passes before it is sent.
//!
//! A record HubSpot would refuse (a property that does not exist or cannot be written,
//! a value of the wrong form, an enumeration's label where its value belongs) costs a
//! request, a slot in the rate-limit window and, for a batch without trace ids, the
//! batch. Checked here first, it becomes a [`Problem`] naming the property and, for a
//! near miss, what was probably meant; the others go on. A problem of the run's
//! configuration (the `idProperty` or a column that does not exist, an `idProperty`
//! without unique values) stops the run before any write and names every such column at
//! once ([`ConfigurationError`]).
//!
//! - [`PropertyDefinitions`]: one object type's definitions, indexed by name and label.
//! - [`check_record`] and [`check_configuration`]: pure functions over definitions and
//!   records; nothing here talks to the network.
//! - [`Client::property_definitions`](crate::Client::property_definitions): one
//!   request for the client's object type, through its limiter and retries;
//!   [`DefinitionCache`] keeps each object type's for the run.
//! - [`Preflight`]: the definitions and the run's `idProperty` together; a record in,
//!   "send it" or an invalid [`Outcome`](crate::Outcome) out.

mod check;
mod definitions;
pub(crate) mod fetch;
mod gate;

pub use check::{
    ConfigProblem, ConfigurationError, NearMiss, Problem, ValueProblem, check_configuration,
    check_record, check_value,
};
pub use definitions::{PropertyDefinition, PropertyDefinitions, ValueType};
pub use fetch::{DefinitionCache, PreflightError, PreflightErrorKind};
pub use gate::Preflight;
