//! Run a small bulk upsert and read its report: what was written, what failed and why,
//! what can be sent again.
//!
//! `cargo run -p hubspot-tickets --example read_report`

mod common;

use hubspot_tickets::{BulkReport, ErrorKind, Outcome, RecordInput};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _emulator) = common::connect().await?;

    let mut records: Vec<RecordInput> = (0..250)
        .map(|i| RecordInput::new(format!("RPT-{i}")).property("subject", format!("Ticket {i}")))
        .collect();
    // A few records HubSpot will refuse, and two the facade refuses before sending.
    records[3] = RecordInput::new("RPT-3").property("hs_ticket_priority", "URGENT");
    records[120] = RecordInput::new("RPT-120").property("no_such_property", "x");
    records[200] = RecordInput::new("   ");
    records[201] = RecordInput::new("RPT-201").property("ratio", f64::NAN);
    // The same ticket twice: written in order, the later input wins.
    records[249] = RecordInput::new("RPT-0").property("subject", "Ticket 0, corrected");

    let report = client.bulk_upsert_iter(records).report().await;
    let s = &report.summary;
    println!(
        "{} created, {} updated, {} failed, {} not attempted ({} requests in {:?})",
        s.created, s.updated, s.failed, s.not_attempted, s.requests, s.elapsed
    );
    if let Some(why) = &s.stopped {
        println!("the run stopped early: {why}");
    }
    advise(&report);
    // Every input is in the report exactly once, in input order.
    assert_eq!(report.outcomes.len() as u64, s.read);
    let first = &report.outcomes[0];
    if let Outcome::Created { object_id } | Outcome::Updated { object_id } = &first.outcome {
        println!("RPT-0 is HubSpot ticket {object_id}");
    }
    Ok(())
}

/// What to do about each record the run did not write.
fn advise(report: &BulkReport<'_>) {
    for r in report.not_written() {
        let Some(f) = r.outcome.failure() else {
            continue;
        };
        let advice = match f.kind {
            ErrorKind::Validation | ErrorKind::InvalidInput => "fix the data",
            _ if f.is_retryable() => "send again later",
            _ => "look into it",
        };
        println!(
            "#{:<4} {:<10} {advice}: {f}",
            r.position,
            format!("{:?}", r.id)
        );
    }
}
