//! Sorting, in one place.
//!
//! Every `sort_by` with its own closure is its own copy of the standard
//! library's sort (quicksort, drift merge, small-sort networks: 2–10 KB of
//! wasm each at opt-level 3), and the page's worker carried ~240 of them. The
//! engine's sorts go through the few non-generic functions here instead: each
//! maps its keys to integers that order the same way and sorts `(key, key,
//! tie)` triples with one sort, so the worker holds one copy of the sort code.
//!
//! Every order here is total (the last key is the item or its position), so
//! an unstable sort gives exactly the order a stable one would.

/// An `f64` as a `u64` that orders like [`f64::total_cmp`] (`-0.0` before
/// `+0.0`, NaN by sign and payload at the ends).
#[inline]
pub fn total_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// An `f64` as a `u64` that orders like IEEE comparison: `-0.0 == +0.0`, and
/// every NaN equal and after every number (numpy's order; what msit's sorts
/// see, `elb::engine::algo::replicas::key_cmp`).
#[inline]
pub fn ieee_key(x: f64) -> u64 {
    if x.is_nan() {
        u64::MAX
    } else {
        total_key(x + 0.0)
    }
}

/// Sort `(first key, second key, tie)` triples ascending: the one sort every
/// function here ends in (one copy of the sort code in the binary).
#[inline(never)]
pub fn triples(v: &mut [(u64, u64, u64)]) {
    v.sort_unstable();
}

/// Sort ids ascending (through [`by_comparison`]: the copy of the sort code
/// the file lists use too).
#[inline(never)]
pub fn ids(v: &mut [usize]) {
    by_comparison(v, &|a, b| a.cmp(&b));
}

/// Sort `v` by `cmp`: the one sort of `usize` lists (ids, positions).
#[inline(never)]
fn by_comparison(v: &mut [usize], cmp: &dyn Fn(usize, usize) -> std::cmp::Ordering) {
    v.sort_unstable_by(|&a, &b| cmp(a, b));
}

/// Reorder `items` by `(first, second)` keys of each, ascending, ties by the
/// item ascending.
fn by_keys(items: &mut [usize], key: impl Fn(usize) -> (u64, u64)) {
    let mut t: Vec<(u64, u64, u64)> = items
        .iter()
        .map(|&i| {
            let (a, b) = key(i);
            (a, b, i as u64)
        })
        .collect();
    triples(&mut t);
    for (x, &(_, _, i)) in items.iter_mut().zip(&t) {
        *x = i as usize;
    }
}

/// `items` by `key[item]` descending ([`f64::total_cmp`]), ties by item
/// ascending.
#[inline(never)]
pub fn desc_by(items: &mut [usize], key: &[f64]) {
    by_keys(items, |i| (!total_key(key[i]), 0));
}

/// `items` by `key[item * stride + offset]` descending ([`f64::total_cmp`]),
/// ties by item ascending (one column of a row-major matrix).
#[inline(never)]
pub fn desc_by_column(items: &mut [usize], key: &[f64], stride: usize, offset: usize) {
    by_keys(items, |i| (!total_key(key[i * stride + offset]), 0));
}

/// `items` by `key(item)` ascending ([`f64::total_cmp`]), ties by item
/// ascending.
#[inline(never)]
pub fn asc_by_fn(items: &mut [usize], key: &dyn Fn(usize) -> f64) {
    by_keys(items, |i| (total_key(key(i)), 0));
}

/// `items` with `first(item)` true before the others, then by `key(item)`
/// descending ([`f64::total_cmp`]), ties by item ascending.
#[inline(never)]
pub fn flagged_first_then_desc(items: &mut [usize], first: &dyn Fn(usize) -> bool, key: &dyn Fn(usize) -> f64) {
    by_keys(items, |i| (u64::from(!first(i)), !total_key(key(i))));
}

/// `items` by `count(item)` descending, then `key[item]` descending
/// ([`f64::total_cmp`]), ties by item ascending.
#[inline(never)]
pub fn desc_by_count_then(items: &mut [usize], count: &dyn Fn(usize) -> usize, key: &[f64]) {
    by_keys(items, |i| (!(count(i) as u64), !total_key(key[i])));
}

/// The permutation that sorts `keys` ascending, ties by position (a stable
/// sort's order); `desc` sorts descending, ties still by position.
#[inline(never)]
pub fn permutation(keys: &[u64], desc: bool) -> Vec<usize> {
    let mut t: Vec<(u64, u64, u64)> =
        keys.iter().enumerate().map(|(p, &k)| (if desc { !k } else { k }, 0, p as u64)).collect();
    triples(&mut t);
    t.into_iter().map(|(_, _, p)| p as usize).collect()
}

/// The order a stable sort by `cmp` puts the positions `0..n` in (`cmp`
/// compares two positions' items).
#[inline(never)]
pub fn stable_order(n: usize, cmp: &dyn Fn(usize, usize) -> std::cmp::Ordering) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    by_comparison(&mut p, &|a, b| cmp(a, b).then(a.cmp(&b)));
    p
}

/// Sort `v` by `cmp`, stable: `slice::sort_by`'s result, with one copy of
/// the sort code for every item type and comparison ([`stable_order`]).
pub fn sort_by<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let perm = stable_order(v.len(), &|a, b| cmp(&v[a], &v[b]));
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(perm.iter().filter_map(|&p| slots.get_mut(p).and_then(Option::take)));
}

/// Put `v` in the order of `perm` (a permutation of its positions).
pub fn apply<T: Clone>(v: &mut [T], perm: &[usize]) {
    let out: Vec<T> = perm.iter().map(|&p| v[p].clone()).collect();
    v.clone_from_slice(&out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn floats() -> Vec<f64> {
        vec![3.0, -0.0, 0.0, -1.5, f64::INFINITY, 2.0, f64::NEG_INFINITY, 1e-300, -1e-300, 2.0, 0.0, 7.25]
    }

    #[test]
    fn total_key_orders_like_total_cmp() {
        let v = floats();
        for &a in &v {
            for &b in &v {
                assert_eq!(total_key(a).cmp(&total_key(b)), a.total_cmp(&b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn ieee_key_orders_like_partial_cmp_with_nan_last() {
        let mut v = floats();
        v.push(f64::NAN);
        v.push(-f64::NAN);
        for &a in &v {
            for &b in &v {
                let want = match a.partial_cmp(&b) {
                    Some(o) => o,
                    None => a.is_nan().cmp(&b.is_nan()),
                };
                assert_eq!(ieee_key(a).cmp(&ieee_key(b)), want, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn desc_by_matches_the_closure_sort() {
        let key = floats();
        let mut got: Vec<usize> = (0..key.len()).rev().collect();
        desc_by(&mut got, &key);
        let mut want: Vec<usize> = (0..key.len()).collect();
        want.sort_by(|&a, &b| key[b].total_cmp(&key[a]).then(a.cmp(&b)));
        assert_eq!(got, want);
    }

    #[test]
    fn mixed_keys_match_the_closure_sorts() {
        let key = floats();
        let n = key.len();
        let count = |i: usize| (i * 7) % 3;
        let flag = |i: usize| i % 4 == 1;
        let mut got: Vec<usize> = (0..n).collect();
        desc_by_count_then(&mut got, &count, &key);
        let mut want: Vec<usize> = (0..n).collect();
        want.sort_by(|&a, &b| count(b).cmp(&count(a)).then(key[b].total_cmp(&key[a])).then(a.cmp(&b)));
        assert_eq!(got, want);

        let mut got: Vec<usize> = (0..n).collect();
        flagged_first_then_desc(&mut got, &flag, &|i| key[i]);
        let mut want: Vec<usize> = (0..n).collect();
        want.sort_by(|&x, &y| flag(y).cmp(&flag(x)).then(key[y].total_cmp(&key[x])).then(x.cmp(&y)));
        assert_eq!(got, want);

        let mut got: Vec<usize> = (0..n).collect();
        asc_by_fn(&mut got, &|i| key[i]);
        let mut want: Vec<usize> = (0..n).collect();
        want.sort_by(|&a, &b| key[a].total_cmp(&key[b]).then(a.cmp(&b)));
        assert_eq!(got, want);

        let m: Vec<f64> = (0..n * 3).map(|i| key[i % n] * (i / n) as f64).collect();
        let mut got: Vec<usize> = (0..n).collect();
        desc_by_column(&mut got, &m, 3, 2);
        let mut want: Vec<usize> = (0..n).collect();
        want.sort_by(|&x, &y| m[y * 3 + 2].total_cmp(&m[x * 3 + 2]).then(x.cmp(&y)));
        assert_eq!(got, want);
    }

    #[test]
    fn permutation_is_the_stable_order() {
        let keys: Vec<u64> = vec![5, 1, 5, 0, 1, 9, 5];
        let asc = permutation(&keys, false);
        let mut want: Vec<usize> = (0..keys.len()).collect();
        want.sort_by_key(|&p| keys[p]);
        assert_eq!(asc, want);
        let desc = permutation(&keys, true);
        let mut want: Vec<usize> = (0..keys.len()).collect();
        want.sort_by(|&a, &b| match keys[b].cmp(&keys[a]) {
            Ordering::Equal => a.cmp(&b),
            o => o,
        });
        assert_eq!(desc, want);
        let mut v = vec!['a', 'b', 'c', 'd', 'e', 'f', 'g'];
        apply(&mut v, &asc);
        assert_eq!(v, vec!['d', 'b', 'e', 'a', 'c', 'g', 'f']);
    }

    #[test]
    fn sort_by_is_the_stable_sort() {
        let items: Vec<(String, u32)> =
            ["b", "a", "c", "a", "b", "a", "", "c"].iter().enumerate().map(|(i, s)| (s.to_string(), i as u32)).collect();
        let mut got = items.clone();
        sort_by(&mut got, |x, y| x.0.cmp(&y.0));
        let mut want = items;
        want.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(got, want);
    }
}
