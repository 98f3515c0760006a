//! The page's work off the main thread, the parts that need no browser:
//! [`protocol`], the one typed message protocol of every web worker, and
//! [`scheduler`], the solver pool's bookkeeping (which range goes to which
//! worker, cancellation, order of results, progress). Compiled natively and
//! tested natively (`tests/jobs.rs`); the browser glue is in `ui::wire`,
//! `ui::pool`, `ui::worker` and `ui::ingest_worker`.

pub mod protocol;
pub mod scheduler;
