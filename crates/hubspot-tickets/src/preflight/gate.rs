//! The preflight as a run uses it: the definitions and the run's `idProperty` together,
//! a record in, "send it" or an invalid outcome out, so that whatever sends records
//! (the bulk run, the CLI's `check`) applies one rule.

use std::sync::Arc;

use super::check::{ConfigurationError, Problem, check_configuration, check_record};
use super::definitions::PropertyDefinitions;
use crate::error::{ErrorKind, Failure};
use crate::outcomes::Outcome;
use crate::records::RecordInput;

/// The checks of one run: one object type's definitions and the run's `idProperty`.
#[derive(Clone, Debug)]
pub struct Preflight {
    defs: Arc<PropertyDefinitions>,
    id_property: String,
}

impl Preflight {
    /// Checks the configuration first (the `idProperty` and every column), so a run
    /// that could write nothing stops before its first request, naming every problem.
    pub fn new<'a, I>(
        defs: Arc<PropertyDefinitions>,
        id_property: impl Into<String>,
        columns: I,
    ) -> Result<Self, ConfigurationError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let id_property = id_property.into();
        check_configuration(&defs, &id_property, columns)?;
        Ok(Self { defs, id_property })
    }

    /// The definitions checked against.
    pub fn definitions(&self) -> &PropertyDefinitions {
        &self.defs
    }

    /// `Ok` when the record may be sent; otherwise every problem found.
    pub fn check(&self, record: &RecordInput) -> Result<(), Vec<Problem>> {
        let problems = check_record(&self.defs, &self.id_property, record);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The outcome of a record the preflight kept back: failed as invalid input,
    /// every problem in the reason, nothing sent.
    pub fn invalid_outcome(problems: &[Problem]) -> Outcome {
        // A record of 100 000 unknown columns gets a reason of a few lines, not
        // megabytes: the first problems in words, the rest counted.
        const SHOWN: usize = 10;
        let mut message = String::from("not sent: the preflight found ");
        for (i, p) in problems.iter().take(SHOWN).enumerate() {
            if i > 0 {
                message.push_str("; ");
            }
            message.push_str(&p.to_string());
        }
        if problems.len() > SHOWN {
            message.push_str(&format!("; and {} more", problems.len() - SHOWN));
        }
        Outcome::Failed {
            reason: Arc::new(Failure::new(ErrorKind::InvalidInput, message)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::preflight::ConfigProblem;
    use serde_json::json;

    fn defs() -> Arc<PropertyDefinitions> {
        let list = json!({"results": [
            {"name": "external_ticket_id", "type": "string", "hasUniqueValue": true},
            {"name": "subject", "label": "Ticket name", "type": "string"},
            {"name": "vip", "type": "bool"}
        ]});
        let list: hubspot_tickets_client::types::PropertyList =
            serde_json::from_value(list).unwrap();
        Arc::new(PropertyDefinitions::from_list(&list))
    }

    #[test]
    fn a_bad_configuration_stops_before_any_record() {
        let e = Preflight::new(defs(), "vip", ["Ticket name", "vip"]).unwrap_err();
        assert_eq!(e.problems.len(), 2);
        assert!(matches!(
            &e.problems[1],
            ConfigProblem::UnknownColumn { suggest: Some(s), .. } if s == "subject"
        ));
    }

    #[test]
    fn records_pass_or_become_invalid_outcomes_with_every_reason() {
        let p = Preflight::new(defs(), "external_ticket_id", ["subject", "vip"]).unwrap();
        assert_eq!(
            p.check(&RecordInput::new("A").property("vip", "true")),
            Ok(())
        );
        let problems = p
            .check(
                &RecordInput::new("B")
                    .property("vip", "TRUE")
                    .property("x", "1"),
            )
            .unwrap_err();
        let outcome = Preflight::invalid_outcome(&problems);
        let Outcome::Failed { reason } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(reason.kind, ErrorKind::InvalidInput);
        assert!(
            reason.message.contains("did you mean \"true\""),
            "{}",
            reason.message
        );
        assert!(
            reason.message.contains("property \"x\" does not exist"),
            "{}",
            reason.message
        );
    }
}
