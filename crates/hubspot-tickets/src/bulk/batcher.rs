//! Batching with per-id ordering (for bulk runs and `upsert_batch` alike): fills batches of up to 100 so that no batch holds two
//! inputs for the same ticket and no two writes of one ticket are in flight at once;
//! a repeat waits until the earlier write is answered, then goes in input order.
//!
//! Batches are also bounded by weight (an estimate of the memory their records hold),
//! so records with thousands of properties go in smaller batches and the memory of a
//! run follows what it sends, not how many records a batch may hold.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use hubspot_tickets_client::types::TicketUpsertInput;

use crate::engine::{Job, MAX_BATCH};

/// A record's key (its id property and id) as a number. Two keys sharing a number only
/// make one wait for the other, so a fast hash will do (SipHash was a visible cost).
fn key_of(input: &TicketUpsertInput) -> u64 {
    foldhash::fast::FixedState::default().hash_one((&input.id_property, &input.id))
}

/// The most weight a batch takes on before it is sent: 4 MiB, about 100 records of 500
/// properties. Ordinary records (tens of properties) fill 100 inputs first.
pub(crate) const MAX_BATCH_WEIGHT: usize = 4 << 20;

/// Estimated memory per property besides its text (two `String`s and a map entry).
const PROPERTY_OVERHEAD: usize = 64;

/// An input's estimated memory: its text plus a fixed cost per property.
fn weight(input: &TicketUpsertInput) -> usize {
    input.properties.iter().fold(input.id.len(), |sum, (k, v)| {
        sum.saturating_add(k.len() + v.len() + PROPERTY_OVERHEAD)
    })
}

/// The batch being filled.
#[derive(Default)]
struct Open {
    inputs: Vec<TicketUpsertInput>,
    positions: Vec<u64>,
    keys: Vec<u64>,
    weight: usize,
}

impl Open {
    /// Full by count, or by weight (a record heavier than the bound goes alone).
    fn is_full(&self) -> bool {
        self.inputs.len() >= MAX_BATCH || self.weight >= MAX_BATCH_WEIGHT
    }

    fn push(&mut self, position: u64, key: u64, weight: usize, input: TicketUpsertInput) {
        self.weight = self.weight.saturating_add(weight);
        if self.inputs.capacity() == 0 {
            self.inputs.reserve_exact(MAX_BATCH);
            self.positions.reserve_exact(MAX_BATCH);
            self.keys.reserve_exact(MAX_BATCH);
        }
        self.inputs.push(input);
        self.positions.push(position);
        self.keys.push(key);
    }
}

struct KeyState {
    /// A record with this key is in the open batch or in flight.
    active: bool,
    /// Records with this key waiting in `deferred`.
    deferred: u32,
    /// The latest record read with this key.
    last: u64,
}

struct Deferred {
    position: u64,
    key: u64,
    weight: usize,
    input: TicketUpsertInput,
}

/// A batch handed out for sending, with the keys to release when it is answered.
pub(crate) struct Batch {
    pub job: Job,
    pub keys: Vec<u64>,
}

/// Records between the input and the engine: the open batch and the repeats waiting
/// for an earlier write of their ticket.
pub(crate) struct Batcher {
    open: Open,
    keys: HashMap<u64, KeyState, foldhash::fast::RandomState>,
    deferred: VecDeque<Deferred>,
    deferred_cap: usize,
    /// The weight of the records in `deferred`, bounded like their count.
    deferred_weight: usize,
    deferred_weight_cap: usize,
    promote_needed: bool,
}

impl Batcher {
    /// `deferred_cap`: how many repeats may wait before the open batch is sent anyway
    /// (and so, in batches' worth, how much weight).
    pub fn new(deferred_cap: usize) -> Self {
        Self {
            open: Open::default(),
            keys: HashMap::default(),
            deferred: VecDeque::new(),
            deferred_cap,
            deferred_weight: 0,
            deferred_weight_cap: deferred_cap.div_ceil(MAX_BATCH).max(1) * MAX_BATCH_WEIGHT,
            promote_needed: false,
        }
    }

    /// Adds a prepared record; returns the position of the earlier record with the same
    /// key that it follows, if that one is still here or in flight.
    pub fn push(&mut self, position: u64, input: TicketUpsertInput) -> Option<u64> {
        let key = key_of(&input);
        let weight = weight(&input);
        match self.keys.entry(key) {
            Entry::Occupied(mut e) => {
                let st = e.get_mut();
                st.deferred += 1;
                let earlier = std::mem::replace(&mut st.last, position);
                self.deferred_weight = self.deferred_weight.saturating_add(weight);
                self.deferred.push_back(Deferred {
                    position,
                    key,
                    weight,
                    input,
                });
                Some(earlier)
            }
            Entry::Vacant(e) => {
                e.insert(KeyState {
                    active: true,
                    deferred: 0,
                    last: position,
                });
                self.open.push(position, key, weight, input);
                None
            }
        }
    }

    /// Whether the repeats waiting behind earlier writes are as many, or as heavy, as
    /// allowed.
    fn deferred_full(&self) -> bool {
        self.deferred.len() >= self.deferred_cap || self.deferred_weight >= self.deferred_weight_cap
    }

    /// Whether more records may be read now.
    pub fn has_room(&self) -> bool {
        !self.open.is_full() && !self.deferred_full()
    }

    pub fn open_len(&self) -> usize {
        self.open.inputs.len()
    }

    /// Whether the open batch should go now, whatever the linger: full, or repeats
    /// are piling up behind it.
    pub fn must_send(&self) -> bool {
        self.open.is_full() || self.deferred_full()
    }

    pub fn is_empty(&self) -> bool {
        self.open.inputs.is_empty() && self.deferred.is_empty()
    }

    /// Hands out the open batch.
    pub fn take(&mut self) -> Batch {
        let open = std::mem::take(&mut self.open);
        Batch {
            job: Job {
                inputs: open.inputs,
                positions: open.positions,
            },
            keys: open.keys,
        }
    }

    /// A batch was answered: its keys are free, and repeats waiting for them may go.
    pub fn release(&mut self, keys: Vec<u64>) {
        for k in keys {
            if let Entry::Occupied(mut e) = self.keys.entry(k) {
                let st = e.get_mut();
                st.active = false;
                if st.deferred == 0 {
                    e.remove();
                } else {
                    self.promote_needed = true;
                }
            }
        }
        if self.promote_needed {
            self.promote();
        }
    }

    /// Moves repeats whose earlier write has finished into the open batch.
    pub fn promote(&mut self) {
        if !self.promote_needed {
            return;
        }
        self.promote_needed = false;
        let mut i = 0;
        while i < self.deferred.len() {
            if self.open.is_full() {
                self.promote_needed = true;
                break;
            }
            let key = self.deferred[i].key;
            let Some(st) = self.keys.get_mut(&key) else {
                i += 1;
                continue;
            };
            if st.active {
                i += 1;
                continue;
            }
            st.active = true;
            st.deferred = st.deferred.saturating_sub(1);
            if let Some(d) = self.deferred.remove(i) {
                self.deferred_weight = self.deferred_weight.saturating_sub(d.weight);
                self.open.push(d.position, d.key, d.weight, d.input);
            }
        }
    }

    /// Everything not handed out, in input order (the run is stopping).
    pub fn drain(&mut self) -> Vec<(u64, TicketUpsertInput)> {
        let open = std::mem::take(&mut self.open);
        let deferred = std::mem::take(&mut self.deferred);
        self.deferred_weight = 0;
        self.keys.clear();
        self.promote_needed = false;
        let mut pending: Vec<(u64, TicketUpsertInput)> = open
            .positions
            .into_iter()
            .zip(open.inputs)
            .chain(deferred.into_iter().map(|d| (d.position, d.input)))
            .collect();
        pending.sort_by_key(|p| p.0);
        pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: &str, properties: usize) -> TicketUpsertInput {
        TicketUpsertInput {
            id: id.to_owned(),
            id_property: Some("external_ticket_id".to_owned()),
            object_write_trace_id: None,
            properties: (0..properties)
                .map(|i| (format!("p{i}"), "x".to_owned()))
                .collect(),
        }
    }

    /// Fills batches from `inputs` the way the bulk stream does; returns their sizes.
    fn batch_sizes(inputs: impl Iterator<Item = TicketUpsertInput>) -> Vec<usize> {
        let mut b = Batcher::new(MAX_BATCH);
        let mut sizes = Vec::new();
        for (position, i) in (0u64..).zip(inputs) {
            if !b.has_room() {
                sizes.push(b.take().job.inputs.len());
            }
            assert_eq!(b.push(position, i), None);
        }
        sizes.push(b.take().job.inputs.len());
        sizes
    }

    #[test]
    fn heavy_repeats_stop_the_reading_before_many_wait() {
        let mut b = Batcher::new(4 * MAX_BATCH);
        assert_eq!(b.push(0, input("SAME", 10_000)), None);
        let _in_flight = b.take();
        // Every later record repeats the id in flight: they wait, and at 16 MiB of
        // waiting weight (4 batches' worth) no more are read.
        let mut waiting = 0;
        while b.has_room() {
            waiting += 1;
            assert_eq!(b.push(waiting, input("SAME", 10_000)), Some(waiting - 1));
        }
        assert_eq!(waiting, 25, "about 680 KiB each");
        assert!(b.must_send());
    }

    #[test]
    fn ordinary_records_fill_batches_of_one_hundred() {
        let sizes = batch_sizes((0..250).map(|i| input(&format!("T-{i}"), 20)));
        assert_eq!(sizes, [100, 100, 50]);
    }

    #[test]
    fn heavy_records_go_in_lighter_batches() {
        // 10,000 properties weigh about 680 KiB a record: the seventh passes 4 MiB.
        let sizes = batch_sizes((0..20).map(|i| input(&format!("W-{i}"), 10_000)));
        assert_eq!(sizes, [7, 7, 6]);
        // One record heavier than the bound goes alone.
        let sizes = batch_sizes((0..3).map(|i| input(&format!("H-{i}"), 100_000)));
        assert_eq!(sizes, [1, 1, 1]);
    }
}
