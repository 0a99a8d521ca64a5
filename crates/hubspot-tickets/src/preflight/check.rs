//! The checks: a record against its object type's definitions ([`check_record`]), and
//! the run's `idProperty` and columns against them ([`check_configuration`]). Pure
//! functions, so every rule is unit-tested without a server.

use std::fmt;

use super::definitions::{PropertyDefinition, PropertyDefinitions, ValueType};
use crate::records::RecordInput;

/// Longest value of a text property HubSpot accepts, in characters.
const MAX_TEXT_CHARS: usize = 65_536;
/// A day in milliseconds: date properties take epoch milliseconds at midnight UTC.
const DAY_MS: i64 = 86_400_000;
/// How much of a refused value a reason quotes (values can be long, or personal).
const QUOTED_CHARS: usize = 40;

/// What was probably meant by a refused enumeration or boolean value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NearMiss {
    /// The value in another case (`high` for `HIGH`, `True` for `true`).
    Case {
        /// The value to write.
        value: String,
    },
    /// An option's label was written instead of its value (`Closed` for `4`).
    Label {
        /// The label that was written.
        label: String,
        /// The option's value, what to write.
        value: String,
    },
}

impl fmt::Display for NearMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Case { value } => {
                write!(f, "did you mean {value:?}? (values are case-sensitive)")
            }
            Self::Label { label, value } => write!(
                f,
                "{label:?} is the label of option {value:?}: write the value, not the label"
            ),
        }
    }
}

/// Why a value does not fit its property's type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueProblem {
    /// Not a decimal number.
    NotANumber,
    /// Not `true` or `false`.
    NotABool {
        /// `True`, `TRUE`...: the same word in another case.
        hint: Option<NearMiss>,
    },
    /// Neither `YYYY-MM-DD` nor epoch milliseconds.
    NotADate,
    /// Epoch milliseconds that are not midnight UTC (HubSpot's date-only properties
    /// refuse them).
    DateNotMidnight,
    /// Neither ISO 8601 nor epoch milliseconds.
    NotADateTime,
    /// Not one of the options' values.
    NotAnOption {
        /// The part refused (a multiple choice is checked part by part).
        part: String,
        /// The allowed values.
        options: Vec<String>,
        /// A case difference, or a label used instead of a value.
        hint: Option<NearMiss>,
    },
    /// Longer than HubSpot's 65,536 characters for text.
    TooLong,
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = |f: &mut fmt::Formatter<'_>, h: &Option<NearMiss>| match h {
            Some(h) => write!(f, "; {h}"),
            None => Ok(()),
        };
        match self {
            Self::NotANumber => f.write_str("not a number (a decimal such as 42 or -1.5)"),
            Self::NotABool { hint: h } => {
                f.write_str("not a boolean (true or false)")?;
                hint(f, h)
            }
            Self::NotADate => {
                f.write_str("not a date (YYYY-MM-DD, or epoch milliseconds at midnight UTC)")
            }
            Self::DateNotMidnight => f.write_str(
                "a time that is not midnight UTC: a date property takes a day (YYYY-MM-DD, or its midnight UTC)",
            ),
            Self::NotADateTime => f.write_str(
                "not a date-time (ISO 8601 such as 2026-11-28T09:00:00Z, or epoch milliseconds)",
            ),
            Self::NotAnOption {
                part,
                options,
                hint: h,
            } => {
                write!(f, "{:?} is not one of the options [", quoted(part))?;
                for (i, o) in options.iter().take(10).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(o)?;
                }
                if options.len() > 10 {
                    write!(f, ", ... {} more", options.len() - 10)?;
                }
                f.write_str("]")?;
                hint(f, h)
            }
            Self::TooLong => write!(f, "longer than {MAX_TEXT_CHARS} characters"),
        }
    }
}

/// Why one record would be refused; it is reported as invalid and not sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The object type has no property of that name.
    #[error("property {name:?} does not exist{}", suggestion(suggest.as_deref()))]
    UnknownProperty {
        /// The name written.
        name: String,
        /// A property whose label (or name, in another case) matches.
        suggest: Option<String>,
    },
    /// HubSpot computes the property; it cannot be written.
    #[error("property {name:?} is calculated by HubSpot and cannot be written")]
    Calculated {
        /// The property.
        name: String,
    },
    /// The property's value is read-only.
    #[error("property {name:?} is read-only")]
    ReadOnly {
        /// The property.
        name: String,
    },
    /// The value does not fit the property's type.
    #[error("property {name:?}: {problem}")]
    InvalidValue {
        /// The property.
        name: String,
        /// Why.
        problem: ValueProblem,
    },
    /// The record's own `idProperty` does not exist or has no unique values.
    #[error("{0}")]
    IdProperty(ConfigProblem),
    /// The record's id does not fit its `idProperty`'s type.
    #[error("id for {name:?}: {problem}")]
    InvalidId {
        /// The `idProperty`.
        name: String,
        /// Why.
        problem: ValueProblem,
    },
}

/// A problem of the run's configuration: every record would fail the same way.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// The `idProperty` does not exist.
    #[error("idProperty {name:?} does not exist{}{}", suggestion(suggest.as_deref()), uniques(unique))]
    UnknownIdProperty {
        /// The `idProperty`.
        name: String,
        /// A property whose label (or name, in another case) matches.
        suggest: Option<String>,
        /// The object type's properties with unique values (what an `idProperty` can be).
        unique: Vec<String>,
    },
    /// The `idProperty` exists but its values are not unique (`hasUniqueValue` false):
    /// HubSpot refuses every upsert by it.
    #[error(
        "idProperty {name:?} does not have unique values: HubSpot upserts only by a property created with unique values{}",
        uniques(unique)
    )]
    IdPropertyNotUnique {
        /// The `idProperty`.
        name: String,
        /// The object type's properties with unique values (what an `idProperty` can be).
        unique: Vec<String>,
    },
    /// A column (a property every record may carry) does not exist.
    #[error("column {name:?} is not a property{}", suggestion(suggest.as_deref()))]
    UnknownColumn {
        /// The column.
        name: String,
        /// A property whose label (or name, in another case) matches.
        suggest: Option<String>,
    },
}

/// Every configuration problem at once, so one run names them all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigurationError {
    /// At least one.
    pub problems: Vec<ConfigProblem>,
}

/// At most this many configuration problems are put into words; the rest are counted
/// (every one stays in [`ConfigurationError::problems`]).
const SHOWN_PROBLEMS: usize = 20;

impl fmt::Display for ConfigurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nothing was written: ")?;
        for (i, p) in self.problems.iter().take(SHOWN_PROBLEMS).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        if self.problems.len() > SHOWN_PROBLEMS {
            write!(f, "; and {} more", self.problems.len() - SHOWN_PROBLEMS)?;
        }
        Ok(())
    }
}

/// `; the properties with unique values are: a, b` (what an `idProperty` can be).
fn uniques(unique: &[String]) -> String {
    if unique.is_empty() {
        "; this object type has no property with unique values (create one in HubSpot)".to_owned()
    } else {
        format!(
            "; the properties with unique values are: {}",
            unique.join(", ")
        )
    }
}

fn suggestion(suggest: Option<&str>) -> String {
    suggest.map_or_else(String::new, |s| format!(" (did you mean {s:?}?)"))
}

/// At most [`QUOTED_CHARS`] characters of `value`, for a reason.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_owned(),
    }
}

/// A name that the definitions do not know, with a hint when it looks like a label or
/// another case of a name.
fn suggest(defs: &PropertyDefinitions, name: &str) -> Option<String> {
    defs.suggest(name).filter(|s| *s != name).map(str::to_owned)
}

fn id_property_problem(defs: &PropertyDefinitions, id_property: &str) -> Option<ConfigProblem> {
    let unique = || {
        // `hs_object_id` is listed unique but HubSpot refuses it as an idProperty.
        let mut names: Vec<String> = defs
            .iter()
            .filter(|d| d.unique && d.name != "hs_object_id")
            .map(|d| d.name.clone())
            .collect();
        names.sort_unstable();
        names
    };
    match defs.get(id_property) {
        None => Some(ConfigProblem::UnknownIdProperty {
            name: id_property.to_owned(),
            suggest: suggest(defs, id_property),
            unique: unique(),
        }),
        // HubSpot refuses `hs_object_id` as an idProperty however it is listed.
        Some(d) if !d.unique || d.name == "hs_object_id" => {
            Some(ConfigProblem::IdPropertyNotUnique {
                name: id_property.to_owned(),
                unique: unique(),
            })
        }
        Some(_) => None,
    }
}

/// The run's configuration against the definitions: the `idProperty` exists and has
/// unique values, and every column is a property. All problems are returned together.
pub fn check_configuration<'a, I>(
    defs: &PropertyDefinitions,
    id_property: &str,
    columns: I,
) -> Result<(), ConfigurationError>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut problems: Vec<ConfigProblem> =
        id_property_problem(defs, id_property).into_iter().collect();
    let columns: Vec<&str> = columns.into_iter().collect();
    // A suggestion is a property no column holds yet (nor the id), and is made once:
    // following every hint must never give two columns one property.
    let mut taken: std::collections::HashSet<&str> = columns
        .iter()
        .copied()
        .filter(|c| defs.get(c).is_some())
        .chain([id_property])
        .collect();
    // Each unknown column named once, however wide the header (100 000 columns is a
    // file someone will try).
    let mut named = std::collections::HashSet::new();
    for column in columns {
        if defs.get(column).is_none() && named.insert(column) {
            let suggest = defs
                .suggest(column)
                .filter(|s| *s != column && taken.insert(s));
            problems.push(ConfigProblem::UnknownColumn {
                name: column.to_owned(),
                suggest: suggest.map(str::to_owned),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigurationError { problems })
    }
}

/// One record against the definitions: its `idProperty` (the record's own, else
/// `default_id_property`) exists, is unique and its id fits the type; every property
/// exists, can be written, and its value fits the type. Every problem is returned,
/// not only the first, so one look at a record says all that is wrong with it.
pub fn check_record(
    defs: &PropertyDefinitions,
    default_id_property: &str,
    record: &RecordInput,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let id_property = record.id_property().unwrap_or(default_id_property);
    match defs.get(id_property) {
        Some(def) if def.unique && def.name != "hs_object_id" => {
            if let Err(problem) = check_value(def, record.id()) {
                problems.push(Problem::InvalidId {
                    name: id_property.to_owned(),
                    problem,
                });
            }
        }
        _ => {
            if let Some(p) = id_property_problem(defs, id_property) {
                problems.push(Problem::IdProperty(p));
            }
        }
    }
    for (name, value) in record.properties() {
        let Some(def) = defs.get(name) else {
            problems.push(Problem::UnknownProperty {
                name: name.clone(),
                suggest: suggest(defs, name),
            });
            continue;
        };
        if def.calculated {
            problems.push(Problem::Calculated { name: name.clone() });
        } else if def.read_only {
            problems.push(Problem::ReadOnly { name: name.clone() });
        } else if let Err(problem) = check_value(def, value) {
            problems.push(Problem::InvalidValue {
                name: name.clone(),
                problem,
            });
        }
    }
    problems
}

/// One value against its property's type. `""` always fits: it clears the value.
pub fn check_value(def: &PropertyDefinition, value: &str) -> Result<(), ValueProblem> {
    if value.is_empty() {
        return Ok(());
    }
    match &def.value_type {
        ValueType::String => {
            if value.len() > MAX_TEXT_CHARS && value.chars().count() > MAX_TEXT_CHARS {
                Err(ValueProblem::TooLong)
            } else {
                Ok(())
            }
        }
        ValueType::Number => is_decimal(value)
            .then_some(())
            .ok_or(ValueProblem::NotANumber),
        ValueType::Bool => match value {
            "true" | "false" => Ok(()),
            other => {
                let lower = other.to_ascii_lowercase();
                let hint = matches!(lower.as_str(), "true" | "false")
                    .then_some(NearMiss::Case { value: lower });
                Err(ValueProblem::NotABool { hint })
            }
        },
        ValueType::Enumeration => check_option(def, value),
        // Empty pieces are nothing chosen: HubSpot writes its own values with a
        // leading `;`, and a trailing one is common in exports.
        ValueType::MultipleChoice => value
            .split(';')
            .filter(|p| !p.is_empty())
            .try_for_each(|p| check_option(def, p)),
        ValueType::Date => {
            if let Ok(ms) = value.parse::<i64>() {
                if ms.rem_euclid(DAY_MS) == 0 {
                    Ok(())
                } else {
                    Err(ValueProblem::DateNotMidnight)
                }
            } else if chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() {
                Ok(())
            } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
                // ISO 8601 at midnight UTC (`2026-02-03T00:00:00Z`) is a date too.
                if t.timestamp_millis().rem_euclid(DAY_MS) == 0 {
                    Ok(())
                } else {
                    Err(ValueProblem::DateNotMidnight)
                }
            } else {
                Err(ValueProblem::NotADate)
            }
        }
        ValueType::DateTime => {
            // ISO 8601 with a time, or a date alone (HubSpot takes it as that day's
            // midnight UTC), or epoch milliseconds.
            if value.parse::<i64>().is_ok()
                || chrono::DateTime::parse_from_rfc3339(value).is_ok()
                || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
            {
                Ok(())
            } else {
                Err(ValueProblem::NotADateTime)
            }
        }
        // Left for HubSpot to judge: the preflight refuses only what it knows is wrong.
        ValueType::ExternalOptions { .. } | ValueType::Other(_) => Ok(()),
    }
}

fn check_option(def: &PropertyDefinition, part: &str) -> Result<(), ValueProblem> {
    if def.options.iter().any(|(v, _)| v == part) {
        return Ok(());
    }
    let lower = part.trim().to_lowercase();
    // A label first: `Closed` for `4` is the common mistake of an export from the
    // interface; a case difference of the value second.
    let hint = def
        .options
        .iter()
        .find_map(|(v, l)| {
            l.as_deref()
                .filter(|l| l.trim().to_lowercase() == lower)
                .map(|l| NearMiss::Label {
                    label: l.to_owned(),
                    value: v.clone(),
                })
        })
        .or_else(|| {
            def.options
                .iter()
                .find(|(v, _)| v.to_lowercase() == lower)
                .map(|(v, _)| NearMiss::Case { value: v.clone() })
        });
    Err(ValueProblem::NotAnOption {
        part: quoted(part),
        options: def.options.iter().map(|(v, _)| v.clone()).collect(),
        hint,
    })
}

/// HubSpot's number form as the emulator reads it: an optional `-`, digits, an optional
/// fraction (`.5` too); no exponent, no spaces.
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let all = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match digits.split_once('.') {
        None => all(digits),
        Some((int, frac)) => (int.is_empty() || all(int)) && all(frac),
    }
}

#[cfg(test)]
mod tests;
