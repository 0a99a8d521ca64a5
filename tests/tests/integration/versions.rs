//! One scenario suite, run for every API version (v3, 2026-03, 2026-09) and object type
//! (tickets by `external_ticket_id`, contacts by their built-in `email`, a custom
//! object by its id `2-123`): create, update, a partial failure (207 or folded into a
//! 200), whole-batch 400 bisection, 429s with and without `Retry-After`, the daily
//! stop, and a connection dropped after a write. `matrix!` writes one test per
//! (version, object type, scenario); the scenarios are written once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use hubspot_emulator::{
    CustomObjectDef, Emulator, EmulatorConfig, FaultConfig, FaultKind, Policy, PropertyDef,
    RateLimitConfig, Store,
};
use hubspot_tickets::config::{ApiVersion, ObjectType};
use hubspot_tickets::{BulkReport, ClientBuilder, ErrorKind, Outcome, RateLimit, RecordInput};
use integration_tests::*;

const WINDOW: Duration = Duration::from_millis(500);
const CUSTOM_ID: &str = "2-123";

/// What differs between object types: the path name, the unique property, one valid
/// property to send.
#[derive(Clone, Copy, Debug)]
struct Kind {
    object_type: &'static str,
    id_property: &'static str,
    property: &'static str,
}

const TICKETS: Kind = Kind {
    object_type: "tickets",
    id_property: ID_PROPERTY,
    property: "subject",
};
const CONTACTS: Kind = Kind {
    object_type: "contacts",
    id_property: "email",
    property: "firstname",
};
const CUSTOM: Kind = Kind {
    object_type: CUSTOM_ID,
    id_property: "vin",
    property: "model",
};

struct Case {
    version: &'static str,
    kind: Kind,
}

impl Case {
    fn id(&self, prefix: &str, i: usize) -> String {
        match self.kind.id_property {
            "email" => format!("{}-{i}@example.com", prefix.to_ascii_lowercase()),
            _ => format!("{prefix}-{i}"),
        }
    }

    fn records(&self, prefix: &str, range: std::ops::Range<usize>) -> Vec<RecordInput> {
        range
            .map(|i| {
                RecordInput::new(self.id(prefix, i)).property(self.kind.property, format!("v{i}"))
            })
            .collect()
    }

    /// A record HubSpot refuses on its own: an unknown property.
    fn bad(&self, prefix: &str, i: usize) -> RecordInput {
        RecordInput::new(self.id(prefix, i)).property("no_such_property", "x")
    }

    fn config(&self) -> EmulatorConfig {
        config(100, WINDOW).with_custom_object(
            CustomObjectDef::new(CUSTOM_ID, "p_2418337_cars")
                .with_unique_property("vin")
                .with_property(PropertyDef::string("model")),
        )
    }

    fn builder(&self, emu: &Emulator) -> ClientBuilder {
        builder(emu, 100, WINDOW)
            .api_version(self.version.parse().unwrap())
            .object_type(self.kind.object_type.parse().unwrap())
            .id_property(self.kind.id_property)
    }

    fn store<'e>(&self, emu: &'e Emulator) -> &'e Store {
        emu.store_for(self.kind.object_type).unwrap()
    }

    fn folds(&self) -> bool {
        self.version
            .parse::<ApiVersion>()
            .unwrap()
            .folds_partial_failures()
    }

    /// Every request reached this case's version and object type, and nothing else
    /// was written anywhere.
    fn check_routing(&self, emu: &Emulator) {
        let stats = emu.stats();
        assert!(!stats.request_log.is_empty());
        for entry in &stats.request_log {
            assert_eq!(entry.api_version, self.version, "{entry:?}");
            let expected = match self.kind.object_type {
                CUSTOM_ID => "p_2418337_cars",
                other => other,
            };
            assert_eq!(entry.object_type, expected, "{entry:?}");
        }
        for other in ["tickets", "contacts", CUSTOM_ID] {
            if other != self.kind.object_type {
                assert_eq!(emu.store_for(other).unwrap().count(), 0, "{other}");
            }
        }
        assert!(
            stats.duplicate_creates.is_empty(),
            "{:?}",
            stats.duplicate_creates
        );
    }
}

fn exactly_once(report: &BulkReport<'_>, n: usize) {
    assert_eq!(report.outcomes.len(), n);
    let positions: HashSet<u64> = report.outcomes.iter().map(|o| o.position).collect();
    assert_eq!(positions.len(), n, "every input exactly once");
}

async fn create_then_update(case: Case) {
    let emu = start(case.config()).await;
    let client = build(case.builder(&emu));
    let first = client
        .bulk_upsert_iter(case.records("CU", 0..150))
        .report()
        .await;
    exactly_once(&first, 150);
    assert_eq!(first.summary.created, 150, "{:?}", first.summary);
    let second = client
        .bulk_upsert_iter(case.records("CU", 100..250))
        .report()
        .await;
    exactly_once(&second, 150);
    assert_eq!((second.summary.updated, second.summary.created), (50, 100));
    for o in &second.outcomes {
        let is_update = matches!(o.outcome, Outcome::Updated { .. });
        assert_eq!(is_update, o.position < 50, "{o:?}");
    }
    let store = case.store(&emu);
    assert_eq!(store.count(), 250);
    let last = store
        .get_by_unique(case.kind.id_property, &case.id("CU", 249))
        .unwrap();
    assert_eq!(last.properties[case.kind.property], "v249");
    assert_eq!(emu.stats().responses(200), 4);
    case.check_routing(&emu);
}

async fn partial_failure(case: Case) {
    let emu = start(case.config()).await;
    let client = build(case.builder(&emu));
    let mut records = case.records("PF", 0..10);
    records[3] = case.bad("PF", 3);
    let report = client.bulk_upsert_iter(records).report().await;
    exactly_once(&report, 10);
    let failed: Vec<u64> = report.failed().map(|o| o.position).collect();
    assert_eq!(failed, [3]);
    let f = report.failed().next().unwrap().outcome.failure().unwrap();
    assert_eq!(f.kind, ErrorKind::Validation);
    assert!(f.message.contains("no_such_property"), "{}", f.message);
    assert_eq!(report.summary.created, 9);
    assert_eq!(case.store(&emu).count(), 9);
    // v3 and 2026-03 answer 207; 2026-09 folds the failure into a 200.
    let stats = emu.stats();
    let expected = if case.folds() { (1, 0) } else { (0, 1) };
    assert_eq!((stats.responses(200), stats.responses(207)), expected);
    case.check_routing(&emu);
}

async fn whole_batch_400_is_bisected(case: Case) {
    // Without distinct trace ids HubSpot refuses the whole batch for one bad input.
    let emu = start(case.config()).await;
    let client = build(case.builder(&emu));
    let mut records: Vec<RecordInput> = case.records("WB", 0..150);
    for bad in [17, 140] {
        records[bad] = case.bad("WB", bad);
    }
    let records = records.into_iter().map(|r| r.with_trace_id("same-for-all"));
    let report = client.bulk_upsert_iter(records).report().await;
    exactly_once(&report, 150);
    let failed: Vec<u64> = report.failed().map(|o| o.position).collect();
    assert_eq!(failed, [17, 140]);
    for o in report.failed() {
        let f = o.outcome.failure().unwrap();
        assert_eq!((f.kind, f.status), (ErrorKind::Validation, Some(400)));
    }
    assert_eq!(report.summary.created, 148);
    assert_eq!(case.store(&emu).count(), 148);
    case.check_routing(&emu);
}

async fn rate_limited(case: Case, kind: FaultKind) {
    let faults = FaultConfig::none(7).with(kind, 0.3);
    let emu = start(case.config().with_faults(faults)).await;
    let client = build(case.builder(&emu).max_concurrency(4));
    let report = client
        .bulk_upsert_iter(case.records("RL", 0..1000))
        .report()
        .await;
    exactly_once(&report, 1000);
    assert_eq!(report.summary.created, 1000, "{:?}", report.summary);
    let injected = emu.stats().fault_count(kind);
    assert!(injected > 0);
    assert_eq!(report.summary.rate_limited, injected);
    assert_eq!(case.store(&emu).count(), 1000);
    case.check_routing(&emu);
}

async fn daily_stop(case: Case) {
    let cfg = case
        .config()
        .with_rate_limit(RateLimitConfig::per_window(100, WINDOW).with_daily(Some(2)));
    let emu = start(cfg).await;
    let client = build(case.builder(&emu).max_concurrency(1));
    let report = client
        .bulk_upsert_iter(case.records("DS", 0..500))
        .report()
        .await;
    let s = &report.summary;
    exactly_once(&report, s.read as usize);
    assert_eq!((s.created, s.not_attempted), (200, s.read - 200), "{s:?}");
    assert_eq!(
        s.stopped.as_ref().unwrap().kind,
        ErrorKind::RateLimitedDaily
    );
    assert_eq!(emu.stats().rate_limited_by(Policy::Daily), 1);
    assert_eq!(case.store(&emu).count(), 200);
    case.check_routing(&emu);
}

async fn dropped_after_write(case: Case) {
    // The batch is written, then the connection closes without an answer: the retry
    // finds the records and updates them; nothing is lost or created twice.
    let faults = FaultConfig::none(3).with(FaultKind::CloseAfterWrite, 0.3);
    let emu = start(case.config().with_faults(faults)).await;
    let client = build(case.builder(&emu).rate_limit(RateLimit::disabled()));
    let report = client
        .bulk_upsert_iter(case.records("DW", 0..1000))
        .report()
        .await;
    exactly_once(&report, 1000);
    assert!(
        report.outcomes.iter().all(|o| o.outcome.is_written()),
        "{:?}",
        report.summary
    );
    assert!(emu.stats().fault_count(FaultKind::CloseAfterWrite) > 0);
    assert_eq!(case.store(&emu).count(), 1000);
    case.check_routing(&emu);
}

/// One module per (version, object type), one test per scenario.
macro_rules! matrix {
    ($($module:ident: $version:literal, $kind:expr;)*) => {$(
        mod $module {
            use super::*;

            fn case() -> Case {
                Case { version: $version, kind: $kind }
            }

            #[tokio::test]
            async fn create_then_update() {
                super::create_then_update(case()).await;
            }

            #[tokio::test]
            async fn partial_failure() {
                super::partial_failure(case()).await;
            }

            #[tokio::test]
            async fn whole_batch_400_is_bisected() {
                super::whole_batch_400_is_bisected(case()).await;
            }

            #[tokio::test]
            async fn rate_limited_with_retry_after() {
                super::rate_limited(case(), FaultKind::RateLimit429).await;
            }

            #[tokio::test]
            async fn rate_limited_without_retry_after() {
                super::rate_limited(case(), FaultKind::RateLimit429NoRetryAfter).await;
            }

            #[tokio::test]
            async fn daily_stop() {
                super::daily_stop(case()).await;
            }

            #[tokio::test]
            async fn dropped_after_write() {
                super::dropped_after_write(case()).await;
            }
        }
    )*};
}

matrix! {
    v3_tickets: "v3", TICKETS;
    v3_contacts: "v3", CONTACTS;
    v3_custom: "v3", CUSTOM;
    v2026_03_tickets: "2026-03", TICKETS;
    v2026_03_contacts: "2026-03", CONTACTS;
    v2026_03_custom: "2026-03", CUSTOM;
    v2026_09_tickets: "2026-09", TICKETS;
    v2026_09_contacts: "2026-09", CONTACTS;
    v2026_09_custom: "2026-09", CUSTOM;
}

/// Refused before any request: nothing reaches the emulator.
#[tokio::test]
async fn bad_versions_and_object_types_never_reach_the_network() {
    for bad in ["2026-13", "v4", "../", "2026-09/../../x", "2026%2F09", ""] {
        let e = bad.parse::<ApiVersion>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Configuration, "{bad}");
    }
    for bad in [
        "",
        "ticket",
        "tickets/../../x",
        "tickets%2Fx",
        "%2F",
        "../admin",
    ] {
        let e = bad.parse::<ObjectType>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Configuration, "{bad:?}");
        assert!(e.to_string().contains("unknown object type"), "{e}");
    }
}

/// A token without the object type's scope is refused with a 403 on the first request;
/// the run stops there and every record is `not_attempted`, with a message naming the
/// scope HubSpot asked for.
#[tokio::test]
async fn a_token_without_the_scope_stops_at_the_first_request() {
    for version in ["v3", "2026-09"] {
        let case = Case {
            version,
            kind: CONTACTS,
        };
        let emu = start(case.config().with_token_scopes(TOKEN, ["tickets"])).await;
        let client = build(case.builder(&emu));
        let report = client
            .bulk_upsert_iter(case.records("SC", 0..500))
            .report()
            .await;
        let s = &report.summary;
        assert_eq!((s.created, s.requests), (0, 1), "{s:?}");
        let stop = s.stopped.as_ref().unwrap();
        assert_eq!((stop.kind, stop.status), (ErrorKind::Forbidden, Some(403)));
        assert!(
            report
                .outcomes
                .iter()
                .all(|o| matches!(o.outcome, Outcome::NotAttempted { .. }))
        );
        // The same token may still write tickets.
        let tickets = Case {
            version,
            kind: TICKETS,
        };
        let client = build(tickets.builder(&emu));
        let (s, _) = client
            .bulk_upsert_iter(tickets.records("SC", 0..5))
            .summary()
            .await;
        assert_eq!(s.created, 5, "{s:?}");
    }
}

/// An object type the portal does not have (well formed, so sent) is HubSpot's 400
/// naming no input: a configuration error that stops the run at once.
#[tokio::test]
async fn an_unknown_custom_object_stops_the_run() {
    let case = Case {
        version: "2026-09",
        kind: Kind {
            object_type: "2-999",
            ..CUSTOM
        },
    };
    let emu = start(case.config()).await;
    let client = build(case.builder(&emu));
    let report = client
        .bulk_upsert_iter(case.records("UO", 0..300))
        .report()
        .await;
    let s = &report.summary;
    assert_eq!((s.created, s.requests), (0, 1), "{s:?}");
    assert_eq!(s.stopped.as_ref().unwrap().kind, ErrorKind::Configuration);
}

/// The object type's id and its name reach the same store.
#[tokio::test]
async fn ids_and_names_reach_the_same_records() {
    let emu = start(
        Case {
            version: "v3",
            kind: CONTACTS,
        }
        .config(),
    )
    .await;
    for (version, object_type) in [("v3", "contacts"), ("2026-09", "0-1")] {
        let case = Case {
            version,
            kind: Kind {
                object_type,
                ..CONTACTS
            },
        };
        let client = build(case.builder(&emu));
        let (s, _) = client
            .bulk_upsert_iter(case.records("ID", 0..3))
            .summary()
            .await;
        assert_eq!(s.read, 3);
    }
    let contacts = emu.store_for("contacts").unwrap();
    assert_eq!(contacts.count(), 3);
    assert_eq!(emu.tickets().count(), 0, "no ticket written");
}
