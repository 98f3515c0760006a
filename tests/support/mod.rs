//! Where the shared fixtures are: `$ELB_FIXTURES`, else `../shared/fixtures`
//! beside the checkout (as on the project's machines and in CI), else
//! `/work/shared/fixtures`. A missing fixture folder FAILS the tests: golden
//! tests that skip silently would hide regressions.

use std::path::{Path, PathBuf};

pub fn fixtures_root() -> PathBuf {
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("ELB_FIXTURES") {
        cands.push(PathBuf::from(p));
    }
    cands.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    cands.push(PathBuf::from("/work/shared/fixtures"));
    for c in &cands {
        if c.join("README.md").exists() {
            return c.clone();
        }
    }
    panic!("shared fixtures not found (tried {cands:?}); set ELB_FIXTURES to the fixtures folder");
}
