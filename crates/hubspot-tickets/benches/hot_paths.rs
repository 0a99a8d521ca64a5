//! Criterion micro-benchmarks of the per-record hot paths (issue 6, part 1).
//!
//! Every benchmark works on one full batch of 100 inputs shaped like the comparison
//! harness's records (`bench/compare`: an `external_ticket_id` plus 7 string
//! properties, about 330 bytes a record), and declares a throughput of 100 elements,
//! so criterion's `time` is per batch and the per-record cost is that time / 100
//! (criterion also prints it as elements/s).
//!
//! * `request/build`: 100 `RecordInput`s from owned strings, as the CLI and the bench
//!   driver build them;
//! * `request/serialize`: the generated `TicketUpsertBatch` to JSON bytes (what
//!   reqwest's `.json()` does);
//! * `decode/200`, `decode/207`: a real emulator answer (100 results; 90 results + 10
//!   errors) into the generated `TicketUpsertBatchResult`;
//! * `props/to_properties`, `props/from_serialize`: the struct-to-properties serializer;
//! * `batch/upsert_batch_200`, `batch/upsert_batch_207`: `Client::upsert_batch` end to
//!   end (prepare, serialize, HTTP/1.1 over loopback, decode, outcome mapping) against
//!   a canned server that replays the emulator's answer, so that no server work is
//!   counted beyond a socket write.
//!
//! ```text
//! cargo bench -p hubspot-tickets --bench hot_paths            # about 1 min
//! cargo bench -p hubspot-tickets --bench hot_paths -- --quick # a few seconds
//! ```

// A benchmark is a test-like harness: a broken setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hubspot_emulator::{Emulator, EmulatorConfig, PropertyDef};
use hubspot_tickets::records::NoneAs;
use hubspot_tickets::types::{TicketUpsertBatch, TicketUpsertBatchResult};
use hubspot_tickets::{Client, RateLimit, RecordInput};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const N: usize = 100;
const ID_PROPERTY: &str = "external_ticket_id";
const TOKEN: &str = "bench-token";

/// One record as the harness generates it (`bench/compare`), without its id.
fn record(i: usize) -> Vec<(String, String)> {
    vec![
        (
            "subject".to_owned(),
            format!("Printer on floor {} jams on duplex jobs (case {i})", i % 12),
        ),
        (
            "content".to_owned(),
            format!(
                "Customer {i} reports that every second duplex job jams since the firmware \
                 update; tray 1 affected, serial SN{i:07}."
            ),
        ),
        ("hs_pipeline".to_owned(), "0".to_owned()),
        ("hs_pipeline_stage".to_owned(), "1".to_owned()),
        ("hs_ticket_priority".to_owned(), "LOW".to_owned()),
        ("hs_ticket_category".to_owned(), "PRODUCT_ISSUE".to_owned()),
        ("source_system".to_owned(), "zendesk".to_owned()),
    ]
}

fn id(i: usize) -> String {
    format!("BENCH-{i:08}")
}

/// The same record as a struct, for the serializer benchmarks.
#[derive(Serialize)]
struct Ticket {
    subject: String,
    content: String,
    hs_pipeline: u32,
    hs_pipeline_stage: u32,
    hs_ticket_priority: &'static str,
    hs_ticket_category: &'static str,
    source_system: Option<&'static str>,
    is_escalated: bool,
}

fn ticket(i: usize) -> Ticket {
    Ticket {
        subject: format!("Printer on floor {} jams on duplex jobs (case {i})", i % 12),
        content: format!("Customer {i} reports that every second duplex job jams (SN{i:07})."),
        hs_pipeline: 0,
        hs_pipeline_stage: 1,
        hs_ticket_priority: "LOW",
        hs_ticket_category: "PRODUCT_ISSUE",
        source_system: Some("zendesk"),
        is_escalated: false,
    }
}

/// 100 inputs with explicit trace ids (so that a replayed answer maps by trace id, as
/// a live one does). Every tenth input gets an invalid priority when `with_errors`,
/// which the emulator reports per input in a 207.
fn inputs(with_errors: bool) -> Vec<RecordInput> {
    (0..N)
        .map(|i| {
            let input = RecordInput::new(id(i))
                .with_properties(record(i))
                .with_trace_id(format!("trace-{i}"));
            if with_errors && i % 10 == 3 {
                input.property("hs_ticket_priority", "URGENT")
            } else {
                input
            }
        })
        .collect()
}

/// The wire batch the facade sends for `inputs` (idProperty filled in).
fn wire_batch(inputs: &[RecordInput]) -> TicketUpsertBatch {
    TicketUpsertBatch {
        inputs: inputs
            .iter()
            .map(|i| {
                let mut w = i.clone().into_generated();
                w.id_property = Some(ID_PROPERTY.to_owned());
                w
            })
            .collect(),
    }
}

/// The emulator's real answers (status, body) to `inputs(false)` and `inputs(true)`.
async fn emulator_answers() -> ((u16, Vec<u8>), (u16, Vec<u8>)) {
    let emu = Emulator::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .without_rate_limits()
            .with_property(PropertyDef::string("source_system")),
    )
    .await
    .expect("emulator");
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for with_errors in [false, true] {
        let body = serde_json::to_vec(&wire_batch(&inputs(with_errors))).expect("encode");
        let resp = http
            .post(emu.upsert_url())
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("emulator answer");
        let status = resp.status().as_u16();
        answers.push((status, resp.bytes().await.expect("body").to_vec()));
    }
    emu.shutdown().await.expect("shutdown");
    let second = answers.pop().expect("two answers");
    let first = answers.pop().expect("two answers");
    assert_eq!(first.0, 200, "{}", String::from_utf8_lossy(&first.1));
    assert_eq!(second.0, 207, "{}", String::from_utf8_lossy(&second.1));
    (first, second)
}

/// A keep-alive HTTP/1.1 server on loopback that answers every request with `status`
/// and `body`, whatever it was sent. Returns its base URL.
async fn canned_server(status: u16, body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let reason = if status == 207 { "Multi-Status" } else { "OK" };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json;charset=utf-8\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let response: &'static [u8] = Box::leak(response.into_boxed_slice());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
                let mut chunk = vec![0_u8; 64 * 1024];
                loop {
                    // Answer every complete request in the buffer.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        buf.drain(..end + 4 + len);
                        if sock.write_all(response).await.is_err() {
                            return;
                        }
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ((_, ok_body), (_, multi_body)) = rt.block_on(emulator_answers());

    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Elements(N as u64));
    let raw: Vec<(String, Vec<(String, String)>)> = (0..N).map(|i| (id(i), record(i))).collect();
    g.bench_function("build", |b| {
        b.iter_batched(
            || raw.clone(),
            |raw| {
                raw.into_iter()
                    .map(|(id, props)| RecordInput::new(id).with_properties(props))
                    .collect::<Vec<_>>()
            },
            BatchSize::SmallInput,
        );
    });
    let batch = wire_batch(&inputs(false));
    g.bench_function("serialize", |b| {
        b.iter(|| serde_json::to_vec(black_box(&batch)).expect("encode"));
    });
    g.finish();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(N as u64));
    for (name, body) in [("200", &ok_body), ("207", &multi_body)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                serde_json::from_slice::<TicketUpsertBatchResult>(black_box(body)).expect("decode")
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("props");
    g.throughput(Throughput::Elements(N as u64));
    let tickets: Vec<Ticket> = (0..N).map(ticket).collect();
    g.bench_function("to_properties", |b| {
        b.iter(|| {
            for t in &tickets {
                black_box(hubspot_tickets::records::to_properties(t, NoneAs::Skip).expect("props"));
            }
        });
    });
    let ids: Vec<String> = (0..N).map(id).collect();
    g.bench_function("from_serialize", |b| {
        b.iter(|| {
            for (t, id) in tickets.iter().zip(&ids) {
                black_box(RecordInput::from_serialize(id.as_str(), t).expect("input"));
            }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(N as u64));
    for (name, status, body, with_errors) in [
        ("upsert_batch_200", 200, &ok_body, false),
        ("upsert_batch_207", 207, &multi_body, true),
    ] {
        let base = rt.block_on(canned_server(status, body.clone()));
        let client = rt.block_on(async {
            Client::builder()
                .access_token(TOKEN)
                .base_url(base)
                .id_property(ID_PROPERTY)
                .rate_limit(RateLimit::disabled())
                .build()
                .expect("client")
        });
        let batch = inputs(with_errors);
        // One warm-up request outside the measurement opens the connection.
        let first = rt
            .block_on(client.upsert_batch(batch.clone()))
            .expect("batch");
        assert_eq!(first.records.len(), N);
        g.bench_function(name, |b| {
            b.iter_batched(
                || batch.clone(),
                |batch| rt.block_on(client.upsert_batch(batch)).expect("batch"),
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group! {
    name = hot_paths;
    // Short by default: the machine is shared, and the medians of a few seconds are
    // stable enough to compare changes run side by side.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(hot_paths);
