//! WAL checkpoints on their own thread and connection, so the writer never waits for them.
//!
//! With `synchronous = NORMAL` a WAL commit does not sync; a checkpoint does (the WAL, then
//! the database file), and SQLite runs it on the committing connection once the WAL passes
//! 1000 pages. On the bench's 1M-row file that made the writer thread sleep in `fsync` for
//! about a third of the load. Here the writer's WAL hook only wakes a checkpointer thread,
//! which checkpoints from a second connection while the writer goes on committing (a passive
//! checkpoint takes no lock a writer needs). If the checkpointer falls far behind (a slow
//! disk), the writer checkpoints itself past [`WRITER_CHECKPOINT_BYTES`], so the WAL stays
//! bounded as before, only at a larger size.

use rusqlite::{Connection, hooks::Wal, wal::CheckpointMode};
use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

/// WAL size after which the checkpointer is woken: SQLite's own auto-checkpoint size (1000
/// pages of 4 KiB).
const CHECKPOINT_BYTES: i64 = 4000 << 10;
/// WAL size after which the writer checkpoints itself.
const WRITER_CHECKPOINT_BYTES: i64 = 64 << 20;

/// The checkpointer thread of one sink; stopped and joined on drop.
pub(crate) struct Checkpointer {
    wake: SyncSender<()>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to `path`, starts the thread and hooks `writer`'s commits.
    pub(crate) fn start(path: &Path, writer: &mut Connection) -> rusqlite::Result<Self> {
        let connection = Connection::open(path)?;
        // Until a connection has read the database it does not know the file is in WAL mode,
        // and its checkpoints do nothing.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        let (wake, woken) = sync_channel::<()>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("loader-sqlite-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() && !stopped.load(Ordering::Acquire) {
                    // A failed or partial checkpoint is retried at the next wake-up; the
                    // writer's own threshold bounds the WAL meanwhile.
                    let _ = connection.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE);
                }
            })
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let page_size: i64 = writer.pragma_query_value(None, "page_size", |row| row.get(0))?;
        let pages = |bytes: i64| c_int::try_from(bytes / page_size.max(512)).unwrap_or(c_int::MAX);
        let (checkpoint_pages, writer_pages) =
            (pages(CHECKPOINT_BYTES), pages(WRITER_CHECKPOINT_BYTES));
        let hook_wake = wake.clone();
        writer.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
            if pages >= writer_pages {
                // Busy when the checkpointer is at it; either way the commit stands.
                let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
            } else if pages >= checkpoint_pages {
                // Full means a wake-up is already pending.
                let _ = hook_wake.try_send(());
            }
            Ok(())
        }))?;
        Ok(Checkpointer {
            wake,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // A pending wake-up (full channel) wakes the thread as well.
        let _ = self.wake.try_send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::SqliteSink;
    use loader_batch::{BatchSink, ColumnType, LoadTarget, RowBatch, Schema};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Pages reach the database file only through checkpoints. With the writer's own
    /// threshold at 64 MiB, a 12 MiB load can reach it only through the checkpointer thread.
    #[tokio::test]
    async fn the_checkpointer_moves_committed_pages_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let sink = SqliteSink::open(&path).unwrap();
        let schema = Arc::new(Schema::from_pairs([
            ("id", ColumnType::Integer),
            ("text", ColumnType::Text),
        ]));
        let target = LoadTarget::new("t", schema, "t.csv");
        sink.prepare(&target).await.unwrap();
        let text = vec![b'x'; 1000];
        for commit in 0..12 {
            let mut batch = RowBatch::new(2, commit);
            for row in 0..1000 {
                let id = (commit * 1000 + row).to_string();
                batch.push_row(row + 2, 0, [id.as_bytes(), &text]).unwrap();
            }
            sink.write(&target, &batch, 0..1000).await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let database_bytes = || std::fs::metadata(&path).unwrap().len();
        while database_bytes() < 4 << 20 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            database_bytes() >= 4 << 20,
            "database file {} bytes",
            database_bytes()
        );
        drop(sink);
        // Closed: the WAL is gone and every row is in the file.
        assert!(!dir.path().join("t.db-wal").exists());
        let connection = rusqlite::Connection::open(&path).unwrap();
        let rows: i64 = connection
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 12_000);
    }
}
