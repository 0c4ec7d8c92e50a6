//! How an audit event's memory figures map to the four columns of `_loader_audit`, the same
//! in every database.

use loader_batch::AuditEvent;

/// Memory figures from their four columns, when the event has them.
pub(crate) fn memory_of(columns: [Option<i64>; 4]) -> Option<loader_batch::MemoryFigures> {
    let [used, reserved, budget, limit] = columns;
    Some(loader_batch::MemoryFigures {
        used: used? as u64,
        reserved: reserved? as u64,
        budget: budget? as u64,
        limit: limit? as u64,
    })
}

/// The four memory columns of an event.
pub(crate) fn memory_columns(event: &AuditEvent) -> [Option<i64>; 4] {
    match event.memory {
        Some(m) => [m.used, m.reserved, m.budget, m.limit].map(|v| Some(v as i64)),
        None => [None; 4],
    }
}
