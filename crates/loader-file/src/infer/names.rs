//! Column names from a header: trimmed, snake_cased when asked, made unique.

use loader_batch::{POSTGRES_NAME_BYTES, name_key, snake_case};
use std::collections::HashSet;

/// The names of a file's columns from its header's `raw` names, and those changed, as
/// (column number from 1, name in the file, name used): surrounding spaces dropped,
/// [`snake_case`]d with `snake`, an empty name `column_N`, a repeat (letter case aside, as
/// SQLite compares names, within the bytes PostgreSQL keeps) suffixed `_2`, `_3`.
pub(super) fn unique_names(
    raw: &[String],
    snake: bool,
) -> (Vec<String>, Vec<(usize, String, String)>) {
    let mut taken: HashSet<String> = HashSet::new();
    let mut names = Vec::with_capacity(raw.len());
    let mut renamed = Vec::new();
    for (index, name) in raw.iter().enumerate() {
        // Spaces around a name (`id, name`) would make a column only a quoted ` name` reaches.
        let base = match name.trim() {
            trimmed if snake => snake_case(trimmed),
            trimmed => trimmed.to_owned(),
        };
        let base = if base.is_empty() {
            format!("column_{}", index + 1)
        } else {
            base
        };
        let mut candidate = base.clone();
        let mut suffix = 2;
        while !taken.insert(name_key(&candidate)) {
            let tail = format!("_{suffix}");
            // Cut where the suffix still falls within the bytes PostgreSQL keeps.
            let end = base.floor_char_boundary(POSTGRES_NAME_BYTES - tail.len());
            candidate = format!("{}{tail}", &base[..end]);
            suffix += 1;
        }
        if &candidate != name {
            renamed.push((index + 1, name.clone(), candidate.clone()));
        }
        names.push(candidate);
    }
    (names, renamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: &[&str], snake: bool) -> Vec<String> {
        let raw: Vec<String> = raw.iter().map(|s| (*s).to_owned()).collect();
        unique_names(&raw, snake).0
    }

    #[test]
    fn snake_cased_names_that_meet_are_numbered_and_empty_ones_named_by_place() {
        assert_eq!(
            names(&["Order ID", "order_id", "Total ($)", "($)"], true),
            ["order_id", "order_id_2", "total", "column_4"]
        );
        assert_eq!(
            names(&["Order ID", "order_id", "($)"], false),
            ["Order ID", "order_id", "($)"]
        );
    }
}
