//! Values many keys share, kept once and counted: a million routes via one
//! gateway are a handful of distinct states, so the route table holds a
//! 4-byte id per prefix instead of the state itself (docs/DESIGN.md §4).

use std::hash::Hash;

use crate::fasthash::FastMap;

/// The id of an interned value, valid while it is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Id(u32);

#[derive(Debug)]
pub(crate) struct Interner<T> {
    ids: FastMap<T, Id>,
    slots: Vec<Slot<T>>,
    /// Slots whose value is no longer counted, reused first.
    free: Vec<Id>,
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    refs: u32,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            ids: FastMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T: Clone + Hash + Eq> Interner<T> {
    /// Counts one more holder of `value`, kept once however many hold it.
    pub fn intern(&mut self, value: T) -> Id {
        if let Some(&id) = self.ids.get(&value) {
            self.slots[id.index()].refs += 1;
            return id;
        }
        let slot = Slot {
            value: Some(value.clone()),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id.index()] = slot;
                id
            }
            None => {
                // More distinct values than u32 ids cannot be: each is held
                // by at least one of at most as many prefixes.
                let id = Id(u32::try_from(self.slots.len()).expect("interned ids exhausted"));
                self.slots.push(slot);
                id
            }
        };
        self.ids.insert(value, id);
        id
    }

    /// One holder of `id` fewer; the value goes with its last holder.
    pub fn release(&mut self, id: Id) {
        let slot = &mut self.slots[id.index()];
        slot.refs -= 1;
        if slot.refs == 0 {
            if let Some(value) = slot.value.take() {
                self.ids.remove(&value);
            }
            self.free.push(id);
        }
    }

    /// The value of a counted id.
    pub fn get(&self, id: Id) -> &T {
        self.slots[id.index()]
            .value
            .as_ref()
            .expect("an interned id is read only while counted")
    }

    /// Every value held, with how many hold it.
    pub fn counted(&self) -> impl Iterator<Item = (&T, u32)> {
        self.slots
            .iter()
            .filter_map(|slot| Some((slot.value.as_ref()?, slot.refs)))
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.slots.clear();
        self.free.clear();
    }
}

impl Id {
    fn index(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_an_id_until_their_last_holder_goes() {
        let mut interner = Interner::default();
        let a = interner.intern("via 10.0.0.1".to_owned());
        let b = interner.intern("via 10.0.0.1".to_owned());
        let c = interner.intern("via 10.0.0.2".to_owned());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(interner.counted().count(), 2);
        assert_eq!(interner.get(a), "via 10.0.0.1");

        interner.release(a);
        assert_eq!(interner.get(b), "via 10.0.0.1", "one holder is left");
        interner.release(b);
        assert_eq!(interner.counted().count(), 1);

        // The freed slot serves the next new value.
        let d = interner.intern("blackhole".to_owned());
        assert_eq!(d, a);
        let mut counted: Vec<_> = interner.counted().collect();
        counted.sort();
        assert_eq!(
            counted,
            vec![
                (&"blackhole".to_owned(), 1),
                (&"via 10.0.0.2".to_owned(), 1)
            ]
        );
    }
}
