//! Upsert tickets from your own `Serialize` struct, one batch.
//!
//! `cargo run -p hubspot-tickets --example upsert_struct`

mod common;

use chrono::{TimeZone, Utc};
use hubspot_tickets::records::NoneAs;
use hubspot_tickets::{Outcome, RecordInput};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Priority {
    Low,
    High,
}

/// One row of your system, named like HubSpot's ticket properties.
#[derive(Serialize)]
struct Ticket {
    subject: String,
    content: Option<String>,      // None: left out (or cleared, see below)
    hs_pipeline_stage: u8,        // "2"
    hs_ticket_priority: Priority, // "HIGH"
    hs_ticket_category: Vec<&'static str>, // multi-select: "PRODUCT_ISSUE;BILLING_ISSUE"
    closed_date: Option<chrono::DateTime<Utc>>, // epoch milliseconds (a NaiveDate: midnight UTC)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _emulator) = common::connect().await?;

    let rows = [
        (
            "ZD-48213",
            Ticket {
                subject: "Printer on floor 3 jams on duplex jobs".into(),
                content: Some("Since the firmware update.".into()),
                hs_pipeline_stage: 2,
                hs_ticket_priority: Priority::High,
                hs_ticket_category: vec!["PRODUCT_ISSUE"],
                closed_date: None,
            },
        ),
        (
            "ZD-48214",
            Ticket {
                subject: "Refund for order 10023".into(),
                content: None,
                hs_pipeline_stage: 4,
                hs_ticket_priority: Priority::Low,
                hs_ticket_category: vec!["BILLING_ISSUE", "GENERAL_INQUIRY"],
                closed_date: Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).single(),
            },
        ),
    ];

    let mut inputs = Vec::new();
    for (id, row) in &rows {
        // `NoneAs::Clear` would send "" for `content: None` and clear it in HubSpot.
        let input = RecordInput::from_serialize_with(*id, row, NoneAs::Skip)?;
        println!("{id}: {:?}", input.properties());
        inputs.push(input);
    }

    let outcome = client.upsert_batch(inputs).await?;
    println!(
        "HTTP {:?} after {} request(s)",
        outcome.status, outcome.requests
    );
    for r in &outcome.records {
        match &r.outcome {
            Outcome::Created { object_id } => println!("{}: created ticket {object_id}", r.id),
            Outcome::Updated { object_id } => println!("{}: updated ticket {object_id}", r.id),
            Outcome::Failed { reason } => println!("{}: failed: {reason}", r.id),
            other => println!("{}: {other:?}", r.id),
        }
    }
    Ok(())
}
