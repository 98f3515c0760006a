//! Not a test: writes a synthetic DeepSeek-V3-size time-series dump (about
//! 200 MB) for the browser ingest measurement (tests/e2e/ingest.test.mjs with
//! ELB_INGEST_DUMP). Run:
//! `ELB_SYNTH_OUT=/tmp/synth cargo test --release --test write_synth_dump -- --ignored`

#[test]
#[ignore]
fn write_synth_dump() {
    let Some(out) = std::env::var_os("ELB_SYNTH_OUT") else { return };
    let out = std::path::PathBuf::from(out);
    for f in elb::engine::ingest::synth::synth_series_dump(58, 256, 64, 2000, 8, 42) {
        let p = out.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &f.bytes).unwrap();
    }
}
