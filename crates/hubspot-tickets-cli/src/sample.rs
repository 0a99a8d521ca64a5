//! Realistic, reproducible sample tickets for the demo (a seeded generator, so every run
//! of `hubspot-tickets demo --seed N` shows the same data).

use std::io::{self, Write};

use serde::Serialize;

/// A small seeded PRNG (SplitMix64): plenty for sample data, stable across releases.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const PRODUCTS: &[&str] = &[
    "Printer",
    "Laptop",
    "VPN client",
    "Mobile app",
    "Invoice portal",
    "Email sync",
    "Router",
    "Payroll export",
    "Calendar",
    "Badge reader",
];

const PROBLEMS: &[&str] = &[
    "stops responding after the update",
    "shows an error on start-up",
    "is very slow since Monday",
    "cannot connect from the office",
    "loses settings after a restart",
    "rejects valid credentials",
    "prints blank pages",
    "charges the wrong amount",
    "does not send notifications",
    "crashes when exporting",
];

const CUSTOMERS: &[&str] = &[
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Foods",
    "Hooli",
    "Vandelay Imports",
];

const CATEGORIES: &[&str] = &[
    "PRODUCT_ISSUE",
    "BILLING_ISSUE",
    "FEATURE_REQUEST",
    "GENERAL_INQUIRY",
];

const SOURCES: &[&str] = &["CHAT", "EMAIL", "FORM", "PHONE"];

/// The demo's unique property.
pub const ID_PROPERTY: &str = "external_ticket_id";

/// The id of the `n`-th sample ticket.
pub fn ticket_id(n: u64) -> String {
    format!("ZD-{}", 100_000 + n)
}

/// One sample ticket, written as a flat JSON Lines object (numbers stay JSON numbers and
/// categories a JSON list, to show the conversions to HubSpot strings).
#[derive(Debug, Serialize)]
pub struct SampleTicket {
    /// The unique id.
    pub external_ticket_id: String,
    /// One line.
    pub subject: String,
    /// The description.
    pub content: String,
    /// Always the default pipeline, "0".
    pub hs_pipeline: String,
    /// "1" (new) to "4" (closed).
    pub hs_pipeline_stage: String,
    /// LOW, MEDIUM or HIGH.
    pub hs_ticket_priority: &'static str,
    /// One or two categories.
    pub hs_ticket_category: Vec<&'static str>,
    /// Channel.
    pub source_type: &'static str,
    /// Owner id, a number.
    pub hubspot_owner_id: u64,
}

/// Generates ticket `n`.
pub fn ticket(rng: &mut Rng, n: u64) -> SampleTicket {
    let product = rng.pick(PRODUCTS);
    let problem = rng.pick(PROBLEMS);
    let customer = rng.pick(CUSTOMERS);
    let stage = match rng.below(10) {
        0..=4 => "1",
        5..=7 => "2",
        8 => "3",
        _ => "4",
    };
    let priority = match rng.below(10) {
        0..=3 => "LOW",
        4..=7 => "MEDIUM",
        _ => "HIGH",
    };
    let mut categories = vec![*rng.pick(CATEGORIES)];
    if rng.chance(15) {
        let second = *rng.pick(CATEGORIES);
        if second != categories[0] {
            categories.push(second);
        }
    }
    SampleTicket {
        external_ticket_id: ticket_id(n),
        subject: format!("{product} {problem}"),
        content: format!(
            "{customer} reports that the {} {problem}. Reported by {} users.",
            product.to_lowercase(),
            1 + rng.below(40)
        ),
        hs_pipeline: "0".to_owned(),
        hs_pipeline_stage: stage.to_owned(),
        hs_ticket_priority: priority,
        hs_ticket_category: categories,
        source_type: SOURCES[rng.below(SOURCES.len() as u64) as usize],
        hubspot_owner_id: 1_000 + rng.below(12),
    }
}

/// Writes `count` tickets as JSON Lines.
pub fn write_jsonl(out: &mut impl Write, seed: u64, count: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    for n in 0..count {
        serde_json::to_writer(&mut *out, &ticket(&mut rng, n)).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// What the changes file of the demo's second run holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangePlan {
    /// Existing tickets moved along the pipeline (updates).
    pub updated: u64,
    /// New tickets.
    pub created: u64,
    /// Records with values HubSpot refuses (per-input errors in a 207).
    pub refused: u64,
    /// Malformed lines the CLI rejects itself.
    pub malformed: u64,
}

impl ChangePlan {
    /// The plan for a first run of `tickets` tickets.
    pub fn for_tickets(tickets: u64) -> ChangePlan {
        ChangePlan {
            updated: (tickets / 8).max(1),
            created: (tickets / 250).max(1),
            refused: 4,
            malformed: 2,
        }
    }

    /// Lines in the file (header excluded).
    #[cfg(test)]
    pub fn records(&self) -> u64 {
        self.updated + self.created + self.refused + self.malformed
    }
}

/// Writes the second run's CSV: updates of existing tickets (stage forward, priority
/// raised), a few new tickets, new tickets with values HubSpot refuses (an unknown
/// priority, a stage that does not exist), and malformed lines (no id, a missing field),
/// the planted ones spread evenly through the file.
pub fn write_changes_csv(
    out: impl Write,
    seed: u64,
    tickets: u64,
    plan: ChangePlan,
) -> io::Result<()> {
    #[derive(Clone, Copy)]
    enum Row {
        Update(u64),
        Create(u64),
        Refused(u64),
        Malformed(u64),
    }
    let mut rows: Vec<Row> = (0..plan.updated)
        .map(Row::Update)
        .chain((0..plan.created).map(Row::Create))
        .collect();
    let mut planted: Vec<Row> = Vec::new();
    for k in 0..plan.refused.max(plan.malformed) {
        if k < plan.refused {
            planted.push(Row::Refused(k));
        }
        if k < plan.malformed {
            planted.push(Row::Malformed(k));
        }
    }
    let total = rows.len() + planted.len();
    for (k, row) in planted.iter().enumerate() {
        let pos = (k + 1) * total / (planted.len() + 1);
        rows.insert(pos.min(rows.len()), *row);
    }

    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
    w.write_record([
        ID_PROPERTY,
        "subject",
        "hs_pipeline_stage",
        "hs_ticket_priority",
        "content",
    ])?;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let step = (tickets / plan.updated.max(1)).max(1);
    for row in rows {
        match row {
            Row::Update(k) => {
                let id = ticket_id((k * step) % tickets.max(1));
                w.write_record([
                    id.as_str(),
                    "",
                    *rng.pick(&["2", "3", "4"]),
                    *rng.pick(&["MEDIUM", "HIGH"]),
                    "Customer called again; escalated.",
                ])?;
            }
            Row::Create(k) => {
                let t = ticket(&mut rng, tickets + k);
                w.write_record([
                    t.external_ticket_id.as_str(),
                    t.subject.as_str(),
                    "1",
                    t.hs_ticket_priority,
                    t.content.as_str(),
                ])?;
            }
            Row::Refused(k) => {
                let (stage, priority) = if k % 2 == 0 {
                    ("2", "URGENT")
                } else {
                    ("9", "HIGH")
                };
                w.write_record([
                    ticket_id(tickets + 1_000 + k).as_str(),
                    "Escalated by phone",
                    stage,
                    priority,
                    "",
                ])?;
            }
            Row::Malformed(k) if k % 2 == 0 => {
                w.write_record([
                    "",
                    "Caller hung up before giving a ticket number",
                    "1",
                    "LOW",
                    "",
                ])?;
            }
            Row::Malformed(k) => {
                w.write_record([ticket_id(tickets + 2_000 + k).as_str(), "Half a line"])?;
            }
        }
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn tickets_are_reproducible_and_valid_for_the_emulator_schema() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_jsonl(&mut a, 7, 50).unwrap();
        write_jsonl(&mut b, 7, 50).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 50);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["external_ticket_id"], "ZD-100000");
        assert!(first["hubspot_owner_id"].is_u64());
        assert!(first["hs_ticket_category"].is_array());
    }

    #[test]
    fn changes_file_follows_the_plan() {
        for tickets in [1, 10, 5000] {
            let plan = ChangePlan::for_tickets(tickets);
            let mut buf = Vec::new();
            write_changes_csv(&mut buf, 42, tickets, plan).unwrap();
            let mut rdr = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(buf.as_slice());
            let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
            assert_eq!(rows.len() as u64, plan.records(), "tickets {tickets}");
            let malformed = rows
                .iter()
                .filter(|r| r.len() != 5 || r[0].is_empty())
                .count() as u64;
            assert_eq!(malformed, plan.malformed, "tickets {tickets}");
            let refused = rows
                .iter()
                .filter(|r| r.len() == 5 && (&r[3] == "URGENT" || &r[2] == "9"))
                .count() as u64;
            assert_eq!(refused, plan.refused, "tickets {tickets}");
        }
    }
}
