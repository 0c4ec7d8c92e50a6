//! `-` as an input path: standard input (`curl ... | loader load - --table orders`).
//!
//! It is copied to a file first, which is then loaded like any other: the sample, the memory
//! estimate, the content hash that makes a re-run of the same input skip it, and the resume
//! after a crash all need a file that can be read more than once. The file is
//! `stdin.csv` (so its table is `stdin` unless `--table` says) in a directory of its own
//! under the system's temporary directory, removed when the command ends.

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
    let Some(&index) = dashes.first() else {
        return Ok(Spooled { dir: None });
    };
    let dir = std::env::temp_dir().join(format!(
        "loader-stdin-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let spooled = Spooled {
        dir: Some(dir.clone()),
    };
    let path = dir.join("stdin.csv");
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
    std::io::copy(&mut std::io::stdin().lock(), &mut file)
        .and_then(|_| file.flush())
        .with_context(|| format!("copying standard input to {}", path.display()))?;
    paths[index] = path;
    Ok(spooled)
}
