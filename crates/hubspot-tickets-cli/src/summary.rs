//! The end-of-run summary table (one column per run; the demo shows two side by side).

use std::fmt::Write as _;
use std::time::Duration;

/// The numbers of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunStats {
    /// Column title.
    pub label: String,
    /// Input records read (valid and invalid).
    pub read: u64,
    /// Tickets created.
    pub created: u64,
    /// Tickets updated.
    pub updated: u64,
    /// Records HubSpot refused or that could not be sent.
    pub failed: u64,
    /// Records never sent (the run stopped).
    pub not_attempted: u64,
    /// Bad input lines.
    pub invalid: u64,
    /// Records `--resume` skipped: written before with the same content, or superseded
    /// by a later record with the same id that was.
    pub skipped: u64,
    /// Failed records left out of `--failed`: a later record with the same id was
    /// written (re-running the older one would put its value back).
    pub superseded: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Retried requests.
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// 423 Locked answers received (waited out; the records were sent again).
    pub locked: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl RunStats {
    /// Records that ended written in HubSpot.
    pub fn succeeded(&self) -> u64 {
        self.created + self.updated
    }

    /// Records that did not end written (including bad lines).
    pub fn unsuccessful(&self) -> u64 {
        self.failed + self.not_attempted + self.invalid
    }

    /// Records handled per second of wall-clock time.
    pub fn records_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.succeeded() + self.failed + self.not_attempted) as f64 / secs
        } else {
            0.0
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration for people: `850 ms`, `2.41 s`, `3 min 05 s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// Renders the table: a row per figure, a column per run.
pub fn render(runs: &[RunStats]) -> String {
    type Row = (&'static str, fn(&RunStats) -> String);
    let rows: [Row; 14] = [
        ("records read", |r| thousands(r.read)),
        ("  skipped (written before)", |r| thousands(r.skipped)),
        ("  created", |r| thousands(r.created)),
        ("  updated", |r| thousands(r.updated)),
        ("  failed", |r| thousands(r.failed)),
        ("    superseded later", |r| thousands(r.superseded)),
        ("  not attempted", |r| thousands(r.not_attempted)),
        ("  invalid input lines", |r| thousands(r.invalid)),
        ("requests", |r| thousands(r.requests)),
        ("  retries", |r| thousands(r.retries)),
        ("  429 answers", |r| thousands(r.rate_limited)),
        ("  423 answers", |r| thousands(r.locked)),
        ("elapsed", |r| human_duration(r.elapsed)),
        ("records/s", |r| {
            thousands(r.records_per_second().round().max(0.0) as u64)
        }),
    ];
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let cells: Vec<Vec<String>> = runs
        .iter()
        .map(|run| rows.iter().map(|(_, f)| f(run)).collect())
        .collect();
    let widths: Vec<usize> = runs
        .iter()
        .zip(&cells)
        .map(|(run, col)| {
            col.iter()
                .map(String::len)
                .chain([run.label.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{:label_width$}", "");
    for (run, w) in runs.iter().zip(&widths) {
        let _ = write!(out, "   {:>w$}", run.label);
    }
    out.push('\n');
    let rule = label_width + widths.iter().map(|w| w + 3).sum::<usize>();
    out.push_str(&"-".repeat(rule));
    out.push('\n');
    for (i, (label, _)) in rows.iter().enumerate() {
        let _ = write!(out, "{label:label_width$}");
        for (col, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "   {:>w$}", col[i]);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn numbers_and_durations() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(human_duration(Duration::from_millis(2414)), "2.41 s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3 min 05 s");
    }

    #[test]
    fn table_has_one_column_per_run() {
        let a = RunStats {
            label: "run 1".into(),
            read: 5000,
            created: 5000,
            requests: 50,
            elapsed: Duration::from_secs(2),
            ..RunStats::default()
        };
        let b = RunStats {
            label: "run 2: changes".into(),
            read: 523,
            updated: 500,
            failed: 20,
            invalid: 3,
            requests: 6,
            elapsed: Duration::from_millis(500),
            ..RunStats::default()
        };
        let t = render(&[a, b]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("run 1   run 2: changes"), "{t}");
        assert!(lines[2].starts_with("records read"));
        assert!(lines[2].ends_with("5,000              523"), "{t}");
        assert!(lines[15].ends_with("2,500            1,040"), "{t}");
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{t}");
    }
}
