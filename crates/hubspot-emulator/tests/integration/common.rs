//! Helpers shared by the integration tests: every request goes through real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hubspot_emulator::{Emulator, EmulatorConfig, UPSERT_PATH};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const TOKEN: &str = "test-token";
pub const ID_PROP: &str = "external_ticket_id";

/// Default config without rate limits (tests that need limits set them).
pub fn config() -> EmulatorConfig {
    EmulatorConfig::default().without_rate_limits()
}

pub async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).await.expect("emulator starts")
}

/// A fresh client: its own connection pool.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Option<Value>,
}

impl Reply {
    pub fn json(&self) -> &Value {
        self.json
            .as_ref()
            .unwrap_or_else(|| panic!("body is not JSON: {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn header_u64(&self, name: &str) -> Option<u64> {
        self.header(name).and_then(|v| v.parse().ok())
    }
}

pub async fn post_raw(
    http: &reqwest::Client,
    emu: &Emulator,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<Reply, reqwest::Error> {
    post_to(
        http,
        &format!("{}{UPSERT_PATH}", emu.base_url()),
        token,
        body,
    )
    .await
}

pub async fn post_to(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<Reply, reqwest::Error> {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    let json = serde_json::from_str(&text).ok();
    Ok(Reply {
        status,
        headers,
        text,
        json,
    })
}

/// Posts a JSON body with the default token; panics on a transport error.
pub async fn post(emu: &Emulator, body: &Value) -> Reply {
    post_raw(
        &client(),
        emu,
        Some(TOKEN),
        serde_json::to_vec(body).unwrap(),
    )
    .await
    .expect("request succeeds at the HTTP level")
}

pub async fn post_with(http: &reqwest::Client, emu: &Emulator, token: &str, body: &Value) -> Reply {
    post_raw(http, emu, Some(token), serde_json::to_vec(body).unwrap())
        .await
        .expect("request succeeds at the HTTP level")
}

/// One input with idProperty `external_ticket_id`.
pub fn input(id: &str, trace: Option<&str>, properties: Value) -> Value {
    let mut v = json!({"idProperty": ID_PROP, "id": id, "properties": properties});
    if let Some(t) = trace {
        v["objectWriteTraceId"] = json!(t);
    }
    v
}

pub fn batch(inputs: Vec<Value>) -> Value {
    json!({ "inputs": inputs })
}

/// A batch of `n` traced inputs with ids `{prefix}-{i}`.
pub fn traced_batch(prefix: &str, n: usize) -> Value {
    batch(
        (0..n)
            .map(|i| {
                input(
                    &format!("{prefix}-{i}"),
                    Some(&format!("t-{prefix}-{i}")),
                    json!({"subject": format!("Ticket {i}")}),
                )
            })
            .collect(),
    )
}

pub fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

/// `2019-10-30T03:30:17.883Z`.
pub fn is_iso_ms(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    s.len() == 24
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

pub async fn admin_get(emu: &Emulator, path: &str) -> (u16, Value) {
    let resp = client()
        .get(format!("{}{path}", emu.base_url()))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Posts `body` to the upsert path of `version` (`v3` or dated) and `object_type`.
pub async fn post_at(
    emu: &Emulator,
    version: &str,
    object_type: &str,
    token: &str,
    body: &Value,
) -> Reply {
    post_to(
        &client(),
        &emu.upsert_url_for(version, object_type),
        Some(token),
        serde_json::to_vec(body).unwrap(),
    )
    .await
    .expect("request succeeds at the HTTP level")
}

/// One input with an explicit idProperty.
pub fn input_by(id_property: &str, id: &str, trace: Option<&str>, properties: Value) -> Value {
    let mut v = json!({"idProperty": id_property, "id": id, "properties": properties});
    if let Some(t) = trace {
        v["objectWriteTraceId"] = json!(t);
    }
    v
}
