//! Finish a stopped run without writing anything twice: keep a journal of what was
//! written (each record's id, fingerprint and position), and on the next run skip what
//! the journal vouches for.
//!
//! `cargo run -p hubspot-tickets --example resume_run`

mod common;

use futures::StreamExt;
use hubspot_tickets::{CancellationToken, Fingerprint, Resume, TicketInput};

fn records() -> Vec<TicketInput> {
    (0..600)
        .map(|i| TicketInput::new(format!("RES-{i}")).property("subject", format!("Ticket {i}")))
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _emulator) = common::connect().await?;
    let id_property = client.id_property().to_owned();

    // Run 1, stopped part way (a signal, a deploy...). The journal is what a real
    // program would append to a file as outcomes arrive.
    let stop = CancellationToken::new();
    let mut journal: Vec<(String, Fingerprint, u64)> = Vec::new();
    let mut outcomes = client
        .bulk_upsert_iter(records())
        .with_cancellation(stop.clone())
        .return_inputs(true)
        .outcomes();
    while let Some(mut o) = outcomes.next().await {
        if let (true, Some(input)) = (o.outcome.is_written(), o.take_input()) {
            journal.push((
                o.id.clone(),
                Fingerprint::of(&input, &id_property),
                o.position,
            ));
        }
        if journal.len() == 100 {
            stop.cancel();
        }
    }
    println!("run 1: {}", outcomes.summary());

    // Run 2: the same input; what the journal shows written with the same content is
    // skipped, the rest is sent.
    let mut resume = Resume::new(&id_property);
    for (id, fingerprint, position) in &journal {
        resume.written(None, id, *fingerprint, *position);
    }
    let rest: Vec<TicketInput> = records()
        .into_iter()
        .enumerate()
        .filter(|(position, input)| resume.decide(input, *position as u64).is_send())
        .map(|(_, input)| input)
        .collect();
    println!("run 2: {} of 600 records to send", rest.len());
    let summary = client.bulk_upsert_iter(rest).summary().await;
    println!("run 2: {summary}");
    Ok(())
}
