//! Helpers shared by the CLI's integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use hubspot_emulator::{Emulator, EmulatorConfig};

/// An emulator on its own runtime, on an ephemeral loopback port, alive while this
/// value is (or until [`Emu::shutdown`]).
pub struct Emu {
    emu: Option<Emulator>,
    rt: tokio::runtime::Runtime,
}

impl Emu {
    pub fn start(config: EmulatorConfig) -> Emu {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let emu = rt.block_on(Emulator::start(config)).unwrap();
        Emu { emu: Some(emu), rt }
    }

    pub fn emulator(&self) -> &Emulator {
        self.emu.as_ref().expect("emulator running")
    }

    pub fn url(&self) -> &str {
        self.emulator().base_url()
    }

    /// The stored properties of the ticket whose `external_ticket_id` is `id`.
    pub fn ticket(&self, id: &str) -> Option<BTreeMap<String, String>> {
        self.emulator()
            .tickets()
            .get_by_unique("external_ticket_id", id)
            .map(|t| t.properties)
    }

    pub fn count(&self) -> usize {
        self.emulator().tickets().count()
    }

    pub fn requests(&self) -> u64 {
        self.emulator().stats().requests
    }

    /// Stops the server and saves its state file.
    pub fn shutdown(mut self) {
        if let Some(emu) = self.emu.take() {
            self.rt.block_on(emu.shutdown()).unwrap();
        }
    }
}

/// The outcome lines of a `--report` file, as JSON (its header, the first line, left
/// out after checking it names the journal format, and the `sending` lines written
/// before each batch).
pub fn report(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["journal"], "hubspot-tickets", "{header}");
    lines
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("sending").is_none())
        .collect()
}

/// The binary, with a timeout and without the caller's token or log settings.
pub fn cli() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("hubspot-tickets").unwrap();
    cmd.timeout(Duration::from_secs(180))
        .env_remove("HUBSPOT_ACCESS_TOKEN")
        .env_remove("RUST_LOG");
    cmd
}

/// The arguments of an `upsert` of tickets by `external_ticket_id` against `url`,
/// without a progress display.
pub fn upsert_args(url: &str) -> [&str; 7] {
    [
        "upsert",
        "--id-property",
        "external_ticket_id",
        "--base-url",
        url,
        "--progress",
        "none",
    ]
}

/// `upsert` of tickets against `url` with `token`, run to its end (see [`cli`]).
pub fn upsert(url: &str, token: &str) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.env("HUBSPOT_ACCESS_TOKEN", token)
        .args(upsert_args(url));
    cmd
}

/// The same as a process to start, wait for or kill (output discarded).
pub fn upsert_process(url: &str, token: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("hubspot-tickets"));
    cmd.env("HUBSPOT_ACCESS_TOKEN", token)
        .env_remove("RUST_LOG")
        .args(upsert_args(url))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Writes `text` to `dir/name`; returns its path.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A finished command's stdout then stderr, for checks on everything it printed.
pub fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
