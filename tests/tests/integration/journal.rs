//! The facade's run journal: a bulk run resumed from it, twice in a row and from an
//! edited input, another scope refused, one writer at a time, and a failed write that
//! stops the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use hubspot_tickets::bulk::CancellationToken;
use hubspot_tickets::config::ObjectType;
use hubspot_tickets::journal::{JournalError, Scope};
use hubspot_tickets::{ErrorKind, Journal, Outcome, RecordInput};
use integration_tests::*;

const WINDOW: Duration = Duration::from_millis(200);

fn inputs(edited: &[usize]) -> Vec<RecordInput> {
    (0..500)
        .map(|i| {
            let subject = if edited.contains(&i) {
                format!("edited {i}")
            } else {
                format!("ticket {i}")
            };
            RecordInput::new(format!("JR-{i}")).property("subject", subject)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_is_finished_from_its_journal_twice_in_a_row() {
    let emu = start(config(1000, WINDOW)).await;
    let client = build(builder(&emu, 1000, WINDOW).max_concurrency(2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let scope = Scope::of(&client);

    // Run 1 stops after about 150 outcomes.
    let stop = CancellationToken::new();
    let mut outcomes = client
        .bulk_upsert_iter(inputs(&[]))
        .journal(Journal::create(&path, &scope).unwrap())
        .with_cancellation(stop.clone())
        .outcomes();
    let mut n = 0;
    while outcomes.next().await.is_some() {
        n += 1;
        if n == 150 {
            stop.cancel();
        }
    }
    let first = outcomes.summary();
    drop(outcomes);
    assert!(first.written() >= 100 && first.written() < 500, "{first}");

    // Run 2: the same input; what run 1 wrote is skipped, the rest sent.
    let journal = Journal::open(&path, &scope).unwrap();
    assert_eq!(journal.loaded().written, first.written());
    let report = client
        .bulk_upsert_iter(inputs(&[]))
        .journal(journal)
        .report()
        .await;
    let s = &report.summary;
    assert_eq!(s.skipped, first.written(), "{s}");
    assert_eq!(s.created, 500 - first.written(), "{s}");
    assert!(s.all_written(), "{s}");
    // Every input accounted for, at its own position.
    assert_eq!(report.outcomes.len(), 500);
    for (i, o) in report.outcomes.iter().enumerate() {
        assert_eq!(o.position, i as u64);
    }

    // Run 3: an edited input (one record edited back and forth): only the edits go.
    let before = emu.stats().requests;
    let report = client
        .bulk_upsert_iter(inputs(&[3, 499]))
        .journal(Journal::open(&path, &scope).unwrap())
        .report()
        .await;
    assert_eq!(report.summary.updated, 2, "{}", report.summary);
    assert_eq!(report.summary.skipped, 498);
    assert_eq!(emu.stats().requests - before, 1);
    let stored = |id: &str| emu.tickets().get_by_unique(ID_PROPERTY, id).unwrap();
    assert_eq!(stored("JR-3").properties["subject"], "edited 3");
    // Run 4: the original again: the two edits are undone, nothing else is sent.
    let report = client
        .bulk_upsert_iter(inputs(&[]))
        .journal(Journal::open(&path, &scope).unwrap())
        .report()
        .await;
    assert_eq!(report.summary.updated, 2, "{}", report.summary);
    assert_eq!(stored("JR-3").properties["subject"], "ticket 3");
    assert_eq!(stored("JR-499").properties["subject"], "ticket 499");
    assert!(
        report
            .outcomes
            .iter()
            .filter(|o| o.outcome == Outcome::AlreadyWritten)
            .all(|o| o.id != "JR-3")
    );
}

#[tokio::test]
async fn a_journal_is_for_one_scope_and_one_run_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let tickets = Scope::new(&ObjectType::TICKETS, ID_PROPERTY);
    let held = Journal::create(&path, &tickets).unwrap();
    assert!(matches!(
        Journal::open(&path, &tickets),
        Err(JournalError::Locked { .. })
    ));
    assert!(matches!(
        Journal::create(&path, &tickets),
        Err(JournalError::Locked { .. })
    ));
    drop(held);
    let before = std::fs::read(&path).unwrap();
    let contacts = Scope::new(&ObjectType::CONTACTS, ID_PROPERTY);
    let e = Journal::open(&path, &contacts).unwrap_err();
    assert!(matches!(e, JournalError::OtherScope { .. }), "{e}");
    assert!(
        e.to_string().contains("this report is for tickets by"),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    Journal::open(&path, &tickets).unwrap();
}

/// A journal into a pipe whose reader goes away: the run stops at the failed write,
/// and the rest is not attempted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_journal_write_stops_the_run() {
    let emu = start(config(1000, WINDOW)).await;
    let client = build(builder(&emu, 1000, WINDOW).max_concurrency(1));
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Reads the header line, then closes: every later write meets a broken pipe.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let f = std::fs::File::open(fifo).unwrap();
            std::io::BufReader::new(f).read_line(&mut line).unwrap();
            line
        })
    };
    let journal = Journal::create(&fifo, &Scope::of(&client)).unwrap();
    let header = reader.join().unwrap();
    assert!(
        header.contains("\"journal\":\"hubspot-tickets\""),
        "{header}"
    );
    let report = client
        .bulk_upsert_iter(inputs(&[]))
        .journal(journal)
        .report()
        .await;
    let s = &report.summary;
    let why = s
        .stopped
        .as_ref()
        .unwrap_or_else(|| panic!("the run did not stop: {s}"));
    assert_eq!(why.kind, ErrorKind::Journal, "{why}");
    assert!(s.requests <= 3, "{s}");
    assert!(s.written() <= 300, "{s}");
    // Every record read has its outcome; the input after them was not read.
    assert_eq!(report.outcomes.len() as u64, s.read);
}

/// An input with repeated ids, finished, then resumed with a plan: nothing is sent,
/// every record is skipped; without a plan the older records would go again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_resume_never_sends_an_older_value_again() {
    let emu = start(config(1000, WINDOW)).await;
    let client = build(builder(&emu, 1000, WINDOW));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let scope = Scope::of(&client);
    let input: Vec<RecordInput> = ["old", "mid", "new"]
        .iter()
        .flat_map(|v| {
            (0..50).map(move |i| RecordInput::new(format!("RP-{i}")).property("subject", *v))
        })
        .collect();
    let (s, _) = client
        .bulk_upsert_iter(input.clone())
        .journal(Journal::create(&path, &scope).unwrap())
        .summary()
        .await;
    assert!(s.all_written(), "{s}");
    let before = emu.stats().requests;
    let mut journal = Journal::open(&path, &scope).unwrap();
    journal.plan(&input);
    let (s, _) = client
        .bulk_upsert_iter(input)
        .journal(journal)
        .summary()
        .await;
    assert_eq!(s.skipped, 150, "{s}");
    assert_eq!(emu.stats().requests, before);
    let stored = emu.tickets().get_by_unique(ID_PROPERTY, "RP-7").unwrap();
    assert_eq!(stored.properties["subject"], "new");
}
