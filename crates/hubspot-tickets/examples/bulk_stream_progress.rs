//! Upsert a stream of any length in concurrent batches, with a progress line.
//!
//! `cargo run -p hubspot-tickets --example bulk_stream_progress -- 20000`

mod common;

use std::time::Duration;

use futures::StreamExt;
use hubspot_tickets::{Outcome, Progress, RecordInput};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let (client, _emulator) = common::connect().await?;

    // Any `Stream` works: lines of a file, rows of a database cursor, a channel...
    let records = futures::stream::iter(0..n).map(|i| {
        RecordInput::new(format!("BULK-{i}"))
            .property("subject", format!("Imported ticket {i}"))
            .property(
                "hs_ticket_priority",
                if i % 10 == 0 { "HIGH" } else { "LOW" },
            )
    });

    let progress = Progress::new();
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(500));
            loop {
                every.tick().await;
                let s = progress.snapshot();
                eprintln!(
                    "{:>7}/{:<7} written {:>7}  {:>6.0} records/s  {:>5.1} requests/s  retries {}  429s {}",
                    s.done(),
                    s.read,
                    s.created + s.updated,
                    s.records_per_second(),
                    s.requests_per_second(),
                    s.retries,
                    s.rate_limited
                );
            }
        })
    };

    let mut outcomes = client
        .bulk_upsert(records)
        .with_progress(progress.clone())
        .outcomes();
    while let Some(r) = outcomes.next().await {
        // Outcomes arrive as soon as each batch answers; memory stays bounded.
        if let Outcome::Failed { reason } | Outcome::NotAttempted { reason } = &r.outcome {
            eprintln!("record {} ({}) not written: {reason}", r.position, r.id);
        }
    }
    ticker.abort();
    let s = outcomes.summary();
    println!(
        "{} records: {} created, {} updated, {} failed, {} not attempted; {} requests, {} retries, {} x 429, {:.1} s",
        s.read,
        s.created,
        s.updated,
        s.failed,
        s.not_attempted,
        s.requests,
        s.retries,
        s.rate_limited,
        s.elapsed.as_secs_f64()
    );
    Ok(())
}
