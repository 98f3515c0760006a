//! The engine side of the studio's result extras: the expert-popularity
//! figures (copies per expert, shares) and the "Download all" archive
//! (a stored ZIP with both tables and the report), read back by our own
//! reader and, where installed, by `unzip -t` and Python's `zipfile`.

use std::path::PathBuf;
use std::process::Command;

use elb::engine::export::{self, PhaseReport};
use elb::engine::metrics::{self, expert_popularity};
use elb::engine::sample::{cluster_for, generate, Preset, SampleFormat};
use elb::engine::{algo, ingest, zip, Dataset, Placement, Settings};

fn sample(preset: Preset, format: SampleFormat) -> (Dataset, Settings) {
    let files = generate(preset, format, 7);
    let ds = ingest::read_files(&files).expect("the sample reads");
    let settings = Settings { cluster: cluster_for(preset), ..Settings::default() };
    (ds, settings)
}

#[test]
fn popularity_copies_and_shares_follow_the_placement() {
    let (ds, settings) = sample(Preset::Qwen3, SampleFormat::Summed);
    let data = &ds.phases[0];
    let (after, _) = algo::solve_all(data, &settings, &mut |_| true).unwrap();
    let pop = expert_popularity(data, &after);
    assert_eq!((pop.layers, pop.experts), (data.layers, data.experts));
    assert_eq!(pop.loads.len(), data.layers);
    for l in 0..pop.layers {
        // Loads are the summed loads, and the shares of a layer add up to 1.
        assert_eq!(pop.loads[l].as_slice(), data.summed.layer(l));
        let total: f64 = (0..pop.experts).map(|e| pop.share(l, e).unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "layer {l}: shares sum to {total}");
        // Copies count the slots holding each expert.
        let slots: usize = after.layers[l].iter().map(|d| d.len()).sum();
        assert_eq!(pop.copies[l].iter().sum::<usize>(), slots);
        assert_eq!(pop.copies[l], after.replica_counts(l, pop.experts));
    }
    // Cells with more than one copy carry exactly the redundant replicas.
    let extra: usize = pop.copies.iter().flatten().map(|&c| c.saturating_sub(1)).sum();
    assert_eq!(extra, metrics::redundant_replicas(&after));
    assert_eq!(extra, settings.cluster.redundant * pop.layers);
    assert!(pop.replicated() > 0 && pop.max_copies() >= 2);
    // The hottest expert of a layer is replicated (C2LB gives copies to the hot ones).
    for l in 0..pop.layers {
        let hot = (0..pop.experts).max_by(|&a, &b| pop.loads[l][a].total_cmp(&pop.loads[l][b])).unwrap();
        assert!(pop.copies_of(l, hot) >= 2, "layer {l}: hottest expert {hot} has one copy");
    }
    // Out-of-range questions are answered, not panicked on.
    assert_eq!(pop.share(pop.layers, 0), None);
    assert_eq!(pop.copies_of(0, pop.experts), 0);
}

#[test]
fn popularity_without_a_table_layer_or_load_is_safe() {
    let (ds, _) = sample(Preset::Small, SampleFormat::Summed);
    let data = &ds.phases[0];
    let empty = Placement { layers: vec![] };
    let pop = expert_popularity(data, &empty);
    assert_eq!(pop.max_copies(), 0);
    assert_eq!(pop.replicated(), 0);
    let mut zero = data.clone();
    zero.summed.data.iter_mut().for_each(|v| *v = 0.0);
    let pop = expert_popularity(&zero, &Placement::default_layout(data.layers, data.experts, 8));
    assert_eq!(pop.share(0, 0), None, "no load: no share");
    assert_eq!(pop.max_copies(), 1);
}

fn reports_and_tables() -> (Vec<(String, String)>, Vec<PhaseReport>) {
    let (ds, settings) = sample(Preset::Small, SampleFormat::Series);
    let mut tables = Vec::new();
    let mut reports = Vec::new();
    for data in &ds.phases {
        let b = elb::engine::before::before(&ds, data, &settings.cluster, None).unwrap();
        let (before, label) = (b.placement, b.label);
        let (after, sol) = algo::solve_all(data, &settings, &mut |_| true).unwrap();
        let table = export::export_checked(&after, &settings.cluster, data.experts).unwrap();
        tables.push((data.phase.table_file_name(), table));
        reports.push(PhaseReport {
            phase: data.phase,
            settings: Some(settings.clone()),
            before_source: label,
            before: metrics::score(data, &before, &settings.cluster),
            after: Some(metrics::score(data, &after, &settings.cluster)),
            slots_moved: Some(metrics::slots_moved(&before, &after)),
            replicas_added: Some(metrics::replicas_added(&before, &after)),
            seconds: None,
            warnings: sol.warnings.clone(),
        });
    }
    (tables, reports)
}

#[test]
fn download_all_archive_holds_the_tables_and_the_report() {
    let (tables, reports) = reports_and_tables();
    let z = export::bundle_zip(&tables, &reports).unwrap();
    let entries = zip::read_stored(&z).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let mut want: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
    want.extend([export::REPORT_JSON_FILE, export::REPORT_MD_FILE]);
    assert_eq!(names, want);
    for ((_, t), e) in tables.iter().zip(&entries) {
        assert_eq!(e.data, t.as_bytes(), "{}: the table bytes as offered one by one", e.name);
        assert_eq!(e.crc32, zip::crc32(t.as_bytes()));
    }
    let json: serde_json::Value = serde_json::from_slice(&entries[tables.len()].data).unwrap();
    assert_eq!(json["tool"], "ELB Studio");
    assert_eq!(json["phases"].as_array().unwrap().len(), reports.len());
    let step = json["phases"][0]["after"]["step_imbalance"].as_f64().unwrap();
    assert!((step - reports[0].after.as_ref().unwrap().step_imbalance).abs() < 1e-12);
    let md = String::from_utf8(entries[tables.len() + 1].data.clone()).unwrap();
    assert!(md.starts_with("# ELB Studio report"));
    assert!(md.contains("| step imbalance |"), "{md}");
    // Deterministic: the same run gives the same archive bytes.
    assert_eq!(export::bundle_zip(&tables, &reports).unwrap(), z);
}

fn tmp_zip(bytes: &[u8], tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("elb-zip-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("elb_results.zip");
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `unzip -t` (Info-ZIP) accepts the archive, when installed.
#[test]
fn unzip_tests_the_archive_ok() {
    let (tables, reports) = reports_and_tables();
    let p = tmp_zip(&export::bundle_zip(&tables, &reports).unwrap(), "unzip");
    match Command::new("unzip").arg("-t").arg(&p).output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "unzip -t failed: {text}{}", String::from_utf8_lossy(&out.stderr));
            assert!(text.contains("No errors detected"), "{text}");
            for (n, _) in &tables {
                assert!(text.contains(n.as_str()), "{n} missing in: {text}");
            }
        }
        Err(e) => eprintln!("unzip not available ({e}); the archive is checked by our own reader only"),
    }
    let _ = std::fs::remove_dir_all(p.parent().unwrap());
}

/// Python's `zipfile` reads every entry with its CRC checked, when installed.
#[test]
fn python_zipfile_reads_the_archive() {
    let (tables, reports) = reports_and_tables();
    let p = tmp_zip(&export::bundle_zip(&tables, &reports).unwrap(), "py");
    let script = "import sys, zipfile, json\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  for i in z.infolist():\n    assert i.compress_type == zipfile.ZIP_STORED\n\
                  print(json.dumps({i.filename: len(z.read(i.filename)) for i in z.infolist()}))\n";
    match Command::new("python3").arg("-c").arg(script).arg(&p).output() {
        Ok(out) => {
            assert!(out.status.success(), "python zipfile failed: {}", String::from_utf8_lossy(&out.stderr));
            let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            for (n, t) in &tables {
                assert_eq!(got[n.as_str()].as_u64(), Some(t.len() as u64), "{n}");
            }
            assert!(got[export::REPORT_MD_FILE].as_u64().unwrap() > 100);
        }
        Err(e) => eprintln!("python3 not available ({e}); the archive is checked by our own reader only"),
    }
    let _ = std::fs::remove_dir_all(p.parent().unwrap());
}
