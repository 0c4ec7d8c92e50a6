//! Files that grew since an earlier run loaded them. A file is known by its content hash, so
//! a file that had rows appended is new content; loading it whole would load its old rows a
//! second time. When the content of the newest load of the same path into the same table
//! that committed rows (complete, or cut short by a crash or an error) is a prefix of the
//! file, the file resumes after that load's last committed row instead, as a load that died
//! would.

use crate::file_task::Mode;
use crate::{PlannedFile, Result};
use loader_batch::PathHistory;
use loader_file::{Compression, ResumePoint};
use std::path::PathBuf;

/// What the ledger's history of the file's path says of its content.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PathCheck {
    /// The file is a compressed copy of `from` (`orders.csv` for `orders.csv.gz`), whose
    /// content an earlier run loaded: it holds that content, decompressed, and perhaps rows
    /// after it, which are the only new ones.
    Compressed { history: PathHistory, from: PathBuf },
    /// Nothing to go on: no earlier load of the path that committed rows, or a `--force` or
    /// `--mode replace` run, which loads every row anyway.
    Unknown,
    /// The content that run loaded from this path is a prefix of this file, up to a row's
    /// end: only the rows after it are new.
    Grown(PathHistory),
    /// The path held other content when `run_id` loaded it, and this file does not continue
    /// it (rewritten, shrunk, or its last row changed): it is loaded whole, as new content.
    Changed { run_id: String },
}

impl PathCheck {
    /// Where a load of the file resumes and the rows that counts as committed before it,
    /// given the ledger's own resume point for this content (set when a load of the grown
    /// file itself died after committing rows) and its rows.
    pub(crate) fn resume(
        &self,
        resume: Option<ResumePoint>,
        rows_committed: u64,
    ) -> (Option<ResumePoint>, u64) {
        let (PathCheck::Grown(history) | PathCheck::Compressed { history, .. }) = self else {
            return (resume, rows_committed);
        };
        let after_old = ResumePoint {
            byte: history.end.0,
            line: history.end.1,
            sequence: 0,
        };
        (
            Some(resume.unwrap_or(after_old)),
            history.rows + rows_committed,
        )
    }

    /// A line for the file's audit trail and log, when there is something to say.
    pub(crate) fn reason(&self) -> Option<String> {
        match self {
            PathCheck::Unknown => None,
            PathCheck::Grown(history) => Some(format!(
                "grown since run {} loaded its first {} bytes ({} rows)",
                history.run_id, history.size, history.rows
            )),
            PathCheck::Compressed { history, from } => Some(format!(
                "holds, decompressed, what run {} loaded from {} ({} rows): only rows after \
                 them are new",
                history.run_id,
                from.display(),
                history.rows
            )),
            PathCheck::Changed { run_id } => Some(format!(
                "this path held other content when run {run_id} loaded it, which this file \
                 does not continue: loaded whole, as new content"
            )),
        }
    }
}

/// Compares the file (content `hash`, first load of that content) with `history`, the newest
/// load of its path into its table that committed rows of other content.
pub(crate) async fn check_path(
    history: Option<PathHistory>,
    file: &PlannedFile,
    hash: &str,
    mode: Mode,
) -> Result<PathCheck> {
    let Some(history) = history else {
        return Ok(PathCheck::Unknown);
    };
    if history.file_hash == hash {
        return Ok(PathCheck::Unknown);
    }
    let (path, size, old_hash, end, encoding) = (
        file.path.clone(),
        history.size,
        history.file_hash.clone(),
        history.end.0,
        file.csv.get_encoding(),
    );
    // Hashing the old length reads most of the file.
    let grew = mode
        .hash(move || loader_file::grew_from(&path, size, &old_hash, end, encoding))
        .await?;
    Ok(if grew {
        PathCheck::Grown(history)
    } else {
        PathCheck::Changed {
            run_id: history.run_id,
        }
    })
}

/// The file a compressed one was made from by `gzip` or `zstd`, named without their
/// extension (`orders.csv` for `orders.csv.gz`); `None` for a file not compressed, or
/// converted from another encoding (its hash is of other bytes than the reader's text).
pub(crate) fn uncompressed_name(file: &PlannedFile) -> Option<PathBuf> {
    if file.sample.compression == Compression::None
        || file.sample.converted_from.is_some()
        || file.csv.get_encoding() != loader_file::Encoding::Utf8
    {
        return None;
    }
    let name = file.path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let ext = crate::plan::COMPRESSED_EXTENSIONS
        .iter()
        .find(|ext| lower.ends_with(*ext) && lower.len() > ext.len())?;
    Some(file.path.with_file_name(&name[..name.len() - ext.len()]))
}

/// For a compressed file loaded for the first time: whether an earlier run loaded the file
/// it was made from (see [`uncompressed_name`]) into its table, and it holds that content.
pub(crate) async fn check_compressed(
    ledger: &crate::ledger::RunLedger,
    file: &PlannedFile,
    hash: &str,
    mode: Mode,
) -> Result<PathCheck> {
    let Some(from) = uncompressed_name(file) else {
        return Ok(PathCheck::Unknown);
    };
    let Some(history) = ledger.path_history(&file.table, hash, &from).await? else {
        return Ok(PathCheck::Unknown);
    };
    let (path, size, old_hash, end) = (
        file.path.clone(),
        history.size,
        history.file_hash.clone(),
        history.end.0,
    );
    let holds = mode
        .hash(move || loader_file::decompressed_from(&path, size, &old_hash, end))
        .await?;
    Ok(if holds {
        PathCheck::Compressed { history, from }
    } else {
        PathCheck::Unknown
    })
}
