//! `-` as an input path: standard input (`curl ... | loader load - --table orders`); and a
//! pipe named as one (`loader load <(zcat orders.csv.gz)`, a FIFO).
//!
//! It is copied to a file first, which is then loaded like any other: the sample, the memory
//! estimate, the content hash that makes a re-run of the same input skip it, and the resume
//! after a crash all need a file that can be read more than once. The file is
//! `stdin.csv` (so its table is `stdin` unless `--table` says), or the pipe's own name, in a
//! directory of its own under the system's temporary directory, removed when the command
//! ends.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory standard input was copied into; removed when dropped.
pub(crate) struct Spooled {
    dir: Option<PathBuf>,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The command's input paths with `-` replaced by a copy of standard input, and the guard of
/// that copy.
pub(crate) fn spool_for(command: &mut crate::args::Command) -> Result<Spooled> {
    use crate::args::Command;
    match command {
        Command::Load(args) => spool(&mut args.common.paths),
        Command::Plan(args) => spool(&mut args.paths),
        Command::Schema(args) => spool(&mut args.common.paths),
        _ => Ok(Spooled { dir: None }),
    }
}

fn spool(paths: &mut [PathBuf]) -> Result<Spooled> {
    let dashes: Vec<usize> = (0..paths.len())
        .filter(|&i| paths[i] == Path::new("-"))
        .collect();
    if dashes.len() > 1 {
        return Err(crate::UsageError("standard input (-) can be given once".into()).into());
    }
    // Pipes named on the command line (`<(zcat orders.csv.gz)`, a FIFO) can be read once
    // too: copied as standard input is, under their own names.
    let pipes: Vec<usize> = (0..paths.len())
        .filter(|&i| !dashes.contains(&i) && is_pipe(&paths[i]))
        .collect();
    if dashes.is_empty() && pipes.is_empty() {
        return Ok(Spooled { dir: None });
    }
    let dir = std::env::temp_dir().join(format!(
        "loader-stdin-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let spooled = Spooled {
        dir: Some(dir.clone()),
    };
    for &index in &dashes {
        let path = dir.join("stdin.csv");
        copy(&mut std::io::stdin().lock(), &path, "standard input")?;
        paths[index] = path;
    }
    for &index in &pipes {
        let name = paths[index]
            .file_name()
            .map_or_else(|| "pipe.csv".into(), std::ffi::OsStr::to_owned);
        // A directory per pipe: two named alike (`a/x.csv`, `b/x.csv`) stay apart.
        let own = dir.join(index.to_string());
        std::fs::create_dir(&own).with_context(|| format!("creating {}", own.display()))?;
        let path = own.join(name);
        let from = paths[index].display().to_string();
        let mut pipe =
            std::fs::File::open(&paths[index]).with_context(|| format!("opening {from}"))?;
        copy(&mut pipe, &path, &from)?;
        paths[index] = path;
    }
    Ok(spooled)
}

/// Whether `path` is a pipe. Not a device: `/dev/zero` would be copied until the disk is
/// full (named, it is refused as no file).
#[cfg(unix)]
fn is_pipe(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

#[cfg(not(unix))]
fn is_pipe(_path: &Path) -> bool {
    false
}

/// Copies all of `input` (named `what` in errors) into a new file at `path`.
fn copy(input: &mut impl std::io::Read, path: &Path, what: &str) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
    std::io::copy(input, &mut file)
        .and_then(|_| file.flush())
        .with_context(|| format!("copying {what} to {}", path.display()))?;
    Ok(())
}
