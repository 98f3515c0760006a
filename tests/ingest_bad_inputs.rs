//! The corpus of broken inputs under tests/bad_inputs/<case>/: each case is a
//! small folder. `EXPECT` holds a substring of the error (its full display:
//! file, row, column and rule); `EXPECT_OK` marks a must-read case and lists
//! substrings (one a line) of the format label or the warnings. Nothing may panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use elb::engine::ingest::read_files;
use elb::engine::model::InputFile;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs")
}

fn load_case(dir: &Path) -> Vec<InputFile> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<InputFile>) {
        let mut ents: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        ents.sort();
        for p in ents {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/");
            if p.is_dir() {
                walk(base, &p, out);
            } else if rel != "EXPECT" && rel != "EXPECT_OK" {
                // as the browser gives them: paths start with the dropped folder's name
                let top = base.file_name().unwrap().to_string_lossy();
                out.push(InputFile::new(format!("{top}/{rel}"), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn every_bad_input_gives_its_error_and_nothing_panics() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut n_err = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let files = load_case(case);
        let res = match catch_unwind(AssertUnwindSafe(|| read_files(&files))) {
            Ok(r) => r,
            Err(_) => {
                failures.push(format!("{name}: PANICKED"));
                continue;
            }
        };
        let expect = std::fs::read_to_string(case.join("EXPECT")).ok();
        let expect_ok = std::fs::read_to_string(case.join("EXPECT_OK")).ok();
        match (expect, expect_ok, res) {
            (Some(sub), None, Err(e)) => {
                n_err += 1;
                let shown = e.to_string();
                if !shown.contains(sub.trim_end_matches('\n')) {
                    failures.push(format!("{name}: error {shown:?} lacks {:?}", sub.trim()));
                }
            }
            (Some(sub), None, Ok(ds)) => failures.push(format!("{name}: expected an error with {:?}, got Ok ({})", sub.trim(), ds.format_label)),
            (None, Some(subs), Ok(ds)) => {
                let text = format!("{}\n{}", ds.format_label, ds.warnings.join("\n"));
                for s in subs.lines().filter(|l| !l.is_empty()) {
                    if !text.contains(s) {
                        failures.push(format!("{name}: Ok, but {s:?} not in label/warnings: {text:?}"));
                    }
                }
                if ds.phases.is_empty() && ds.dropped_table.is_none() {
                    failures.push(format!("{name}: Ok but nothing read"));
                }
            }
            (None, Some(_), Err(e)) => failures.push(format!("{name}: must be read, got error {e}")),
            _ => failures.push(format!("{name}: needs exactly one of EXPECT / EXPECT_OK")),
        }
    }
    assert!(n_err >= 40, "the corpus must hold at least 40 broken inputs, has {n_err}");
    assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n"));
}
