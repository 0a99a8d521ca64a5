//! Where the examples send requests: HubSpot when `HUBSPOT_ACCESS_TOKEN` is set
//! (`HUBSPOT_ID_PROPERTY` names your unique ticket property, default
//! `external_ticket_id`), otherwise a local emulator started for the example.

use std::time::Duration;

use hubspot_emulator::{Emulator, EmulatorConfig, RateLimitConfig};
use hubspot_tickets::{Client, ClientBuilder, RateLimit};

/// The client, and the emulator behind it when there is one (keep it alive).
pub async fn connect() -> Result<(Client, Option<Emulator>), Box<dyn std::error::Error>> {
    if std::env::var_os("HUBSPOT_ACCESS_TOKEN").is_some() {
        let id_property = std::env::var("HUBSPOT_ID_PROPERTY")
            .unwrap_or_else(|_| "external_ticket_id".to_owned());
        let client = Client::builder()
            .access_token_from_env()
            .id_property(id_property)
            .build()?;
        return Ok((client, None));
    }
    // A scaled rate window (40 requests per second) so the example runs quickly.
    let window = Duration::from_secs(1);
    let emu = Emulator::start(
        EmulatorConfig::default()
            .with_tokens(["example-token"])
            .with_rate_limit(RateLimitConfig::per_window(40, window)),
    )
    .await?;
    eprintln!(
        "(no HUBSPOT_ACCESS_TOKEN: using a local emulator at {})",
        emu.base_url()
    );
    let client = local(&emu)
        .rate_limit(RateLimit::per_window(40, window))
        .build()?;
    Ok((client, Some(emu)))
}

fn local(emu: &Emulator) -> ClientBuilder {
    Client::builder()
        .access_token("example-token")
        .base_url(emu.base_url())
        .id_property(hubspot_emulator::DEFAULT_UNIQUE_PROPERTY)
}
