//! What both databases' writes share: ledger queries whose text is the same given their
//! table names and parameter markers, what a write does with its rows, and what it records.

/// The newest load of a path into a table, of content other than the one asked about, that
/// committed rows (see `Ledger::last_load_at`): `run_id, file_hash, size, rows, byte_end,
/// end_line`. Any state: a load that died or failed committed a prefix of its content too.
/// Its rows are those it found committed before it (`rows_skipped`) and those its own run
/// committed; its end is where the content's last committed batch ended, whichever run
/// committed it. Run ids sort by start time, so the first is the newest.
pub(crate) fn last_load_at(
    files: &str,
    batches: &str,
    [table, path, other_than]: [&str; 3],
) -> String {
    let same_content = "b.table_name = f.table_name AND b.file_hash = f.file_hash \
                        AND b.generation = f.generation";
    format!(
        "SELECT f.run_id, f.file_hash, f.size, \
         f.rows_skipped + (SELECT CAST(coalesce(sum(b.rows + b.rejected), 0) AS BIGINT) \
           FROM {batches} b WHERE {same_content} AND b.run_id = f.run_id), \
         (SELECT b.byte_end FROM {batches} b WHERE {same_content} ORDER BY b.byte_end DESC LIMIT 1), \
         (SELECT b.end_line FROM {batches} b WHERE {same_content} ORDER BY b.byte_end DESC LIMIT 1) \
         FROM {files} f \
         WHERE f.table_name = {table} AND f.path = {path} AND f.file_hash <> {other_than} \
         AND EXISTS (SELECT 1 FROM {batches} b WHERE {same_content}) \
         ORDER BY f.run_id DESC LIMIT 1"
    )
}

/// What a write says when the ledger's own tables refuse its record (a unique key: the
/// same rows of the same content, or the same quarantined row): another run, loading the
/// same content at the same moment, recorded them first. Nothing was written twice, and the
/// way on is to run again once that run has ended.
pub(crate) fn recorded_by_another_run(
    table: &str,
    lines: std::ops::Range<u64>,
    refusal: &str,
) -> String {
    format!(
        "another run loading the same content into {table:?} at this moment recorded lines \
         {}..{} first; nothing was written twice: run again once it has ended, and the load \
         resumes after what is committed ({refusal})",
        lines.start, lines.end
    )
}

/// The rows of a batch one write handled, as the ledger records them.
pub(crate) struct Recorded {
    /// The rows, stored or set aside.
    pub rows: std::ops::Range<usize>,
    /// How many of them were stored.
    pub stored: u64,
    /// Rejects quarantined with them: the batch's own, and refused rows set aside.
    pub rejected: u64,
}

/// The rows a write handled, and the rejects to quarantine with them: the batch's own in
/// those rows and the refused rows set aside (`set_aside`, when the write set any aside),
/// in file order. A write that stored all of `rows` handled them all.
pub(crate) fn handled_and_rejects<'b>(
    batch: &'b loader_batch::RowBatch,
    rows: std::ops::Range<usize>,
    set_aside: Option<&loader_batch::SetAside>,
) -> (
    std::ops::Range<usize>,
    std::borrow::Cow<'b, [loader_batch::RejectedRow]>,
) {
    let Some(set_aside) = set_aside else {
        let rejects = batch.rejects_in(rows.clone());
        return (rows, std::borrow::Cow::Borrowed(rejects));
    };
    let handled = set_aside.committed.clone();
    let mut rejects = batch.rejects_in(handled.clone()).to_vec();
    rejects.extend(set_aside.refused.iter().map(|(_, reject)| reject.clone()));
    rejects.sort_by_key(|reject| reject.byte);
    (handled, std::borrow::Cow::Owned(rejects))
}

/// What a write does with its rows.
pub(crate) enum Rows<'a> {
    /// Stores them all, or fails.
    Whole,
    /// Writes them again after `refusal` of them all, setting refused rows aside within
    /// `limits`, and commits only what `admit` keeps.
    SettingAside {
        // SQLite sets rows aside one by one and does not look at the refusal of them all.
        #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
        refusal: &'a loader_batch::SinkError,
        limits: loader_batch::SetAsideLimits,
        admit: &'a (dyn Fn(&loader_batch::SetAside) -> bool + Send + Sync),
    },
}

impl<'a> Rows<'a> {
    /// Setting rows aside as `turn` asks, after `refusal`.
    pub(crate) fn setting_aside(
        refusal: &'a loader_batch::SinkError,
        turn: &'a loader_batch::SetAsideTurn,
    ) -> Self {
        Rows::SettingAside {
            refusal,
            limits: turn.limits,
            admit: &*turn.admit,
        }
    }

    /// Whether the write may commit what it came to: always, but for rows set aside that
    /// `admit` does not keep (the writes before it set rows aside meanwhile).
    pub(crate) fn keeps(&self, set_aside: Option<&loader_batch::SetAside>) -> bool {
        match (self, set_aside) {
            (Rows::SettingAside { admit, .. }, Some(set_aside)) => admit(set_aside),
            _ => true,
        }
    }
}
