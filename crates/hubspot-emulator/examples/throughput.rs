//! Measures the emulator's throughput on loopback, faults and rate limits off.
//!
//! The emulator runs on ONE thread (a current-thread tokio runtime on its own OS
//! thread), so the figure is "records per second per core". The load comes from N
//! concurrent reqwest clients (each its own connection) on another runtime, posting
//! pre-serialized 100-input batches (5 properties and a trace id per input): the first
//! pass over the ids creates tickets, later passes update them.
//!
//! ```text
//! cargo run --release -p hubspot-emulator --example throughput -- [CLIENTS] [SECONDS] [BATCHES_PER_CLIENT]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hubspot_emulator::{Emulator, EmulatorConfig};
use serde_json::json;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn body(client: u64, batch: u64) -> bytes::Bytes {
    let inputs: Vec<_> = (0..100)
        .map(|i| {
            let id = format!("TP-{client}-{batch}-{i}");
            json!({
                "idProperty": "external_ticket_id",
                "id": id,
                "objectWriteTraceId": format!("trace-{id}"),
                "properties": {
                    "subject": format!("Printer on floor {i} jams on duplex jobs"),
                    "content": "Jams every second duplex job since the firmware update; replaced the tray twice.",
                    "hs_pipeline": "0",
                    "hs_pipeline_stage": "2",
                    "hs_ticket_priority": "HIGH",
                }
            })
        })
        .collect();
    bytes::Bytes::from(serde_json::to_vec(&json!({ "inputs": inputs })).unwrap())
}

fn main() {
    let clients = arg(1, 4);
    let seconds = arg(2, 5);
    let batches = arg(3, 50);

    // The emulator, alone on one thread.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let emu = Emulator::start(EmulatorConfig::default().without_rate_limits())
                .await
                .unwrap();
            tx.send(emu.base_url().to_owned()).unwrap();
            let _ = stop_rx.await;
            let stats = emu.stats();
            let store = emu.tickets().count();
            emu.shutdown().await.unwrap();
            (stats, store)
        })
    });
    let base = rx.recv().unwrap();
    let url = format!("{base}/crm/v3/objects/tickets/batch/upsert");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let latency_us = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let elapsed = rt.block_on(async {
        let bodies: Vec<Vec<bytes::Bytes>> = (0..clients)
            .map(|c| (0..batches).map(|b| body(c, b)).collect())
            .collect();
        // Warm-up: one request per client (connection set-up, first allocations).
        let mut handles = Vec::new();
        let started = Instant::now();
        for (c, bodies) in bodies.into_iter().enumerate() {
            let (url, requests, latency_us, failures, stop) = (
                url.clone(),
                Arc::clone(&requests),
                Arc::clone(&latency_us),
                Arc::clone(&failures),
                Arc::clone(&stop),
            );
            handles.push(tokio::spawn(async move {
                let http = reqwest::Client::builder().no_proxy().build().unwrap();
                let mut i = c; // stagger the clients' positions
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let resp = http
                        .post(&url)
                        .bearer_auth("test-token")
                        .header("content-type", "application/json")
                        .body(bodies[i % bodies.len()].clone())
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            requests.fetch_add(1, Ordering::Relaxed);
                            latency_us.fetch_add(
                                u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX),
                                Ordering::Relaxed,
                            );
                        }
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    i += 1;
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.await;
        }
        started.elapsed()
    });
    let _ = stop_tx.send(());
    let (stats, stored) = server.join().unwrap();

    let n = requests.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    println!("clients: {clients}, duration: {secs:.2} s, batches of 100 inputs");
    println!(
        "requests: {n} ok, {} failed; {:.0} requests/s; {:.0} records/s",
        failures.load(Ordering::Relaxed),
        n as f64 / secs,
        n as f64 * 100.0 / secs
    );
    println!(
        "mean latency {:.2} ms; created {}, updated {}, stored {stored}",
        latency_us.load(Ordering::Relaxed) as f64 / n.max(1) as f64 / 1000.0,
        stats.records_created,
        stats.records_updated
    );
}
