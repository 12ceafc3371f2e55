//! A map keyed by socket id, indexed directly: ids are handed out in increasing order and
//! never reused ([`SocketId`]), so the live ids of a host cluster in a window that moves up.
//! The map keeps that window in pages of 32 slots; a lookup is an index computation,
//! no hashing and no probing. A page is freed when its last slot empties, unless it is the
//! last page, which new ids fill (the last page freed is kept for the next page needed, so a
//! host with one socket at a time allocates nothing), and the empty pages in front of the
//! first used one are dropped when the window next grows at the back: memory follows the
//! live ids, plus one pointer per page from the oldest live id up to the highest id seen.
//! Any id may be inserted (an id below the window grows it at the front).

use crate::table::SocketId;

/// Slots per page (ids `k · PAGE .. (k + 1) · PAGE` share page `k`).
const PAGE: usize = 32;

/// A map by [`SocketId`] indexed directly (see the module documentation). Iteration
/// ([`IdMap::iter`]) is in id order, so walking it is deterministic.
#[derive(Clone, Debug)]
pub struct IdMap<V> {
    /// Page `first + k` at index `k`; `None` for a page with no value.
    pages: Vec<Option<Box<Page<V>>>>,
    /// Number of the page at index 0.
    first: u32,
    len: usize,
    /// An empty page, kept for the next page needed.
    spare: Option<Box<Page<V>>>,
}

#[derive(Clone, Debug)]
struct Page<V> {
    /// Slots holding a value.
    used: u32,
    slots: [Option<V>; PAGE],
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            pages: Vec::new(),
            first: 0,
            len: 0,
            spare: None,
        }
    }
}

/// (page number, slot in the page) of `id`.
fn split(id: SocketId) -> (u32, usize) {
    (id.0 / PAGE as u32, id.0 as usize % PAGE)
}

impl<V> IdMap<V> {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    fn page(&self, page: u32) -> Option<&Page<V>> {
        let k = page.checked_sub(self.first)?;
        self.pages.get(k as usize)?.as_deref()
    }

    /// Whether the map holds no value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of `id`: two index computations, no hashing.
    pub fn get(&self, id: SocketId) -> Option<&V> {
        let (p, s) = split(id);
        self.page(p)?.slots[s].as_ref()
    }

    /// The value of `id`, to change it.
    pub fn get_mut(&mut self, id: SocketId) -> Option<&mut V> {
        let (p, s) = split(id);
        let k = p.checked_sub(self.first)?;
        self.pages.get_mut(k as usize)?.as_deref_mut()?.slots[s].as_mut()
    }

    /// Whether `id` has a value.
    pub fn contains_key(&self, id: SocketId) -> bool {
        self.get(id).is_some()
    }

    /// Puts `v` under `id`; returns the value it replaces.
    #[inline]
    pub fn insert(&mut self, id: SocketId, v: V) -> Option<V> {
        let (p, s) = split(id);
        let k = p.wrapping_sub(self.first) as usize;
        let Some(Some(page)) = self.pages.get_mut(k) else {
            self.insert_in_new_page(id, v);
            return None;
        };
        let slot = &mut page.slots[s];
        if let Some(old) = slot {
            return Some(std::mem::replace(old, v));
        }
        *slot = Some(v);
        page.used += 1;
        self.len += 1;
        None
    }

    /// [`IdMap::insert`] into a page not allocated yet.
    #[cold]
    fn insert_in_new_page(&mut self, id: SocketId, v: V) {
        let (p, s) = split(id);
        if self.pages.is_empty() || p >= self.first + self.pages.len() as u32 {
            // Growing at the back: the last page is freed if empty (see `remove`), and the
            // empty pages in front are dropped.
            if let Some(last) = self.pages.last_mut() {
                if last.as_ref().is_some_and(|l| l.used == 0) {
                    let empty = last.take();
                    if self.spare.is_none() {
                        self.spare = empty;
                    }
                }
            }
            let lead = self.pages.iter().take_while(|p| p.is_none()).count();
            self.pages.drain(..lead);
            self.first = if self.pages.is_empty() {
                p
            } else {
                self.first + lead as u32
            };
        } else if p < self.first {
            let grow = (self.first - p) as usize;
            self.pages
                .splice(0..0, std::iter::repeat_with(|| None).take(grow));
            self.first = p;
        }
        let k = (p - self.first) as usize;
        if k >= self.pages.len() {
            self.pages.resize_with(k + 1, || None);
        }
        let mut page = self.spare.take().unwrap_or_else(|| {
            Box::new(Page {
                used: 0,
                slots: std::array::from_fn(|_| None),
            })
        });
        page.slots[s] = Some(v);
        page.used = 1;
        self.pages[k] = Some(page);
        self.len += 1;
    }

    /// Takes the value of `id` out of the map.
    #[inline]
    pub fn remove(&mut self, id: SocketId) -> Option<V> {
        let (p, s) = split(id);
        let k = p.checked_sub(self.first)? as usize;
        let page = self.pages.get_mut(k)?.as_deref_mut()?;
        let v = page.slots[s].take()?;
        page.used -= 1;
        self.len -= 1;
        // Ids grow into the last page: it stays. Any other page is freed once empty.
        if page.used == 0 && k + 1 < self.pages.len() {
            self.free_page(k);
        }
        Some(v)
    }

    /// Drops the value of `id` in place (no move out, for a large value the caller has read);
    /// returns whether there was one.
    pub fn discard(&mut self, id: SocketId) -> bool {
        let (p, s) = split(id);
        let Some(k) = p.checked_sub(self.first).map(|k| k as usize) else {
            return false;
        };
        let Some(page) = self.pages.get_mut(k).and_then(|p| p.as_deref_mut()) else {
            return false;
        };
        if page.slots[s].is_none() {
            return false;
        }
        page.slots[s] = None;
        page.used -= 1;
        self.len -= 1;
        // Ids grow into the last page: it stays. Any other page is freed once empty.
        if page.used == 0 && k + 1 < self.pages.len() {
            self.free_page(k);
        }
        true
    }

    /// Frees page `k`, left empty (kept as the spare page if there is none).
    #[cold]
    #[inline(never)]
    fn free_page(&mut self, k: usize) {
        let empty = self.pages[k].take();
        if self.spare.is_none() {
            self.spare = empty;
        }
    }

    /// Every id and value, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketId, &V)> + '_ {
        self.pages
            .iter()
            .zip(self.first..)
            .filter_map(|(p, n)| Some((p.as_deref()?, n)))
            .flat_map(|(p, n)| {
                p.slots
                    .iter()
                    .zip(0u32..)
                    .filter_map(move |(v, s)| Some((SocketId(n * PAGE as u32 + s), v.as_ref()?)))
            })
    }
}

impl<V> std::ops::Index<&SocketId> for IdMap<V> {
    type Output = V;

    fn index(&self, id: &SocketId) -> &V {
        self.get(*id).expect("id in the map")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn agrees_with_a_btree_map() {
        let mut m: IdMap<u32> = IdMap::default();
        let mut want: BTreeMap<SocketId, u32> = BTreeMap::new();
        let mut x = 0x9e37_79b9u32;
        for k in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // A window of ids that moves up, with a few far below and far above it.
            let id = SocketId(match x % 50 {
                0 => x % 97,
                1 => 1_000_000 + x % 300,
                _ => k / 4 + x % 500,
            });
            if x.is_multiple_of(6) {
                assert_eq!(m.discard(id), want.remove(&id).is_some(), "step {k}");
            } else if x.is_multiple_of(3) {
                assert_eq!(m.remove(id), want.remove(&id), "step {k}");
            } else {
                assert_eq!(m.insert(id, k), want.insert(id, k), "step {k}");
            }
            assert_eq!(m.len(), want.len());
            assert_eq!(m.get(id), want.get(&id));
        }
        assert!(m.iter().eq(want.iter().map(|(id, v)| (*id, v))));
        for (id, v) in want.iter_mut() {
            *v += 1;
            *m.get_mut(*id).unwrap() += 1;
        }
        assert!(m.iter().eq(want.iter().map(|(id, v)| (*id, v))));
        for id in want.keys() {
            assert!(m.contains_key(*id));
            m.remove(*id);
        }
        assert_eq!(m.len(), 0);
        assert!(
            m.pages.iter().rev().skip(1).all(Option::is_none),
            "every page but the last is freed"
        );
        // Growing past the emptied last page frees it.
        m.insert(SocketId(2_000_000), 1);
        assert_eq!(m.pages.iter().filter(|p| p.is_some()).count(), 1);
    }
}
