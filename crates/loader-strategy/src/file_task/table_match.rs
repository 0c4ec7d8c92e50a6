//! A file's columns against its existing table's: matched by name (letter case and spaces
//! aside), typed as the table has them, added when asked (`--add-columns`), or named in
//! the error that stops the file before a row is read.

use crate::{Error, PlannedFile, Result};
use loader_batch::{LoadTarget, TableColumn};
use std::sync::Arc;

/// `target` as its table has it, when the table existed (or was made by another file): a
/// file without a header takes the table's column names in order, as `psql`'s `\copy`
/// does, and each column the user gave no type takes the table's type rather than the
/// sample's (a text column whose sample held only numbers still takes `abc`). With it, which
/// columns the table keeps as exact decimals read from text ([`TableColumn::decimal_text`]).
pub(super) fn matched_to_table(
    target: &LoadTarget,
    file: &PlannedFile,
    table: Option<Vec<TableColumn>>,
) -> Result<(LoadTarget, Vec<bool>)> {
    let Some(table) = table else {
        return Ok((target.clone(), Vec::new()));
    };
    let mut decimal_text = Vec::with_capacity(table.len());
    let mut columns = target.schema.columns().to_vec();
    if !file.csv.get_has_headers() {
        if columns.len() > table.len() {
            return Err(Error::MoreColumnsThanTable {
                path: file.path.display().to_string(),
                table: target.table.clone(),
                file_columns: columns.len(),
                table_columns: table.len(),
            });
        }
        for (column, named) in columns.iter_mut().zip(&table) {
            column.name.clone_from(&named.name);
        }
    }
    for (index, column) in columns.iter_mut().enumerate() {
        // Said before a row is read: the database would refuse the first write anyway.
        let Some(named) = table_column(&table, &column.name) else {
            return Err(Error::ColumnNotInTable {
                path: file.path.display().to_string(),
                table: target.table.clone(),
                column: column.name.clone(),
                available: table
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                unmatched: table
                    .iter()
                    .filter(|t| {
                        !target
                            .schema
                            .columns()
                            .iter()
                            .any(|c| table_column(std::slice::from_ref(*t), &c.name).is_some())
                    })
                    .map(|t| t.name.clone())
                    .collect(),
            });
        };
        // Written under the table's own name: a header matched by case (PostgreSQL's are
        // case-sensitive quoted) or by trimmed spaces names the column otherwise.
        column.name.clone_from(&named.name);
        decimal_text.push(named.decimal_text);
        if let Some(ty) = named.ty
            && file.csv.is_inferred(index)
            && ty != column.ty
        {
            tracing::debug!(column = %column.name, sampled = %column.ty, table = %ty, "the table's type wins");
            column.ty = ty;
        }
    }
    let schema = loader_batch::Schema::new(columns);
    if schema == *target.schema {
        return Ok((target.clone(), decimal_text));
    }
    let matched = LoadTarget {
        schema: Arc::new(schema),
        ..target.clone()
    };
    Ok((matched, decimal_text))
}

/// The columns whose type `matched` took from the table, as the report says it: `table "t"
/// types qty as integer (sampled text)`; none when every type is the sample's.
pub(super) fn retyped(sampled: &LoadTarget, matched: &LoadTarget) -> Option<String> {
    let changes: Vec<String> = sampled
        .schema
        .columns()
        .iter()
        .zip(matched.schema.columns())
        .filter(|(before, after)| before.ty != after.ty)
        .map(|(before, after)| format!("{} as {} (sampled {})", after.name, after.ty, before.ty))
        .collect();
    (!changes.is_empty()).then(|| format!("table {:?} types {}", matched.table, changes.join(", ")))
}

/// `table` with the columns the file's header names and it lacks added by the sink
/// (`--add-columns`), and what was added, for the report. A file without a header takes the
/// table's columns and adds none.
pub(super) async fn with_added_columns(
    sink: &dyn loader_batch::BatchSink,
    target: &LoadTarget,
    file: &PlannedFile,
    mut table: Vec<TableColumn>,
) -> std::result::Result<(Option<Vec<TableColumn>>, Option<String>), loader_batch::SinkError> {
    if !file.csv.get_has_headers() {
        return Ok((Some(table), None));
    }
    let missing: Vec<loader_batch::Column> = target
        .schema
        .columns()
        .iter()
        .filter(|c| table_column(&table, &c.name).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok((Some(table), None));
    }
    let changed = sink.add_columns(target, &missing).await?;
    let added: Vec<String> = missing
        .iter()
        .map(|c| format!("{} {}", c.name, c.ty))
        .collect();
    tracing::info!(table = %target.table, columns = %added.join(", "), changed, "columns added");
    let note = format!(
        "{} {:?}: {}",
        if changed {
            "columns added to table"
        } else {
            "columns a load would add to table"
        },
        target.table,
        added.join(", ")
    );
    table.extend(missing.into_iter().map(|c| TableColumn {
        name: c.name,
        ty: Some(c.ty),
        decimal_text: false,
    }));
    Ok((Some(table), Some(note)))
}

/// The table's column for a file's column: the one of the same name, else the only one whose
/// name differs from it in letter case alone (a header `ID` for a column made as `id`).
fn table_column<'t>(table: &'t [TableColumn], name: &str) -> Option<&'t TableColumn> {
    if let Some(same) = table.iter().find(|c| c.name == name) {
        return Some(same);
    }
    // Case aside, and the spaces around a header name that a table made before header names
    // were trimmed kept.
    let mut folded = table
        .iter()
        .filter(|c| c.name.trim().to_lowercase() == name.to_lowercase());
    match (folded.next(), folded.next()) {
        (Some(only), None) => Some(only),
        // A table PostgreSQL made from a longer header lists the name it cut.
        _ if loader_batch::postgres_name(name).len() < name.len() => {
            table_column(table, loader_batch::postgres_name(name))
        }
        _ => None,
    }
}
