//! Resuming a run: fingerprints of what a record would write, and the decision, from
//! what an earlier run confirmed written, whether to send it again.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use xxhash_rust::xxh3::Xxh3;

use crate::records::RecordInput;

/// What one record would write: its `idProperty`, id and properties, hashed with a
/// published algorithm (XXH3, 64 bits), so the same record has the same fingerprint in
/// every run and every version of this crate. Trace ids are left out (they are per
/// run). Prints and parses as 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// The fingerprint of `input`, whose `idProperty` is `default_id_property` unless
    /// it names its own.
    pub fn of(input: &RecordInput, default_id_property: &str) -> Self {
        Self::of_parts(
            input.id_property().unwrap_or(default_id_property),
            input.id(),
            input.properties(),
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
    /// Not known to be in HubSpot as it is now: send it.
    Send,
    /// The last thing an earlier run is known to have done to this record (same scope,
    /// `idProperty` and id) was to write this very content: skip it.
    AlreadyWritten,
}

impl Decision {
    /// `Send`.
    pub fn is_send(self) -> bool {
        self == Self::Send
    }
}

/// What earlier runs left in HubSpot, to finish their job without writing anything
/// twice and without ever putting an older value back.
///
/// Fill it with what those runs did, in the order they did it
/// ([`written`](Self::written) for a confirmed write, [`unsure`](Self::unsure) for a
/// write that may or may not have landed), then ask [`decide`](Self::decide) for each
/// record of the input, in input order. A [`Journal`](crate::Journal) does all of this
/// for a bulk run.
///
/// The decision compares content, never positions: a record is skipped only when the
/// last thing known of its id is a confirmed write of exactly its content. Anything
/// else is sent, and once a record of an id is sent, every later record of that id in
/// the input is sent too (in input order), so the input's last value is the one HubSpot
/// keeps, whichever file the earlier runs read and however it was edited since.
///
/// Memory: about 40 bytes per record written earlier.
///
/// ```
/// use hubspot_tickets::RecordInput;
/// use hubspot_tickets::resume::{Decision, Fingerprint, Resume};
///
/// let earlier = RecordInput::new("ZD-1").property("subject", "Printer jams");
/// let mut resume = Resume::new("external_ticket_id");
/// // The earlier run wrote this record.
/// resume.written(None, "ZD-1", Fingerprint::of(&earlier, "external_ticket_id"));
///
/// assert_eq!(resume.decide(&earlier), Decision::AlreadyWritten);
/// let edited = RecordInput::new("ZD-1").property("subject", "Printer fixed");
/// assert_eq!(resume.decide(&edited), Decision::Send);
/// // Once ZD-1 is sent again, its older content is no longer skipped either.
/// assert_eq!(resume.decide(&earlier), Decision::Send);
/// assert_eq!(resume.decide(&RecordInput::new("ZD-2")), Decision::Send);
/// ```
#[derive(Clone, Debug)]
pub struct Resume {
    default_id_property: String,
    /// By the hash of (`idProperty`, id): the content last confirmed written, while
    /// nothing later (an unsure write, a resend in this run) has made it uncertain.
    written: HashMap<Fingerprint, Fingerprint, foldhash::fast::RandomState>,
    /// After [`plan`](Self::plan): for ids in `written`, the input's last record.
    plan: Option<HashMap<Fingerprint, Fingerprint, foldhash::fast::RandomState>>,
}

impl Resume {
    /// Nothing written yet; records name `default_id_property` (with its scope, see
    /// [`Scope::fingerprint_name`](crate::journal::Scope::fingerprint_name)) unless they
    /// name their own.
    pub fn new(default_id_property: impl Into<String>) -> Self {
        Self {
            default_id_property: default_id_property.into(),
            written: HashMap::default(),
            plan: None,
        }
    }

    fn key(&self, id_property: Option<&str>, id: &str) -> Fingerprint {
        Fingerprint::of_parts(
            id_property.unwrap_or(&self.default_id_property),
            id,
            &BTreeMap::new(),
        )
    }

    /// Notes that an earlier run wrote the record with this id and fingerprint (after
    /// everything noted before).
    pub fn written(&mut self, id_property: Option<&str>, id: &str, fingerprint: Fingerprint) {
        let key = self.key(id_property, id);
        self.written.insert(key, fingerprint);
    }

    /// Notes that an earlier run sent the record with this id without learning whether
    /// HubSpot wrote it (it failed, or the run quit before the answer): what HubSpot
    /// holds for it is no longer known, so no record of it is skipped.
    pub fn unsure(&mut self, id_property: Option<&str>, id: &str) {
        let key = self.key(id_property, id);
        self.written.remove(&key);
    }

    /// Reads one record of the input ahead of the run (every record, in input order,
    /// before the first [`decide`](Self::decide)): decisions then follow each id's
    /// *last* record in the input. Every record of an id is skipped when its last one
    /// is what was written, and all are sent otherwise, so an input with repeated ids
    /// never has an older value sent again, even for a moment. Memory: one entry per
    /// id both written before and in the input.
    pub fn plan(&mut self, input: &RecordInput) {
        let fingerprint = Fingerprint::of(input, &self.default_id_property);
        self.plan_fingerprint(input.id_property(), input.id(), fingerprint);
    }

    /// [`plan`](Self::plan) for a record given by its id and fingerprint.
    pub fn plan_fingerprint(
        &mut self,
        id_property: Option<&str>,
        id: &str,
        fingerprint: Fingerprint,
    ) {
        let key = self.key(id_property, id);
        let plan = self.plan.get_or_insert_with(HashMap::default);
        if self.written.contains_key(&key) {
            plan.insert(key, fingerprint);
        }
    }

    /// Records whose written content is known.
    pub fn len(&self) -> usize {
        self.written.len()
    }

    /// Whether no record's written content is known.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// Whether to send `input`, the next record of the input. A record to send makes
    /// every later record of its id a record to send.
    pub fn decide(&mut self, input: &RecordInput) -> Decision {
        let fingerprint = Fingerprint::of(input, &self.default_id_property);
        self.decide_fingerprint(input.id_property(), input.id(), fingerprint)
    }

    /// [`decide`](Self::decide) for a record given by its id and fingerprint.
    pub fn decide_fingerprint(
        &mut self,
        id_property: Option<&str>,
        id: &str,
        fingerprint: Fingerprint,
    ) -> Decision {
        if self.written.is_empty() {
            return Decision::Send;
        }
        let key = self.key(id_property, id);
        if let Some(plan) = &self.plan
            && let (Some(w), Some(last)) = (self.written.get(&key), plan.get(&key))
        {
            // The input's last record of this id decides for all of them.
            return if w == last {
                Decision::AlreadyWritten
            } else {
                Decision::Send
            };
        }
        match self.written.get(&key) {
            Some(w) if *w == fingerprint => Decision::AlreadyWritten,
            Some(_) => {
                // Sent now: HubSpot's value for this id will come from this input,
                // so a later, equal-to-the-old record must be sent too.
                self.written.remove(&key);
                Decision::Send
            }
            None => Decision::Send,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_see_every_part() {
        let a = RecordInput::new("ZD-1").property("subject", "x");
        let fp = Fingerprint::of(&a, "external_ticket_id");
        // The published algorithm: a fixed value, whatever the run or the version
        // (reports of earlier versions must still resume).
        assert_eq!(fp.to_string(), "a862b00c61cef106");
        assert_eq!(fp.to_string().parse::<Fingerprint>(), Ok(fp));
        assert_eq!(
            fp,
            Fingerprint::of(&a.clone().with_trace_id("t-9"), "external_ticket_id")
        );
        let others = [
            Fingerprint::of(&a, "other_property"),
            Fingerprint::of(
                &RecordInput::new("ZD-2").property("subject", "x"),
                "external_ticket_id",
            ),
            Fingerprint::of(
                &RecordInput::new("ZD-1").property("subject", "y"),
                "external_ticket_id",
            ),
            Fingerprint::of(
                &RecordInput::new("ZD-1").property("subjec", "tx"),
                "external_ticket_id",
            ),
            Fingerprint::of(&RecordInput::new("ZD-1"), "external_ticket_id"),
        ];
        for o in others {
            assert_ne!(o, fp);
        }
        assert!("xyz".parse::<Fingerprint>().is_err());
        assert!("000000000000000g".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn decisions_compare_content_in_input_order() {
        let v1 = RecordInput::new("A").property("subject", "v1");
        let v2 = RecordInput::new("A").property("subject", "v2");
        let fp = |i: &RecordInput| Fingerprint::of(i, "p");
        let mut r = Resume::new("p");
        r.written(None, "A", fp(&v1));
        r.written(None, "A", fp(&v2));
        r.written(None, "B", fp(&RecordInput::new("B")));
        assert_eq!(r.len(), 2);
        // The last write of A was v2: v2 is skipped, however often it comes.
        assert_eq!(r.decide(&v2), Decision::AlreadyWritten);
        assert_eq!(r.decide(&v2), Decision::AlreadyWritten);
        // An older v1 first in the input: sent, and so is the v2 after it, so that
        // HubSpot ends with the input's last value.
        let mut r2 = r.clone();
        assert_eq!(r2.decide(&v1), Decision::Send);
        assert_eq!(r2.decide(&v2), Decision::Send);
        // Another idProperty is another record.
        assert_eq!(r.decide(&v2.clone().with_id_property("q")), Decision::Send);
        // A write whose fate is unknown makes the id unknown.
        r.unsure(None, "B");
        assert_eq!(r.decide(&RecordInput::new("B")), Decision::Send);
        assert_eq!(r.len(), 1);
    }
}
