//! Running the `elb` binary in tests: its output, and a scratch folder that
//! is removed when the test ends (tempfile).

use std::ops::Deref;
use std::path::Path;
use std::process::{Command, Output};

/// `elb args...`, waited for.
pub fn elb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_elb")).args(args).output().expect("run elb")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit code 0; the standard output.
pub fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    stdout(o)
}

/// A fresh folder for one test, deleted when dropped; derefs to its path.
pub struct Scratch(tempfile::TempDir);

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

pub fn scratch(name: &str) -> Scratch {
    Scratch(tempfile::Builder::new().prefix(&format!("elb-{name}-")).tempdir().expect("a scratch folder"))
}
