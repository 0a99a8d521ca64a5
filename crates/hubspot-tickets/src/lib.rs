//! Facade over the generated HubSpot tickets batch-upsert client (work in progress).

pub use hubspot_tickets_client as generated;
