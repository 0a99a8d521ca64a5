//! Configuration refused at start through the library: bad property names, read-only
//! properties made unique or redefined.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use hubspot_emulator::{Emulator, PropertyDef, validate_property_name};

#[test]
fn hubspot_internal_names() {
    for ok in [
        "a",
        "subject",
        "hs_ticket_priority",
        "x9_",
        &"a".repeat(100),
    ] {
        assert!(validate_property_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "Bad Name",
        "_x",
        "9a",
        "a-b",
        "aB",
        "é",
        &"a".repeat(101),
    ] {
        assert!(validate_property_name(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_badly_named_property_is_refused() {
    let err = Emulator::start(config().with_property(PropertyDef::string("Bad Name")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"Bad Name\""), "{err}");
}

#[tokio::test]
async fn hs_object_id_cannot_be_made_unique() {
    let err = Emulator::start(config().with_unique_property("hs_object_id"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("hs_object_id"), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
}

#[tokio::test]
async fn a_computed_property_cannot_be_redefined_as_writable() {
    let err = Emulator::start(config().with_property(PropertyDef::string("createdate")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("createdate"), "{err}");
}
