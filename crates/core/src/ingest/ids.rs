//! [`LeadIds`]: the ids of the loaded leads in one compact table, which ingest uses to refuse a
//! repeated id and a streaming reader hands on (queue order breaks ties by id).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};

use crate::error::{Error, Result};

/// Slots per id at most (the index grows before it is fuller than 3/4).
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;
/// A row and line that do not fit in 32 bits each are kept aside under this marker.
const PLACE_ASIDE: u64 = u64::MAX;

/// The ids of the loaded leads, in load order, each with the data row and physical line it was
/// read from, and an index that finds an id in constant time.
///
/// About 20 bytes per lead plus the ids' own bytes, and 4 to 8 more for the index while ids are
/// looked up: one string holds every id, and the index is open addressing over 32-bit slots
/// (what a `HashMap<Box<str>, _>` needs per entry is several times that), so a reader of
/// millions of leads can keep it.
#[derive(Debug, Clone, Default)]
pub struct LeadIds {
    /// Every id, one after another (at most 4 GiB).
    text: String,
    /// End of the k-th id in `text`.
    ends: Vec<u32>,
    /// Row (high 32 bits) and line (low 32 bits) of the k-th lead, or [`PLACE_ASIDE`].
    places: Vec<u64>,
    /// Rows and lines too large for `places`.
    aside: BTreeMap<usize, (u64, u64)>,
    /// `k + 1` for the k-th id, 0 for an empty slot; empty once the read is over.
    slots: Vec<u32>,
    hasher: RandomState,
}

impl LeadIds {
    /// Ids held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no id is held.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The k-th lead's id.
    pub fn get(&self, k: usize) -> Option<&str> {
        let end = *self.ends.get(k)? as usize;
        let start = match k {
            0 => 0,
            _ => *self.ends.get(k - 1)? as usize,
        };
        self.text.get(start..end)
    }

    /// The data row (1-based, as in [`crate::Lead::row`]) of the k-th lead.
    pub fn row(&self, k: usize) -> Option<u64> {
        self.place(k).map(|(row, _)| row)
    }

    /// Row and line of the k-th lead.
    fn place(&self, k: usize) -> Option<(u64, u64)> {
        match *self.places.get(k)? {
            PLACE_ASIDE => self.aside.get(&k).copied(),
            packed => Some((packed >> 32, packed & u64::from(u32::MAX))),
        }
    }

    /// Row and line of the lead with this id.
    pub(crate) fn find(&self, id: &str) -> Option<(u64, u64)> {
        let mut at = self.home(id)?;
        loop {
            let k = *self.slots.get(at)?;
            if k == 0 {
                return None;
            }
            let k = (k - 1) as usize;
            if self.get(k) == Some(id) {
                return self.place(k);
            }
            at = self.next(at);
        }
    }

    /// Adds an id not held yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] past `u32::MAX - 1` leads or 4 GiB of ids.
    pub(crate) fn push(&mut self, id: &str, row: u64, line: u64) -> Result<()> {
        let k = self.ends.len();
        if k >= (u32::MAX - 1) as usize {
            return Err(Error::InvalidArgument(format!(
                "more than {} leads in one file",
                u32::MAX - 1
            )));
        }
        let end = u32::try_from(self.text.len() + id.len()).map_err(|_| {
            Error::InvalidArgument("the ids of one file take more than 4 GiB".into())
        })?;
        if (k + 1) * LOAD_DEN > self.slots.len() * LOAD_NUM {
            self.rebuild((2 * self.slots.len()).max(64));
        }
        self.text.push_str(id);
        self.ends.push(end);
        match (u32::try_from(row), u32::try_from(line)) {
            (Ok(r), Ok(l)) if r != u32::MAX => {
                self.places.push((u64::from(r) << 32) | u64::from(l));
            }
            _ => {
                self.places.push(PLACE_ASIDE);
                self.aside.insert(k, (row, line));
            }
        }
        self.place_in_index(k);
        Ok(())
    }

    /// Makes room for `additional` more ids (the index too), so that a reader that can estimate
    /// the number of leads grows nothing as it reads.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let per_id = match self.ends.len() {
            0 => 16,
            n => self.text.len().div_ceil(n),
        };
        self.text.reserve(additional.saturating_mul(per_id));
        self.ends.reserve(additional);
        self.places.reserve(additional);
        let target = self.len().saturating_add(additional);
        if target.saturating_mul(LOAD_DEN) > self.slots.len() * LOAD_NUM {
            self.rebuild(target.saturating_mul(LOAD_DEN) / LOAD_NUM + 1);
        }
    }

    /// Frees the index once no more ids will be looked up ([`LeadIds::get`] and
    /// [`LeadIds::row`] still work).
    pub(crate) fn drop_index(&mut self) {
        // The rest is not shrunk: copying it would, for a moment, take more memory than the
        // unused capacity does (pages never written are not resident).
        self.slots = Vec::new();
    }

    /// The slot where the search for `id` starts: the hash scaled to the index's size (any
    /// size, so a reserved index is no larger than it must be). `None` without an index.
    fn home(&self, id: &str) -> Option<usize> {
        let size = self.slots.len();
        if size == 0 {
            return None;
        }
        let hash = self.hasher.hash_one(id);
        // (hash · size) / 2^64 < size.
        Some(((u128::from(hash) * size as u128) >> 64) as usize)
    }

    fn next(&self, at: usize) -> usize {
        if at + 1 >= self.slots.len() {
            0
        } else {
            at + 1
        }
    }

    fn place_in_index(&mut self, k: usize) {
        let Some(mut at) = self.get(k).and_then(|id| self.home(id)) else {
            return;
        };
        while self.slots.get(at).is_some_and(|&s| s != 0) {
            at = self.next(at);
        }
        if let Some(slot) = self.slots.get_mut(at) {
            // k < u32::MAX - 1, checked by `push`.
            *slot = k as u32 + 1;
        }
    }

    /// Replaces the index by one of `size` slots and places every id again.
    fn rebuild(&mut self, size: usize) {
        self.slots = Vec::new();
        self.slots = vec![0; size];
        for k in 0..self.ends.len() {
            self.place_in_index(k);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_every_id_and_keeps_rows_and_lines() {
        let mut ids = LeadIds::default();
        for k in 0..5000u64 {
            let id = format!("L{k:05}");
            assert_eq!(ids.find(&id), None);
            ids.push(&id, k + 1, 2 * k + 2).unwrap();
        }
        ids.push("", 5001, 1 << 40).unwrap();
        ids.push("名", u64::from(u32::MAX), 3).unwrap();
        assert_eq!(ids.len(), 5002);
        assert_eq!(ids.get(5000), Some(""));
        assert_eq!(ids.find("L01234"), Some((1235, 2470)));
        assert_eq!(ids.find(""), Some((5001, 1 << 40)));
        assert_eq!(ids.find("名"), Some((u64::from(u32::MAX), 3)));
        assert_eq!(ids.find("L5000"), None);
        // Reserving sizes the index once; every id is still found.
        ids.reserve(100_000);
        assert_eq!(ids.find("L04321"), Some((4322, 8644)));
        for k in 0..3000u64 {
            ids.push(&format!("M{k}"), 1, 1).unwrap();
        }
        assert_eq!(ids.find("M2999"), Some((1, 1)));
        assert_eq!(ids.get(0), Some("L00000"));
        assert_eq!(ids.get(5001), Some("名"));
        assert_eq!(ids.get(8002), None);
        assert_eq!(ids.row(4999), Some(5000));
        ids.drop_index();
        assert_eq!(ids.find("L00000"), None);
        assert_eq!((ids.get(1), ids.row(1)), (Some("L00001"), Some(2)));
    }
}
