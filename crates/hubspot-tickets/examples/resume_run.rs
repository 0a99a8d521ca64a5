//! Finish a stopped run without writing anything twice: the run keeps a journal (one
//! JSON line per outcome, in a file), and the next run opened on the same journal
//! skips what it shows written with the same content and sends the rest. Resumed twice
//! in a row, the second time with an edited input.
//!
//! `cargo run -p hubspot-tickets --example resume_run`

mod common;

use futures::StreamExt;
use hubspot_tickets::bulk::CancellationToken;
use hubspot_tickets::journal::Scope;
use hubspot_tickets::{Journal, RecordInput};

fn records(edited: bool) -> Vec<RecordInput> {
    (0..600)
        .map(|i| {
            let subject = if edited && i % 100 == 0 {
                format!("Ticket {i}, edited")
            } else {
                format!("Ticket {i}")
            };
            RecordInput::new(format!("RES-{i}")).property("subject", subject)
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _emulator) = common::connect().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sync.journal");
    let scope = Scope::of(&client);

    // Run 1, stopped part way (a signal, a deploy...).
    let stop = CancellationToken::new();
    let mut outcomes = client
        .bulk_upsert_iter(records(false))
        .journal(Journal::create(&path, &scope)?)
        .with_cancellation(stop.clone())
        .outcomes();
    let mut seen = 0;
    while outcomes.next().await.is_some() {
        seen += 1;
        if seen == 100 {
            stop.cancel();
        }
    }
    println!("run 1: {}", outcomes.summary());
    drop(outcomes); // releases the journal's lock

    // Run 2: the same input, resumed from the journal.
    let journal = Journal::open(&path, &scope)?;
    println!(
        "run 2: the journal shows {} records written",
        journal.loaded().written
    );
    let (summary, _) = client
        .bulk_upsert_iter(records(false))
        .journal(journal)
        .summary()
        .await;
    println!("run 2: {summary}");

    // Run 3: an edited export; only the six edited records are sent.
    let (summary, _) = client
        .bulk_upsert_iter(records(true))
        .journal(Journal::open(&path, &scope)?)
        .summary()
        .await;
    println!("run 3: {summary}");
    assert_eq!((summary.skipped, summary.updated), (594, 6));
    Ok(())
}
