//! Independent items (layers, sweep points) on all cores natively, one after
//! the other in wasm.
//!
//! Natively the items run on the current rayon pool (the global one, sized
//! by `RAYON_NUM_THREADS` or the number of cores, or the pool a caller
//! `install`s, e.g. `elb --threads N`); in wasm (the page spreads layer
//! ranges over web workers instead) this is a plain loop and rayon is not
//! linked, so the bundle does not grow.
//!
//! The result never depends on the thread count: item `i` is computed by
//! `f(i)` alone (algorithms derive any randomness from the seed and the
//! layer index), and results, errors and warnings are put together in item
//! order. The progress callback stays on the calling thread: it is called
//! with `1, 2, ..., n` in that order (counts of items done, possibly a few
//! at once when other threads finished items meanwhile); returning `false`
//! cancels: no further item starts and the call returns "cancelled".

use super::error::{Error, Result};

/// Threads the current pool runs on (1 in wasm).
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::current_num_threads().max(1)
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// Run `f` on a pool of `threads` threads (0 = all cores; natively only; in
/// wasm `f` simply runs). Errors when the pool cannot be built.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::param("--threads", format!("cannot start {threads} threads: {e}")))?;
        Ok(pool.install(f))
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = threads;
        Ok(f())
    }
}

/// `[f(0), f(1), ..., f(n - 1)]`, on all cores natively. The first error in
/// item order is returned (an error stops further items from starting, but
/// every item before it has already started, so it is the same error a
/// sequential loop gives). See the module docs for `progress`.
pub fn map<T, F>(n: usize, progress: &mut dyn FnMut(usize) -> bool, f: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize) -> Result<T> + Sync,
{
    #[cfg(not(target_arch = "wasm32"))]
    {
        if n > 1 && threads() > 1 {
            return map_parallel(n, progress, &f);
        }
    }
    map_sequential(n, progress, &f)
}

/// [`map`] over the layers `range` (item `i` is layer `range.start + i`).
pub fn map_layers<T, F>(range: std::ops::Range<usize>, progress: &mut dyn FnMut(usize) -> bool, f: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize) -> Result<T> + Sync,
{
    let start = range.start;
    map(range.len(), progress, |i| f(start + i))
}

fn cancelled() -> Error {
    Error::cancelled()
}

fn map_sequential<T>(n: usize, progress: &mut dyn FnMut(usize) -> bool, f: &(dyn Fn(usize) -> Result<T> + Sync)) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(f(i)?);
        if !progress(i + 1) {
            return Err(cancelled());
        }
    }
    Ok(out)
}

/// Every thread of the pool (the calling one included) takes the next item
/// from a shared counter until none is left, an item failed or the caller
/// cancelled. Items are taken in increasing order, so when item `k` fails
/// every item before `k` has been taken and completes.
#[cfg(not(target_arch = "wasm32"))]
fn map_parallel<T: Send>(
    n: usize,
    progress: &mut dyn FnMut(usize) -> bool,
    f: &(dyn Fn(usize) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<T>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    // One item: `false` when there is nothing left to take.
    let step = || -> bool {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            return false;
        }
        let r = f(i);
        if r.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        if let Ok(mut s) = slots[i].lock() {
            *s = Some(r);
        }
        done.fetch_add(1, Ordering::AcqRel);
        true
    };
    let mut reported = 0usize;
    let mut ok = true;
    let mut report = |upto: usize, reported: &mut usize, ok: &mut bool| {
        while *ok && *reported < upto {
            *reported += 1;
            if !progress(*reported) {
                *ok = false;
                stop.store(true, Ordering::Relaxed);
            }
        }
    };
    let helpers = threads().min(n) - 1;
    rayon::in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| while step() {});
        }
        // The calling thread works too, and reports progress between its items.
        while step() {
            report(done.load(Ordering::Acquire), &mut reported, &mut ok);
        }
    });
    let mut out = Vec::with_capacity(n);
    for slot in slots {
        match slot.into_inner().ok().flatten() {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            // Not started: the caller cancelled.
            None => return Err(cancelled()),
        }
        report(out.len(), &mut reported, &mut ok);
        if !ok {
            return Err(cancelled());
        }
    }
    Ok(out)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn on(threads: usize, f: impl FnOnce() + Send) {
        with_threads(threads, f).unwrap();
    }

    #[test]
    fn same_results_and_progress_for_any_thread_count() {
        for t in [1, 2, 3, 8] {
            on(t, || {
                let mut seen = Vec::new();
                let v = map(37, &mut |k| {
                    seen.push(k);
                    true
                }, |i| Ok(i * i))
                .unwrap();
                assert_eq!(v, (0..37).map(|i| i * i).collect::<Vec<_>>());
                assert_eq!(seen, (1..=37).collect::<Vec<_>>());
                let v = map_layers(5..9, &mut |_| true, Ok).unwrap();
                assert_eq!(v, vec![5, 6, 7, 8]);
            });
        }
    }

    #[test]
    fn first_error_in_order_and_cancel() {
        for t in [1, 2, 4] {
            on(t, || {
                let e = map(50, &mut |_| true, |i| if i == 7 || i == 30 { Err(Error::msg(format!("bad {i}"))) } else { Ok(i) })
                    .unwrap_err();
                assert_eq!(e.message, "bad 7");
                // Items that take a moment (1 ms): with instant ones the other
                // threads can take all 10 000 before the calling thread, which
                // reports progress between its own items, gets a core on a
                // loaded machine (a lone CI run saw it).
                let started = AtomicUsize::new(0);
                let e = map(10_000, &mut |k| k < 3, |i| {
                    started.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    Ok(i)
                })
                .unwrap_err();
                assert_eq!(e.message, "cancelled");
                assert!(started.load(Ordering::Relaxed) < 10_000, "cancel stops the items");
            });
        }
    }

    #[test]
    fn nested_maps_run() {
        on(2, || {
            let v = map(4, &mut |_| true, |i| map(5, &mut |_| true, |j| Ok(i * 10 + j)).map(|x| x.iter().sum::<usize>())).unwrap();
            assert_eq!(v, vec![10, 60, 110, 160]);
        });
    }

    use std::sync::atomic::{AtomicUsize, Ordering};
}
