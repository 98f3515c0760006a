//! Small ordered maps and sets: a vector of entries kept sorted by key.
//!
//! The engine, the job scheduler and the page use these instead of std's
//! `BTreeMap`/`BTreeSet`. A B-tree's node code (insert, split, merge, steal,
//! drop) is compiled again for every key/value type, 2–7 KB of wasm each,
//! and the page ships two wasm modules; the maps here hold files, ranks,
//! phases or jobs — tens to a few thousand entries — where a sorted vector
//! with binary search is as fast and its code is a few hundred bytes.
//!
//! Same behaviour as the std types where the engine relies on it: iteration
//! in key order, `insert` on a present key replaces the value and keeps the
//! key, collecting keeps the last value of a repeated key.

use std::borrow::Borrow;

/// An ordered map on a sorted vector (see the module's notes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedMap<K, V> {
    items: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap { items: Vec::new() }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    pub fn new() -> Self {
        SortedMap { items: Vec::new() }
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.items.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.items[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.items[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`; the value it replaces, if the key was there
    /// (the stored key is kept, as `BTreeMap::insert` does).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.items[i].1, value)),
            Err(i) => {
                self.items.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.items.remove(i).1)
    }

    /// The value under `key`, made by `make` first if the key is new
    /// (`entry(key).or_insert_with(make)`).
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.items.insert(i, (key, make()));
                i
            }
        };
        &mut self.items[i].1
    }

    /// `entry(key).or_default()`.
    pub fn or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.get_or_insert_with(key, V::default)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.items.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.items.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.items.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.items.iter_mut().map(|(_, v)| v)
    }

    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.items.into_iter().map(|(_, v)| v)
    }

    /// Keeps the entries for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.items.retain_mut(|(k, v)| keep(k, v));
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SortedMap<K, V> {
    /// Later values of a repeated key win, as with `BTreeMap`.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = SortedMap::new();
        map.extend(iter);
        map
    }
}

impl<K: Ord, V> Extend<(K, V)> for SortedMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K, V> IntoIterator for SortedMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Borrowed entries as `(&key, &value)`, as for `&BTreeMap`.
type Pairs<'a, K, V> = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

impl<'a, K, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Pairs<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().map(|(k, v)| (k, v))
    }
}

/// An ordered set on a sorted vector (see the module's notes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedSet<T> {
    items: Vec<T>,
}

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        SortedSet { items: Vec::new() }
    }
}

impl<T: Ord> SortedSet<T> {
    pub fn new() -> Self {
        SortedSet { items: Vec::new() }
    }

    fn find<Q: Ord + ?Sized>(&self, item: &Q) -> Result<usize, usize>
    where
        T: Borrow<Q>,
    {
        self.items.binary_search_by(|t| t.borrow().cmp(item))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds `item`; false if it was there already (then the stored one is kept).
    pub fn insert(&mut self, item: T) -> bool {
        match self.find(&item) {
            Ok(_) => false,
            Err(i) => {
                self.items.insert(i, item);
                true
            }
        }
    }

    pub fn contains<Q: Ord + ?Sized>(&self, item: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.find(item).is_ok()
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, item: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        match self.find(item) {
            Ok(i) => {
                self.items.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    pub fn first(&self) -> Option<&T> {
        self.items.first()
    }

    pub fn last(&self) -> Option<&T> {
        self.items.last()
    }
}

impl<T: Ord> FromIterator<T> for SortedSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut set = SortedSet::new();
        set.extend(iter);
        set
    }
}

impl<T: Ord> Extend<T> for SortedSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for t in iter {
            self.insert(t);
        }
    }
}

impl<T> IntoIterator for SortedSet<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a SortedSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use std::collections::{BTreeMap, BTreeSet};

    /// Random operations on a `SortedMap` and a `BTreeMap` side by side
    /// give the same results and the same contents in the same order.
    #[test]
    fn map_behaves_like_btreemap() {
        for seed in 0..50u64 {
            let mut rng = SplitMix64(seed);
            let mut ours: SortedMap<u32, u64> = SortedMap::new();
            let mut std_map: BTreeMap<u32, u64> = BTreeMap::new();
            for step in 0..400u64 {
                let k = (rng.next() % 40) as u32;
                match rng.next() % 6 {
                    0 | 1 => assert_eq!(ours.insert(k, step), std_map.insert(k, step)),
                    2 => assert_eq!(ours.remove(&k), std_map.remove(&k)),
                    3 => {
                        *ours.or_default(k) += step;
                        *std_map.entry(k).or_default() += step;
                    }
                    4 => {
                        *ours.get_or_insert_with(k, || 7) += step;
                        *std_map.entry(k).or_insert_with(|| 7) += step;
                    }
                    _ => assert_eq!(ours.get(&k), std_map.get(&k)),
                }
                assert_eq!(ours.len(), std_map.len());
                assert!(ours.iter().map(|(k, v)| (*k, *v)).eq(std_map.iter().map(|(k, v)| (*k, *v))));
            }
            ours.retain(|k, _| k % 3 != 0);
            std_map.retain(|k, _| k % 3 != 0);
            assert!(ours.into_iter().eq(std_map.into_iter()));
        }
    }

    #[test]
    fn collect_keeps_the_last_value_and_the_first_key() {
        let ours: SortedMap<&str, i32> = [("b", 1), ("a", 2), ("b", 3)].into_iter().collect();
        let std_map: BTreeMap<&str, i32> = [("b", 1), ("a", 2), ("b", 3)].into_iter().collect();
        assert!(ours.iter().eq(std_map.iter()));
        let s: SortedMap<String, u8> = [("x".to_string(), 1)].into_iter().collect();
        assert_eq!(s.get("x"), Some(&1), "borrowed lookups");
    }

    #[test]
    fn set_behaves_like_btreeset() {
        for seed in 0..50u64 {
            let mut rng = SplitMix64(seed);
            let mut ours: SortedSet<i64> = SortedSet::new();
            let mut std_set: BTreeSet<i64> = BTreeSet::new();
            for _ in 0..300 {
                let x = (rng.next() % 50) as i64 - 25;
                match rng.next() % 3 {
                    0 | 1 => assert_eq!(ours.insert(x), std_set.insert(x)),
                    _ => assert_eq!(ours.remove(&x), std_set.remove(&x)),
                }
                assert_eq!(ours.contains(&x), std_set.contains(&x));
                assert!(ours.iter().eq(std_set.iter()));
                assert_eq!(ours.first(), std_set.first());
                assert_eq!(ours.last(), std_set.last());
            }
        }
    }
}
