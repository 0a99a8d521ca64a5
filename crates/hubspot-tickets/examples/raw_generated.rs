//! Use the generated progenitor client directly, for anything the facade does not cover.
//! Raw calls bypass the facade's rate limiter and retries.
//!
//! `cargo run -p hubspot-tickets --example raw_generated`

mod common;

use hubspot_tickets::{generated, types};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _emulator) = common::connect().await?;
    let id_property = client.id_property().to_owned();

    let body = types::TicketUpsertBatch {
        inputs: vec![types::TicketUpsertInput {
            id: "RAW-1".into(),
            id_property: Some(id_property),
            object_write_trace_id: Some("raw-example-1".into()),
            properties: [(
                "subject".to_owned(),
                "Written with the raw client".to_owned(),
            )]
            .into(),
        }],
    };
    // Same connection pool and token as the facade.
    match client.generated().batch_upsert_tickets(&body).await {
        Ok(answer) => {
            println!("HTTP {}", answer.status());
            if let Some(max) = answer.headers().get("x-hubspot-ratelimit-remaining") {
                println!("rate limit remaining: {max:?}");
            }
            let result = answer.into_inner();
            for t in &result.results {
                println!(
                    "ticket {} new={} trace={:?}",
                    t.id, t.new, t.object_write_trace_id
                );
            }
            for e in &result.errors {
                println!("input error: {:?} {:?}", e.category, e.message);
            }
        }
        // Error answers keep their status, headers and body (HTML included).
        Err(generated::Error::UnexpectedResponse(resp)) => {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            match serde_json::from_str::<types::ApiError>(&text) {
                Ok(api) => println!("HTTP {status}: {:?} ({:?})", api.message, api.category),
                Err(_) => println!("HTTP {status}, not JSON: {text:.80}"),
            }
        }
        Err(e) => println!("request failed: {e}"),
    }
    Ok(())
}
