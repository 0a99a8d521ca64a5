//! Which HubSpot path a client calls: the API version and the CRM object type, each
//! checked once when it is parsed, so nothing a user passes can change the request path
//! outside `/crm/...`.
//!
//! HubSpot versions its APIs by date (a release every March and September) and keeps
//! the numeric `v3` paths as "legacy". The wire shapes differ (see `spec/README.md`):
//!
//! | version | path | partial failure |
//! | --- | --- | --- |
//! | `v3` (default) | `/crm/v3/objects/{type}/batch/upsert` | 207 with `errors` |
//! | `2026-03` | `/crm/objects/2026-03/{type}/batch/upsert` | 207 with `errors` |
//! | `2026-09` and later | `/crm/objects/{version}/{type}/batch/upsert` | 200 with `errors` |
//!
//! A dated version later than `2026-09` is assumed to keep 2026-09's shape until the
//! spec says otherwise, so a new release needs no code change to be reached.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A HubSpot API version: `v3` (the default, HubSpot's "legacy" numeric paths) or a
/// dated release (`2026-03`, `2026-09`, later `YYYY-03`/`YYYY-09`).
///
/// ```
/// use hubspot_tickets::config::ApiVersion;
///
/// let v: ApiVersion = "2026-09".parse()?;
/// assert_eq!(v, ApiVersion::V2026_09);
/// assert_eq!(v.to_string(), "2026-09");
/// // A later release with 2026-09's wire shape needs no new code.
/// assert!("2027-03".parse::<ApiVersion>().is_ok());
/// // Malformed or made-up versions are refused before any request.
/// for bad in ["2026-13", "v4", "../", "2026-05", "2025-09"] {
///     assert!(bad.parse::<ApiVersion>().is_err(), "{bad}");
/// }
/// # Ok::<(), hubspot_tickets::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiVersion(Release);

/// `v3` sorts before every dated release.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Release {
    #[default]
    V3,
    Dated {
        year: u16,
        month: u8,
    },
}

/// The wire shape of a version: which generated operation serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `v3`: 200, or 207 with `errors` on partial failure.
    Legacy,
    /// `2026-03`: v3's bodies under the dated path.
    Dated2026_03,
    /// `2026-09`: partial failures folded into the 200 body.
    Dated2026_09,
    /// A release after `2026-09`, reached through the spec's `{apiVersion}` path with
    /// 2026-09's shape.
    LaterDated,
}

const FIRST_DATED_YEAR: u16 = 2026;

impl ApiVersion {
    /// HubSpot's legacy numeric version, the default.
    pub const V3: Self = Self(Release::V3);
    /// The March 2026 release: v3's bodies under a dated path.
    pub const V2026_03: Self = Self(Release::Dated {
        year: 2026,
        month: 3,
    });
    /// The September 2026 release: partial failures inside the 200 body.
    pub const V2026_09: Self = Self(Release::Dated {
        year: 2026,
        month: 9,
    });

    /// A dated release. HubSpot releases in March and September from 2026 on.
    ///
    /// # Errors
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) for any other month
    /// or an earlier year.
    pub fn dated(year: u16, month: u8) -> Result<Self, Error> {
        if year > 9999 {
            return Err(Error::configuration(format!(
                "API version {year}-{month:02}: the year has more than four digits"
            )));
        }
        if month != 3 && month != 9 {
            return Err(Error::configuration(format!(
                "API version {year:04}-{month:02}: HubSpot releases versions in March and September only (YYYY-03 or YYYY-09)"
            )));
        }
        if year < FIRST_DATED_YEAR {
            return Err(Error::configuration(format!(
                "API version {year:04}-{month:02}: the first dated version is 2026-03 (use v3 for the legacy paths)"
            )));
        }
        Ok(Self(Release::Dated { year, month }))
    }

    /// True for `v3`.
    pub fn is_legacy(self) -> bool {
        self.0 == Release::V3
    }

    /// True when partial failures arrive in a 200 body (2026-09 and later) rather than a
    /// 207. Either way each input gets its own outcome.
    pub fn folds_partial_failures(self) -> bool {
        matches!(self.shape(), Shape::Dated2026_09 | Shape::LaterDated)
    }

    /// The path a batch upsert of `object_type` takes under this version, e.g.
    /// `/crm/objects/2026-09/contacts/batch/upsert`. Both parts were checked when
    /// parsed, so nothing in them needs encoding or can leave `/crm/`.
    pub fn upsert_path(self, object_type: &ObjectType) -> String {
        match self.0 {
            Release::V3 => format!("/crm/v3/objects/{object_type}/batch/upsert"),
            Release::Dated { .. } => format!("/crm/objects/{self}/{object_type}/batch/upsert"),
        }
    }

    pub(crate) fn shape(self) -> Shape {
        match self.0 {
            Release::V3 => Shape::Legacy,
            _ if self == Self::V2026_03 => Shape::Dated2026_03,
            _ if self == Self::V2026_09 => Shape::Dated2026_09,
            _ => Shape::LaterDated,
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Release::V3 => f.write_str("v3"),
            Release::Dated { year, month } => write!(f, "{year:04}-{month:02}"),
        }
    }
}

impl FromStr for ApiVersion {
    type Err = Error;

    /// `v3`, or `YYYY-MM` with MM `03` or `09`, from `2026-03` on.
    fn from_str(s: &str) -> Result<Self, Error> {
        if s == "v3" {
            return Ok(Self::V3);
        }
        let bytes = s.as_bytes();
        let shaped = bytes.len() == 7
            && bytes[4] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || b.is_ascii_digit());
        let parsed = shaped
            .then(|| Some((s.get(..4)?.parse().ok()?, s.get(5..)?.parse().ok()?)))
            .flatten();
        let Some((year, month)) = parsed else {
            return Err(Error::configuration(format!(
                "API version {:?} is not v3 or a dated version like 2026-09",
                shown(s)
            )));
        };
        if !(1..=12).contains(&month) {
            return Err(Error::configuration(format!(
                "API version {s:?}: {month:02} is not a month"
            )));
        }
        Self::dated(year, month)
    }
}

/// A CRM object type: a name HubSpot knows (`tickets`, `contacts`, `companies`,
/// `deals`), an object type id (`0-5`, `2-123`) or a custom object's fully qualified
/// name (`p_2418337_cars`, or HubSpot's `p2418337_cars`). Tickets by default.
///
/// ```
/// use hubspot_tickets::config::ObjectType;
///
/// assert_eq!("contacts".parse::<ObjectType>()?, ObjectType::CONTACTS);
/// assert_eq!("2-123".parse::<ObjectType>()?.as_str(), "2-123");
/// assert!("p_2418337_cars".parse::<ObjectType>().is_ok());
/// for bad in ["", "ticket", "tickets/../../x", "tickets%2Fx", "0-", "2-x"] {
///     assert!(bad.parse::<ObjectType>().is_err(), "{bad:?}");
/// }
/// # Ok::<(), hubspot_tickets::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectType(Name);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Name {
    Known(&'static str),
    /// Checked: an object type id or a fully qualified name, ASCII only.
    Other(String),
}

/// The object types HubSpot names, with their ids.
const KNOWN: [(&str, &str); 4] = [
    ("tickets", "0-5"),
    ("contacts", "0-1"),
    ("companies", "0-2"),
    ("deals", "0-3"),
];

/// Longest object type accepted (HubSpot's custom object names are far shorter).
const MAX_OBJECT_TYPE_LEN: usize = 128;

impl ObjectType {
    /// Tickets (`0-5`), the default.
    pub const TICKETS: Self = Self(Name::Known("tickets"));
    /// Contacts (`0-1`); their built-in unique property is `email`.
    pub const CONTACTS: Self = Self(Name::Known("contacts"));
    /// Companies (`0-2`); `domain` is not guaranteed unique.
    pub const COMPANIES: Self = Self(Name::Known("companies"));
    /// Deals (`0-3`).
    pub const DEALS: Self = Self(Name::Known("deals"));

    /// The object type as it appears in the path.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Name::Known(name) => name,
            Name::Other(text) => text,
        }
    }

    /// The scope a token needs to write this object type (HubSpot's names): `tickets`
    /// for tickets, `crm.objects.<type>.write` for contacts, companies and deals,
    /// `crm.objects.custom.write` for a custom object (`2-<n>`, a fully qualified name);
    /// `None` for another standard object known only by its id (`0-7`...).
    pub fn write_scope(&self) -> Option<String> {
        match &self.0 {
            Name::Known("tickets") => Some("tickets".to_owned()),
            Name::Known(name) => Some(format!("crm.objects.{name}.write")),
            Name::Other(text) if text.starts_with("2-") || text.starts_with('p') => {
                Some("crm.objects.custom.write".to_owned())
            }
            Name::Other(_) => None,
        }
    }
}

impl Default for ObjectType {
    fn default() -> Self {
        Self::TICKETS
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ObjectType {
    type Err = Error;

    /// A known id is read as its name (`0-5` is tickets), so both spellings are one
    /// object type (and one path).
    fn from_str(s: &str) -> Result<Self, Error> {
        if let Some((name, _)) = KNOWN.iter().find(|(name, id)| *name == s || *id == s) {
            return Ok(Self(Name::Known(name)));
        }
        if s.len() <= MAX_OBJECT_TYPE_LEN && (is_type_id(s) || is_qualified_name(s)) {
            return Ok(Self(Name::Other(s.to_owned())));
        }
        let hint = if s.is_empty() {
            "it is empty".to_owned()
        } else {
            format!("{:?} is not one", shown(s))
        };
        Err(Error::configuration(format!(
            "unknown object type: {hint}; use tickets, contacts, companies, deals, an object type id (0-5, 2-123) or a custom object's fully qualified name (p_<portal>_<name>)"
        )))
    }
}

/// `<meta type>-<id>`: `0-<n>` for HubSpot's standard objects, `2-<n>` for custom ones.
fn is_type_id(s: &str) -> bool {
    let number = |d: &str| !d.is_empty() && d.len() <= 12 && d.bytes().all(|b| b.is_ascii_digit());
    s.split_once('-')
        .is_some_and(|(meta, id)| number(meta) && number(id))
}

/// `p_<portal>_<name>` or `p<portal>_<name>`: a portal id, then a name of letters,
/// digits and `_`.
fn is_qualified_name(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("p") else {
        return false;
    };
    let rest = rest.strip_prefix('_').unwrap_or(rest);
    let Some((portal, name)) = rest.split_once('_') else {
        return false;
    };
    !portal.is_empty()
        && portal.bytes().all(|b| b.is_ascii_digit())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// At most 64 characters of a refused value, for messages.
fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The version and object type a client calls, and the path they make.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Route {
    pub version: ApiVersion,
    pub object_type: ObjectType,
}

impl Route {
    pub(crate) fn path(&self) -> String {
        self.version.upsert_path(&self.object_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_display_and_order() {
        for (text, shape) in [
            ("v3", Shape::Legacy),
            ("2026-03", Shape::Dated2026_03),
            ("2026-09", Shape::Dated2026_09),
            ("2027-03", Shape::LaterDated),
            ("2031-09", Shape::LaterDated),
        ] {
            let v: ApiVersion = text.parse().unwrap_or_default();
            assert_eq!(v.to_string(), text);
            assert_eq!(v.shape(), shape, "{text}");
        }
        assert!(
            ApiVersion::V3 < ApiVersion::V2026_03 && ApiVersion::V2026_03 < ApiVersion::V2026_09
        );
        assert_eq!(ApiVersion::default(), ApiVersion::V3);
        assert!(!ApiVersion::V2026_03.folds_partial_failures());
        assert!(ApiVersion::dated(10_000, 3).is_err());
        assert!(ApiVersion::V2026_09.folds_partial_failures());
    }

    #[test]
    fn malformed_versions_are_refused_with_a_reason() {
        for (text, says) in [
            ("2026-13", "not a month"),
            ("2026-00", "not a month"),
            ("2026-05", "March and September"),
            ("2025-09", "first dated version"),
            ("v4", "not v3 or a dated version"),
            ("V3", "not v3 or a dated version"),
            ("../", "not v3 or a dated version"),
            ("2026-09/../../x", "not v3 or a dated version"),
            ("99999-09", "not v3 or a dated version"),
            ("2026%2F09", "not v3 or a dated version"),
            ("", "not v3 or a dated version"),
            ("２０２６-09", "not v3 or a dated version"),
            (" 2026-09", "not v3 or a dated version"),
        ] {
            let e = text.parse::<ApiVersion>().err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains(says)),
                "{text:?}: {e:?}"
            );
        }
    }

    #[test]
    fn object_types_known_ids_and_qualified_names() {
        for ok in [
            "tickets",
            "contacts",
            "companies",
            "deals",
            "0-7",
            "1-2",
            "2-123",
            "p_2418337_cars",
            "p2418337_cars",
            "p_1_a_b2",
            "p_1_Cars",
        ] {
            assert_eq!(
                ok.parse::<ObjectType>()
                    .map(|t| t.to_string())
                    .ok()
                    .as_deref(),
                Some(ok)
            );
        }
        // A known id is its name: one object type, one path, one resume fingerprint.
        for (id, name) in [("0-5", ObjectType::TICKETS), ("0-1", ObjectType::CONTACTS)] {
            assert_eq!(id.parse::<ObjectType>().ok(), Some(name));
        }
        for bad in [
            "",
            "ticket",
            "Tickets",
            "tickets/../../x",
            "tickets%2Fx",
            "%2F",
            "../",
            "0-",
            "-5",
            "2-x",
            "2-1/x",
            "2-1-3",
            "p_x_cars",
            "p_1_",
            "p_1_9cars",
            "p1",
            "tickets?x=1",
            "tickets#",
            "tickets ",
            "a b",
        ] {
            let e = bad.parse::<ObjectType>().err().map(|e| e.to_string());
            assert!(
                e.as_deref()
                    .is_some_and(|e| e.contains("unknown object type")),
                "{bad:?}: {e:?}"
            );
        }
        assert!(
            format!("p_1_{}", "a".repeat(200))
                .parse::<ObjectType>()
                .is_err()
        );
    }

    #[test]
    fn scopes_follow_hubspot_names() {
        let scope = |t: &str| t.parse::<ObjectType>().ok().and_then(|t| t.write_scope());
        assert_eq!(scope("tickets").as_deref(), Some("tickets"));
        assert_eq!(
            scope("contacts").as_deref(),
            Some("crm.objects.contacts.write")
        );
        assert_eq!(scope("0-1").as_deref(), Some("crm.objects.contacts.write"));
        assert_eq!(scope("2-7").as_deref(), Some("crm.objects.custom.write"));
        assert_eq!(
            scope("p_1_cars").as_deref(),
            Some("crm.objects.custom.write")
        );
        // Products and the like: HubSpot's scope is not guessed.
        assert_eq!(scope("0-7"), None);
    }

    #[test]
    fn paths_stay_under_crm() {
        let route = |v: &str, t: &str| Route {
            version: v.parse().unwrap_or_default(),
            object_type: t.parse().unwrap_or_default(),
        };
        assert_eq!(
            Route::default().path(),
            "/crm/v3/objects/tickets/batch/upsert"
        );
        assert_eq!(
            route("2026-03", "0-7").path(),
            "/crm/objects/2026-03/0-7/batch/upsert"
        );
        assert_eq!(
            route("2026-09", "contacts").path(),
            "/crm/objects/2026-09/contacts/batch/upsert"
        );
        assert_eq!(
            route("2027-09", "2-9").path(),
            "/crm/objects/2027-09/2-9/batch/upsert"
        );
    }
}
