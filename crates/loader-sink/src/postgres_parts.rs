//! Parts of a refused write, each in a savepoint of one transaction: a refused part is
//! undone alone, and the rows around it, the quarantine entries and the ledger record all
//! commit once (see `loader_batch::write_in_parts`).
//!
//! Measured on the refused-rows bench (1 row in 1,000 refused): a transaction per part and
//! per refused row took about four transactions per refused row, most of the time the load
//! took; a savepoint costs a round trip.

use crate::postgres::{PgSink, pg_error};
use async_trait::async_trait;
use loader_batch::{LoadTarget, PartWriter, RowBatch, SinkError};
use std::ops::Range;

/// The open transaction of a write setting refused rows aside.
pub(crate) struct Savepoints<'a, 't> {
    pub sink: &'a PgSink,
    pub target: &'a LoadTarget,
    pub transaction: &'a mut deadpool_postgres::Transaction<'t>,
}

#[async_trait]
impl PartWriter for Savepoints<'_, '_> {
    async fn write_part(&mut self, batch: &RowBatch, rows: Range<usize>) -> Result<(), SinkError> {
        let fail = |e: tokio_postgres::Error| pg_error(&self.target.table, &e);
        let savepoint = self.transaction.transaction().await.map_err(fail)?;
        match self
            .sink
            .copy_rows(self.target, &savepoint, batch, rows)
            .await
        {
            Ok(_) => savepoint.commit().await.map_err(fail),
            Err(refused) => {
                savepoint.rollback().await.map_err(fail)?;
                Err(refused)
            }
        }
    }
}
