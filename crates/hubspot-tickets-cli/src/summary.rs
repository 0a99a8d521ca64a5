//! The end-of-run summary table (one column per run; the demo shows two side by side).

use std::fmt::Write as _;
use std::time::Duration;

use hubspot_tickets::Counts;

/// The numbers of one run: the facade's [`Counts`] (the one type for a run's counts,
/// the same the library's progress and summary use), and what only a run reading a
/// file has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunStats {
    /// Column title.
    pub label: String,
    /// The counts; `read` is every input record, bad lines included, and `skipped` the
    /// records `--resume` skipped (written before with the same content, or superseded
    /// by a later record with the same id that was).
    pub counts: Counts,
    /// Bad input lines.
    pub invalid: u64,
    /// Failed records left out of `--failed`: a later record with the same id was
    /// written (re-running the older one would put its value back).
    pub superseded: u64,
}

impl RunStats {
    /// Records that did not end written (including bad lines).
    pub fn unsuccessful(&self) -> u64 {
        self.counts.failed + self.counts.not_attempted + self.invalid
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
        ("records read", |r| thousands(r.counts.read)),
        ("  skipped (written before)", |r| {
            thousands(r.counts.skipped)
        }),
        ("  created", |r| thousands(r.counts.created)),
        ("  updated", |r| thousands(r.counts.updated)),
        ("  failed", |r| thousands(r.counts.failed)),
        ("    superseded later", |r| thousands(r.superseded)),
        ("  not attempted", |r| thousands(r.counts.not_attempted)),
        ("  invalid input lines", |r| thousands(r.invalid)),
        ("requests", |r| thousands(r.counts.requests)),
        ("  retries", |r| thousands(r.counts.retries)),
        ("  429 answers", |r| thousands(r.counts.rate_limited)),
        ("  423 answers", |r| thousands(r.counts.locked)),
        ("elapsed", |r| human_duration(r.counts.elapsed)),
        // Records written per second: a run that wrote nothing (stopped before any
        // record was sent, or every one refused) has no rate to show.
        ("records/s", |r| match r.counts.written() {
            0 => "-".to_owned(),
            _ => thousands(r.counts.records_per_second().round().max(0.0) as u64),
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
        let mut a = RunStats {
            label: "run 1".into(),
            ..RunStats::default()
        };
        a.counts.read = 5000;
        a.counts.created = 5000;
        a.counts.requests = 50;
        a.counts.elapsed = Duration::from_secs(2);
        let mut b = RunStats {
            label: "run 2: changes".into(),
            invalid: 3,
            ..RunStats::default()
        };
        b.counts.read = 523;
        b.counts.updated = 500;
        b.counts.failed = 20;
        b.counts.requests = 6;
        b.counts.elapsed = Duration::from_millis(500);
        let mut stopped = RunStats {
            label: "stopped".into(),
            ..RunStats::default()
        };
        stopped.counts.read = 158_000;
        stopped.counts.not_attempted = 158_000;
        stopped.counts.elapsed = Duration::from_secs(1);
        let t = render(&[a, b, stopped]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].ends_with("run 1   run 2: changes   stopped"),
            "{t}"
        );
        assert!(lines[2].starts_with("records read"));
        assert!(
            lines[2].ends_with("5,000              523   158,000"),
            "{t}"
        );
        // Written per second; a run that sent nothing shows no rate.
        assert!(
            lines[15].ends_with("2,500            1,000         -"),
            "{t}"
        );
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{t}");
    }
}
