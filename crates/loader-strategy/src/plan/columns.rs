//! The columns a file is loaded as: header names renamed as asked (`--rename`), types given
//! (`--column`) and columns left out (`--skip-column`), and the check that every name asked
//! for is some file's.

use crate::{Error, LoadSettings, Result};
use loader_file::FileSample;
use std::collections::HashMap;
use std::path::Path;

/// Which of a run's `--rename`, `--column` and `--skip-column` names some file had, as its
/// files are planned:
/// a directory of different exports takes `--column zip:text` in the files with a `zip`
/// column, and only a name no file has (a typo) fails the plan.
pub(super) struct NamesAsked<'s> {
    settings: &'s LoadSettings,
    renamed: Vec<bool>,
    typed: Vec<bool>,
    skipped: Vec<bool>,
    /// The first few files' columns, for the error naming a name no file has.
    seen: Vec<String>,
}

/// Files whose columns the error for a name no file has lists.
const FILES_LISTED: usize = 3;

impl<'s> NamesAsked<'s> {
    pub(super) fn new(settings: &'s LoadSettings) -> Self {
        NamesAsked {
            settings,
            renamed: vec![false; settings.renames.len()],
            typed: vec![false; settings.columns.len()],
            skipped: vec![false; settings.skip_columns.len()],
            seen: Vec::new(),
        }
    }

    /// Renames `sample`'s columns, gives them the types asked for and takes out the ones
    /// not loaded. Returns, per column loaded, whether its type is the sample's (inferred)
    /// rather than one given, and per column of the file whether it is skipped.
    pub(super) fn apply(
        &mut self,
        path: &Path,
        sample: &mut FileSample,
    ) -> Result<(Vec<bool>, Vec<bool>)> {
        if self.seen.len() < FILES_LISTED {
            self.seen.push(format!(
                "{} has {}",
                path.display(),
                sample.headers.join(", ")
            ));
        }
        self.rename(path, sample)?;
        let mut given = vec![false; sample.schema.len()];
        for (asked, (name, ty)) in self.settings.columns.iter().enumerate() {
            if let Some(index) = column_named(sample, self.loaded_name(name)) {
                let loaded = sample.headers[index].clone();
                sample.schema.set_type(&loaded, *ty);
                given[index] = true;
                self.typed[asked] = true;
            }
        }
        let skipped = self.skip(sample);
        if sample.schema.is_empty() {
            return Err(Error::NothingLoaded {
                path: path.display().to_string(),
            });
        }
        let inferred = given
            .into_iter()
            .zip(&skipped)
            .filter(|(_, skipped)| !**skipped)
            .map(|(given, _)| !given)
            .collect();
        Ok((inferred, skipped))
    }

    /// Takes the columns asked not to be loaded out of `sample` (into
    /// [`FileSample::skipped`]); per column of the file, whether it was.
    fn skip(&mut self, sample: &mut FileSample) -> Vec<bool> {
        let mut skipped = vec![false; sample.headers.len()];
        for (asked, name) in self.settings.skip_columns.iter().enumerate() {
            if let Some(index) = column_named(sample, name) {
                skipped[index] = true;
                self.skipped[asked] = true;
            }
        }
        if !skipped.contains(&true) {
            return skipped;
        }
        let kept = |index: &usize| !skipped[*index];
        sample.skipped = (0..skipped.len())
            .filter(|i| skipped[*i])
            .map(|i| (i + 1, sample.headers[i].clone()))
            .collect();
        let columns = sample.schema.columns();
        let schema = (0..columns.len())
            .filter(kept)
            .map(|i| columns[i].clone())
            .collect();
        sample.schema = loader_batch::Schema::new(schema);
        sample.headers = (0..skipped.len())
            .filter(kept)
            .map(|i| sample.headers[i].clone())
            .collect();
        skipped
    }

    /// The indices of the upsert key's columns among those `sample` loads (after
    /// [`apply`](Self::apply)); `None` without a key. A file lacking one fails the plan: its
    /// rows could not be matched to the table's.
    pub(super) fn upsert_key(
        &self,
        path: &Path,
        sample: &FileSample,
    ) -> Result<Option<std::sync::Arc<[usize]>>> {
        if self.settings.upsert_key.is_empty() {
            return Ok(None);
        }
        let mut indices = self
            .settings
            .upsert_key
            .iter()
            .map(|name| {
                column_named(sample, self.loaded_name(name)).ok_or_else(|| Error::KeyNotInFile {
                    path: path.display().to_string(),
                    column: name.clone(),
                    available: sample.headers.join(", "),
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        // `--key id,id` (or a header name and its rename) names one column once.
        let mut seen = std::collections::HashSet::new();
        indices.retain(|index| seen.insert(*index));
        Ok(Some(indices.into()))
    }

    /// Fails naming the first rename, type or skip asked for whose column no file had.
    pub(super) fn check(&self) -> Result<()> {
        if self.seen.is_empty() {
            return Ok(());
        }
        let unknown = |flag: &'static str, column: &str| Error::UnknownColumn {
            flag,
            column: column.to_owned(),
            available: self.seen.join("; "),
        };
        if let Some((from, _)) = first_unseen(&self.settings.renames, &self.renamed) {
            return Err(unknown("rename", from));
        }
        if let Some((name, _)) = first_unseen(&self.settings.columns, &self.typed) {
            return Err(unknown("column", name));
        }
        let skips = &self.settings.skip_columns;
        if let Some((name, _)) = skips.iter().zip(&self.skipped).find(|(_, seen)| !**seen) {
            return Err(unknown("skip-column", name));
        }
        Ok(())
    }

    /// The name a column asked for by `name` is loaded under: a rename's new name for its
    /// header's.
    fn loaded_name<'n>(&'n self, name: &'n str) -> &'n str {
        self.settings
            .renames
            .iter()
            .find(|(from, _)| from == name)
            .map_or(name, |(_, to)| to)
    }

    /// Applies every rename at once, so that `a=b` with `b=a` swaps two columns.
    fn rename(&mut self, path: &Path, sample: &mut FileSample) -> Result<()> {
        let before = sample.headers.clone();
        let mut after = before.clone();
        // Per column, the rename that moved it.
        let mut moved_by = vec![None; before.len()];
        for (asked, (from, to)) in self.settings.renames.iter().enumerate() {
            if let Some(index) = column_named(sample, from) {
                after[index].clone_from(to);
                moved_by[index] = Some(asked);
                self.renamed[asked] = true;
            }
        }
        if after == before {
            return Ok(());
        }
        let mut taken = HashMap::new();
        for (index, name) in after.iter().enumerate() {
            if let Some(other) = taken.insert(loader_batch::name_key(name), index) {
                // One of the two was renamed: the sample's own names were apart.
                let (moved, kept) = match moved_by[index] {
                    Some(_) => (index, other),
                    None => (other, index),
                };
                if let Some(asked) = moved_by[moved] {
                    let (from, to) = &self.settings.renames[asked];
                    return Err(Error::RenameTaken {
                        path: path.display().to_string(),
                        from: from.clone(),
                        to: to.clone(),
                        other: before[kept].clone(),
                    });
                }
            }
        }
        let columns = sample
            .schema
            .columns()
            .iter()
            .zip(&after)
            .map(|(column, name)| loader_batch::Column::new(name.clone(), column.ty))
            .collect();
        sample.schema = loader_batch::Schema::new(columns);
        for (index, (from, to)) in before.iter().zip(&after).enumerate() {
            if from == to {
                continue;
            }
            // Reported as the header's rename: the name in the file, the name loaded.
            let number = index + 1;
            match sample.renamed.iter_mut().find(|(n, ..)| *n == number) {
                Some((_, _, used)) => used.clone_from(to),
                None => sample.renamed.push((number, from.clone(), to.clone())),
            }
        }
        sample.renamed.sort_by_key(|(number, ..)| *number);
        sample.headers = after;
        Ok(())
    }
}

/// The column `name` asks for: the one loaded under that name, else the one whose header
/// names it so (spaces around it aside), before `--snake-case-names` or a rename.
fn column_named(sample: &FileSample, name: &str) -> Option<usize> {
    let header = |index: usize| {
        let number = index + 1;
        sample
            .renamed
            .iter()
            .find(|(n, ..)| *n == number)
            .map_or(sample.headers[index].as_str(), |(_, from, _)| from.trim())
    };
    let loaded = sample.headers.iter().position(|h| h == name);
    loaded.or_else(|| (0..sample.headers.len()).find(|&index| header(index) == name))
}

fn first_unseen<'a, T>(asked: &'a [(String, T)], seen: &[bool]) -> Option<&'a (String, T)> {
    asked
        .iter()
        .zip(seen)
        .find(|(_, seen)| !**seen)
        .map(|(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::super::{make_plan, tests::probe};
    use crate::{Error, LoadPlan, LoadSettings, Result};
    use loader_batch::ColumnType::{self, Integer, Text};

    fn planned(files: &[(&str, &str)], settings: LoadSettings) -> Result<LoadPlan> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        make_plan(&[dir.path().to_path_buf()], &settings, &probe())
    }

    fn columns(plan: &LoadPlan, file: &str) -> Vec<(String, ColumnType)> {
        let file = plan.files.iter().find(|f| f.path.ends_with(file)).unwrap();
        let schema = file.sample.schema.columns().iter();
        schema.map(|c| (c.name.clone(), c.ty)).collect()
    }

    fn named(pairs: &[(&str, ColumnType)]) -> Vec<(String, ColumnType)> {
        pairs.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect()
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn a_renamed_column_is_loaded_under_its_new_name_and_typed_by_either() {
        let files = [("a.csv", "Order ID,code\n1,7\n")];
        for typed in ["Order ID", "order_id"] {
            let settings = LoadSettings {
                renames: pairs(&[("Order ID", "order_id")]),
                columns: vec![(typed.to_owned(), Text), ("code".to_owned(), Text)],
                ..LoadSettings::default()
            };
            let plan = planned(&files, settings).unwrap();
            assert_eq!(
                columns(&plan, "a.csv"),
                named(&[("order_id", Text), ("code", Text)])
            );
            let file = &plan.files[0];
            assert_eq!(file.sample.headers, ["order_id", "code"]);
            assert_eq!(
                file.sample.renamed,
                [(1, "Order ID".to_owned(), "order_id".to_owned())]
            );
            assert!(!file.csv.is_inferred(0) && !file.csv.is_inferred(1));
        }
    }

    #[test]
    fn snake_cased_names_name_tables_and_columns_and_flags_take_the_headers_names_too() {
        let files = [(
            "Sales Report.csv",
            "Order ID,customerEmail,Total ($)\n1,a@b,2\n",
        )];
        let settings = LoadSettings {
            csv: loader_file::CsvOptions::default().snake_case_names(true),
            renames: pairs(&[("customerEmail", "email")]),
            columns: vec![("Order ID".to_owned(), Text), ("total".to_owned(), Text)],
            ..LoadSettings::default()
        };
        let plan = planned(&files, settings).unwrap();
        let file = &plan.files[0];
        assert_eq!(file.table, "sales_report");
        assert_eq!(
            columns(&plan, "Sales Report.csv"),
            named(&[("order_id", Text), ("email", Text), ("total", Text)])
        );
        assert_eq!(
            file.sample.renamed,
            [
                (1, "Order ID".to_owned(), "order_id".to_owned()),
                (2, "customerEmail".to_owned(), "email".to_owned()),
                (3, "Total ($)".to_owned(), "total".to_owned()),
            ]
        );
    }

    #[test]
    fn skipped_columns_leave_the_schema_and_the_rest_keep_their_types_given() {
        let files = [("a.csv", "id,SSN,zip\n1,123,02134\n")];
        let settings = LoadSettings {
            csv: loader_file::CsvOptions::default().snake_case_names(true),
            skip_columns: vec!["SSN".to_owned()],
            columns: vec![("zip".to_owned(), Text)],
            ..LoadSettings::default()
        };
        let plan = planned(&files, settings).unwrap();
        assert_eq!(
            columns(&plan, "a.csv"),
            named(&[("id", Integer), ("zip", Text)])
        );
        let file = &plan.files[0];
        assert_eq!(file.sample.skipped, [(2, "ssn".to_owned())]);
        assert_eq!(file.csv.get_skipped_columns(), [false, true, false]);
        assert!(file.csv.is_inferred(0) && !file.csv.is_inferred(1));
        assert_eq!(
            file.sample_notes(),
            ["column 2 (\"ssn\") is not loaded (--skip-column)"]
        );
        let settings = LoadSettings {
            skip_columns: vec!["id".to_owned(), "SSN".to_owned(), "zip".to_owned()],
            ..LoadSettings::default()
        };
        let error = planned(&files, settings).unwrap_err();
        assert!(matches!(error, Error::NothingLoaded { .. }), "{error}");
        let settings = LoadSettings {
            skip_columns: vec!["ssn_".to_owned()],
            ..LoadSettings::default()
        };
        let error = planned(&files, settings).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("--skip-column ssn_: no file has such a column"),
            "{error}"
        );
    }

    #[test]
    fn renames_apply_together_so_two_names_swap() {
        let settings = LoadSettings {
            renames: pairs(&[("a", "b"), ("b", "a")]),
            ..LoadSettings::default()
        };
        let plan = planned(&[("t.csv", "a,b\nx,1\n")], settings).unwrap();
        assert_eq!(
            columns(&plan, "t.csv"),
            named(&[("b", Text), ("a", Integer)])
        );
        // The header trimmed, then renamed: reported once, from the file's name.
        let settings = LoadSettings {
            renames: pairs(&[("a", "c")]),
            ..LoadSettings::default()
        };
        let plan = planned(&[("t.csv", " a ,b\nx,1\n")], settings).unwrap();
        assert_eq!(
            plan.files[0].sample.renamed,
            [(1, " a ".to_owned(), "c".to_owned())]
        );
    }

    #[test]
    fn a_rename_to_a_name_the_file_has_already_fails_naming_both() {
        let settings = LoadSettings {
            renames: pairs(&[("a", "B")]),
            ..LoadSettings::default()
        };
        let error = planned(&[("t.csv", "a,b\n1,2\n")], settings).unwrap_err();
        assert!(matches!(error, Error::RenameTaken { .. }), "{error}");
        assert!(
            error
                .to_string()
                .ends_with("t.csv: --rename a=B: column \"b\" of the file has that name already"),
            "{error}"
        );
    }

    #[test]
    fn names_asked_for_apply_where_files_have_them_and_fail_only_when_none_does() {
        let files = [("a.csv", "id,zip\n1,02134\n"), ("b.csv", "sku\n7\n")];
        let settings = LoadSettings {
            columns: vec![("zip".to_owned(), Text), ("sku".to_owned(), Text)],
            renames: pairs(&[("sku", "item")]),
            ..LoadSettings::default()
        };
        let plan = planned(&files, settings).unwrap();
        assert_eq!(
            columns(&plan, "a.csv"),
            named(&[("id", Integer), ("zip", Text)])
        );
        assert_eq!(columns(&plan, "b.csv"), named(&[("item", Text)]));
        for (settings, flag) in [
            (
                LoadSettings {
                    columns: vec![("zipp".to_owned(), Text)],
                    ..LoadSettings::default()
                },
                "--column zipp",
            ),
            (
                LoadSettings {
                    renames: pairs(&[("skU", "item")]),
                    ..LoadSettings::default()
                },
                "--rename skU",
            ),
        ] {
            let error = planned(&files, settings).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("{flag}: no file has such a column (")),
                "{message}"
            );
            assert!(
                message.contains("a.csv has id, zip; ") && message.contains("b.csv has sku)"),
                "{message}"
            );
        }
    }
}
