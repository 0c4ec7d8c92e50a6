//! Upserts (`--mode upsert`, [`LoadTarget::upsert_key`]) in both databases: the
//! `ON CONFLICT` clause they share, and the check that a table has the unique index an
//! upsert needs, made before a row is read.

use crate::{quote_identifier, quoted_list};
use loader_batch::{LoadTarget, SinkError};

/// The `ON CONFLICT` clause of an upsert into `target` (both databases take the same):
/// every column of the target's schema outside the key takes the new row's value, and a
/// table of key columns alone keeps the row it has. `None` when the target has no
/// [upsert key](LoadTarget::upsert_key).
pub(crate) fn on_conflict_sql(target: &LoadTarget) -> Option<String> {
    let key = target.upsert_key_names();
    if key.is_empty() {
        return None;
    }
    let updates: Vec<String> = target
        .schema
        .columns()
        .iter()
        .filter(|c| !key.contains(&c.name.as_str()))
        .map(|c| {
            let column = quote_identifier(&c.name);
            format!("{column} = excluded.{column}")
        })
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    Some(format!(" ON CONFLICT ({}) {action}", quoted_list(&key)))
}

/// Why an upsert into `target`'s table (`table`, quoted and qualified as the database needs
/// it named) cannot start, said after the table's name: the database finds no unique index on
/// exactly the key's columns, which it needs to tell the rows a new row replaces.
pub(crate) fn no_unique_key(target: &LoadTarget, table: &str) -> String {
    let key = quoted_list(&target.upsert_key_names());
    format!(
        "--mode upsert replaces the rows whose key ({key}) a new row repeats, which needs a \
         unique index on exactly those columns, and the table has none: \
         CREATE UNIQUE INDEX ON {table} ({key}) makes one"
    )
}

/// [`no_unique_key`] as the terminal error that stops the file, after the table's name.
pub(crate) fn no_unique_key_error(target: &LoadTarget, table: &str) -> SinkError {
    SinkError::terminal(format!(
        "{}: {}",
        target.table,
        no_unique_key(target, table)
    ))
}

/// Whether one of `unique` (the column sets of a table's unique indexes, `None` for an
/// expression) is exactly `key`, in any order, as the database matches `ON CONFLICT (key)`.
/// `same` compares two names as the database does.
pub(crate) fn covers_key(
    unique: &[Vec<Option<String>>],
    key: &[&str],
    same: impl Fn(&str, &str) -> bool,
) -> bool {
    unique.iter().any(|columns| {
        columns.len() == key.len()
            && columns.iter().all(|column| {
                column
                    .as_deref()
                    .is_some_and(|name| key.iter().any(|k| same(name, k)))
            })
            && key
                .iter()
                .all(|k| columns.iter().flatten().any(|name| same(name, k)))
    })
}

/// The column sets of indexes, from `(index, column)` pairs in index order.
pub(crate) fn by_index<I: PartialEq>(
    pairs: impl IntoIterator<Item = (I, Option<String>)>,
) -> Vec<Vec<Option<String>>> {
    let mut sets: Vec<Vec<Option<String>>> = Vec::new();
    let mut last = None;
    for (index, column) in pairs {
        if last.as_ref() != Some(&index) {
            sets.push(Vec::new());
            last = Some(index);
        }
        if let Some(columns) = sets.last_mut() {
            columns.push(column);
        }
    }
    sets
}

/// [`BatchSink::check_upsert_key`](loader_batch::BatchSink::check_upsert_key) on an SQLite
/// connection: the table's unique indexes (that of a `UNIQUE` or `PRIMARY KEY` constraint
/// too) and its primary key, which as an `INTEGER` rowid has no index of its own. A table
/// not there yet is fine: the load makes it with the key.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_check(
    connection: &rusqlite::Connection,
    target: &LoadTarget,
) -> Result<(), SinkError> {
    let fail =
        |e: rusqlite::Error| SinkError::from(crate::sqlite::database_error(&target.table, &e));
    if crate::sqlite::columns_in(connection, &target.table)?.is_none() {
        return Ok(());
    }
    let mut indexed = connection
        .prepare(
            "SELECT il.name, ii.name FROM pragma_index_list(?1) AS il \
             JOIN pragma_index_info(il.name) AS ii \
             WHERE il.\"unique\" AND NOT il.partial ORDER BY il.name, ii.seqno",
        )
        .map_err(fail)?;
    let rows = indexed
        .query_map([&target.table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(fail)?;
    let mut unique = by_index(rows);
    let primary: Vec<Option<String>> = connection
        .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
        .and_then(|mut s| {
            s.query_map([&target.table], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(fail)?;
    if !primary.is_empty() {
        unique.push(primary);
    }
    // SQLite's names are alike whatever their letter case.
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if covers_key(&unique, &target.upsert_key_names(), same) {
        return Ok(());
    }
    Err(no_unique_key_error(
        target,
        &quote_identifier(&target.table),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_covered_by_an_index_of_exactly_its_columns_in_any_order() {
        let set = |names: &[&str]| names.iter().map(|n| Some((*n).to_owned())).collect();
        let exact = |a: &str, b: &str| a == b;
        let unique = vec![set(&["id"]), set(&["region", "id"])];
        assert!(covers_key(&unique, &["id"], exact));
        assert!(covers_key(&unique, &["id", "region"], exact));
        assert!(!covers_key(&unique, &["region"], exact));
        assert!(!covers_key(&unique, &["id", "region", "day"], exact));
        assert!(!covers_key(&unique, &["ID"], exact));
        assert!(covers_key(&unique, &["ID"], |a, b| a.eq_ignore_ascii_case(b)));
        // An index over an expression matches no key.
        assert!(!covers_key(&[vec![None]], &["id"], exact));
        assert!(!covers_key(
            &[vec![Some("id".into()), None]],
            &["id", "x"],
            exact
        ));
    }

    #[test]
    fn the_conflict_clause_updates_every_column_outside_the_key() {
        use loader_batch::{ColumnType, Schema};
        use std::sync::Arc;
        let schema = Schema::from_pairs([
            ("id", ColumnType::Integer),
            ("name", ColumnType::Text),
            ("qty", ColumnType::Integer),
        ]);
        let mut target = LoadTarget::new("t", Arc::new(schema), "t.csv");
        assert_eq!(on_conflict_sql(&target), None);
        target.upsert_key = Some(Arc::from([0]));
        assert_eq!(
            on_conflict_sql(&target).unwrap(),
            r#" ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "qty" = excluded."qty""#
        );
        target.upsert_key = Some(Arc::from([2, 1, 0]));
        assert_eq!(
            on_conflict_sql(&target).unwrap(),
            r#" ON CONFLICT ("qty", "name", "id") DO NOTHING"#
        );
    }
}
