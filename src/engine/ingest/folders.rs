//! The CLI's input: files and folders on disk, read into the (relative
//! path, bytes) list every reader takes (native builds only).

use std::fs;
use std::path::{Path, PathBuf};

use crate::engine::error::{Error, Param, Result};
use crate::engine::model::{Dataset, InputFile};

/// Read `-icp`'s comma-separated files and folders as one dropped input:
/// one root is read like a dropped folder ([`super::read_files`]), several
/// like node folders of one dump ([`super::read_roots`]).
pub fn read_folders(spec: &str) -> Result<Dataset> {
    let mut roots = read_inputs(spec)?;
    if roots.len() == 1 {
        let (_, files) = roots.remove(0);
        super::read_files(&files)
    } else {
        super::read_roots(&roots)
    }
}

/// Every file under `root` (recursively, sorted), with paths relative to it
/// using forward slashes, each prefixed with `prefix`.
fn walk(root: &Path, prefix: &str, out: &mut Vec<InputFile>) -> Result<()> {
    fn rec(dir: &Path, rel: &str, depth: usize, out: &mut Vec<InputFile>) -> Result<()> {
        if depth > 16 {
            return Err(Error::file(dir.display().to_string(), "folders nested more than 16 levels deep (a link loop?)"));
        }
        let rd = fs::read_dir(dir).map_err(|e| Error::file(dir.display().to_string(), format!("cannot read the folder: {e}")))?;
        let mut entries: Vec<(String, PathBuf)> = Vec::new();
        for e in rd {
            let e = e.map_err(|e| Error::file(dir.display().to_string(), format!("cannot read the folder: {e}")))?;
            entries.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
        entries.sort();
        for (name, path) in entries {
            let rel_path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let meta = fs::metadata(&path).map_err(|e| Error::file(rel_path.clone(), format!("cannot read: {e}")))?;
            if meta.is_dir() {
                rec(&path, &rel_path, depth + 1, out)?;
            } else if meta.is_file() {
                let bytes = fs::read(&path).map_err(|e| Error::file(rel_path.clone(), format!("cannot read: {e}")))?;
                out.push(InputFile::new(rel_path, bytes));
            }
        }
        Ok(())
    }
    let meta = fs::metadata(root).map_err(|e| Error::file(root.display().to_string(), format!("cannot open the input folder (-icp): {e}")))?;
    if meta.is_file() {
        let name = root.file_name().map_or_else(|| "input".to_string(), |n| n.to_string_lossy().into_owned());
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let bytes = fs::read(root).map_err(|e| Error::file(rel.clone(), format!("cannot read: {e}")))?;
        out.push(InputFile::new(rel, bytes));
        return Ok(());
    }
    rec(root, prefix, 0, out)
}

/// The files of every comma-separated root, each with paths relative to its
/// root (forward slashes), labelled by the root as given.
fn read_inputs(spec: &str) -> Result<Vec<(String, Vec<InputFile>)>> {
    let roots: Vec<&str> = spec.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if roots.is_empty() {
        return Err(Error::param(Param::Input, "needs at least one input folder"));
    }
    let mut out = Vec::new();
    for root in &roots {
        let mut files = Vec::new();
        walk(Path::new(root), "", &mut files)?;
        if files.is_empty() {
            return Err(Error::param(Param::Input, format!("no files found under {root}")));
        }
        out.push((root.to_string(), files));
    }
    Ok(out)
}
