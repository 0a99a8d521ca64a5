//! Resuming a run: fingerprints of what a record would write, and the decision, from
//! what an earlier run confirmed written, whether to send it again.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::str::FromStr;

use xxhash_rust::xxh3::Xxh3;

use crate::records::TicketInput;

/// What one record would write: its `idProperty`, id and properties, hashed with a
/// published algorithm (XXH3, 64 bits), so the same record has the same fingerprint in
/// every run and every version of this crate. Trace ids are left out (they are per
/// run). Prints and parses as 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// The fingerprint of `input`, whose `idProperty` is `default_id_property` unless
    /// it names its own.
    pub fn of(input: &TicketInput, default_id_property: &str) -> Self {
        Self::of_parts(
            input.get_id_property().unwrap_or(default_id_property),
            input.id(),
            input.properties_map(),
        )
    }

    /// The fingerprint of a record given as its parts.
    pub fn of_parts(id_property: &str, id: &str, properties: &BTreeMap<String, String>) -> Self {
        // 0xFE and 0xFF never occur in UTF-8: as separators they make the byte stream
        // unambiguous.
        let mut h = Xxh3::new();
        h.update(id_property.as_bytes());
        h.update(&[0xFF]);
        h.update(id.as_bytes());
        for (name, value) in properties {
            h.update(&[0xFF]);
            h.update(name.as_bytes());
            h.update(&[0xFE]);
            h.update(value.as_bytes());
        }
        Self(h.digest())
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A string that is not 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is 16 hex digits")]
#[non_exhaustive]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(BadFingerprint);
        }
        u64::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| BadFingerprint)
    }
}

/// Whether to send a record again when resuming, see [`Resume::decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Not confirmed written as it is now: send it.
    Send,
    /// An earlier run wrote this very content: skip it.
    AlreadyWritten,
    /// An earlier run wrote a later record of the input with the same id: sending this
    /// older one would overwrite it. Skip it.
    Superseded,
}

impl Decision {
    /// `Send`.
    pub fn is_send(self) -> bool {
        self == Self::Send
    }
}

/// What an earlier run confirmed written, to finish its job without writing anything
/// twice: fill it from that run's outcomes (each written record's id, fingerprint and
/// position in the input), then ask [`decide`](Self::decide) for each record of the
/// input.
///
/// Memory: about 40 bytes per record written earlier.
///
/// ```
/// use hubspot_tickets::{Decision, Fingerprint, Resume, TicketInput};
///
/// let earlier = TicketInput::new("ZD-1").property("subject", "Printer jams");
/// let mut resume = Resume::new("external_ticket_id");
/// // The earlier run reported the record at position 0 written.
/// resume.written(None, "ZD-1", Fingerprint::of(&earlier, "external_ticket_id"), 0);
///
/// assert_eq!(resume.decide(&earlier, 0), Decision::AlreadyWritten);
/// let edited = TicketInput::new("ZD-1").property("subject", "Printer fixed");
/// assert_eq!(resume.decide(&edited, 0), Decision::Send);
/// assert_eq!(resume.decide(&TicketInput::new("ZD-2"), 1), Decision::Send);
/// ```
#[derive(Clone, Debug)]
pub struct Resume {
    default_id_property: String,
    /// By the hash of (`idProperty`, id): the latest write confirmed.
    written: HashMap<Fingerprint, Written>,
}

#[derive(Clone, Copy, Debug)]
struct Written {
    fingerprint: Fingerprint,
    position: u64,
}

impl Resume {
    /// Nothing written yet; records name `default_id_property` unless they name their own.
    pub fn new(default_id_property: impl Into<String>) -> Self {
        Self {
            default_id_property: default_id_property.into(),
            written: HashMap::new(),
        }
    }

    fn key(&self, id_property: Option<&str>, id: &str) -> Fingerprint {
        Fingerprint::of_parts(
            id_property.unwrap_or(&self.default_id_property),
            id,
            &BTreeMap::new(),
        )
    }

    /// Notes that an earlier run wrote the record with this id and fingerprint, found at
    /// `position` in the input (any increasing numbering: index, line). Of several
    /// writes of one id, the latest position counts.
    pub fn written(
        &mut self,
        id_property: Option<&str>,
        id: &str,
        fingerprint: Fingerprint,
        position: u64,
    ) {
        let w = Written {
            fingerprint,
            position,
        };
        match self.written.entry(self.key(id_property, id)) {
            Entry::Occupied(mut e) => {
                if e.get().position <= position {
                    e.insert(w);
                }
            }
            Entry::Vacant(e) => {
                e.insert(w);
            }
        }
    }

    /// Records noted written.
    pub fn len(&self) -> usize {
        self.written.len()
    }

    /// Whether nothing was noted written.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// Whether to send `input`, found at `position` in the input, again.
    pub fn decide(&self, input: &TicketInput, position: u64) -> Decision {
        self.decide_fingerprint(
            input.get_id_property(),
            input.id(),
            Fingerprint::of(input, &self.default_id_property),
            position,
        )
    }

    /// [`decide`](Self::decide) for a record given by its id and fingerprint.
    pub fn decide_fingerprint(
        &self,
        id_property: Option<&str>,
        id: &str,
        fingerprint: Fingerprint,
        position: u64,
    ) -> Decision {
        let Some(w) = self.written.get(&self.key(id_property, id)) else {
            return Decision::Send;
        };
        if w.fingerprint == fingerprint {
            Decision::AlreadyWritten
        } else if w.position > position {
            Decision::Superseded
        } else {
            Decision::Send
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_see_every_part() {
        let a = TicketInput::new("ZD-1").property("subject", "x");
        let fp = Fingerprint::of(&a, "external_ticket_id");
        // The published algorithm: a fixed value, whatever the run or the version
        // (reports of earlier versions must still resume).
        assert_eq!(fp.to_string(), "a862b00c61cef106");
        assert_eq!(fp.to_string().parse::<Fingerprint>(), Ok(fp));
        assert_eq!(
            fp,
            Fingerprint::of(&a.clone().trace_id("t-9"), "external_ticket_id")
        );
        let others = [
            Fingerprint::of(&a, "other_property"),
            Fingerprint::of(
                &TicketInput::new("ZD-2").property("subject", "x"),
                "external_ticket_id",
            ),
            Fingerprint::of(
                &TicketInput::new("ZD-1").property("subject", "y"),
                "external_ticket_id",
            ),
            Fingerprint::of(
                &TicketInput::new("ZD-1").property("subjec", "tx"),
                "external_ticket_id",
            ),
            Fingerprint::of(&TicketInput::new("ZD-1"), "external_ticket_id"),
        ];
        for o in others {
            assert_ne!(o, fp);
        }
        assert!("xyz".parse::<Fingerprint>().is_err());
        assert!("000000000000000g".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn decisions_follow_the_latest_write_of_each_id() {
        let v1 = TicketInput::new("A").property("subject", "v1");
        let v2 = TicketInput::new("A").property("subject", "v2");
        let fp = |i: &TicketInput| Fingerprint::of(i, "p");
        let mut r = Resume::new("p");
        r.written(None, "A", fp(&v2), 10);
        // The earlier v1 (line 2) was superseded by v2 (line 10), written.
        assert_eq!(r.decide(&v1, 2), Decision::Superseded);
        assert_eq!(r.decide(&v2, 10), Decision::AlreadyWritten);
        // A v1 after the written v2 is a newer write: send it.
        assert_eq!(r.decide(&v1, 12), Decision::Send);
        // An older note does not replace a later one.
        r.written(None, "A", fp(&v1), 2);
        assert_eq!(r.decide(&v2, 10), Decision::AlreadyWritten);
        assert_eq!(r.len(), 1);
        // Another idProperty is another record.
        assert_eq!(r.decide(&v2.clone().id_property("q"), 10), Decision::Send);
    }
}
