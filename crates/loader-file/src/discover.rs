use crate::{Error, Result};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The order files are loaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FileOrder {
    /// Largest first (default): on a pool the longest file starts first, so the run ends
    /// sooner, and the largest memory need is met while the budget is emptiest.
    #[default]
    LargestFirst,
    /// Smallest first: quick files land early.
    SmallestFirst,
    /// In the order given (directories in name order).
    AsGiven,
}

/// A file to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InputFile {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes on disk.
    pub size: u64,
}

/// File name endings picked up when a directory is given. Files named explicitly are taken
/// whatever their name.
const DIRECTORY_EXTENSIONS: [&str; 9] = [
    ".csv",
    ".tsv",
    ".txt",
    ".csv.gz",
    ".tsv.gz",
    ".csv.zst",
    ".tsv.zst",
    ".csv.zstd",
    ".gz",
];

/// Expands `inputs` (files, directories searched recursively, and glob patterns) into files,
/// without duplicates, in `order`.
///
/// # Errors
///
/// [`Error::NotFound`] for a path that does not exist, [`Error::Glob`] for a bad pattern,
/// [`Error::NoInput`] when nothing matched, [`Error::Io`] when a directory cannot be read.
///
/// # Example
///
/// ```
/// use loader_file::{discover, FileOrder};
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("small.csv"), "a\n1\n").unwrap();
/// std::fs::write(dir.path().join("big.csv"), "a\n1\n2\n3\n").unwrap();
/// std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
/// let files = discover(&[dir.path()], FileOrder::LargestFirst).unwrap();
/// let names: Vec<_> = files.iter().map(|f| f.path.file_name().unwrap().to_str().unwrap()).collect();
/// assert_eq!(names, ["big.csv", "small.csv"]);
/// ```
pub fn discover(inputs: &[impl AsRef<Path>], order: FileOrder) -> Result<Vec<InputFile>> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for input in inputs {
        let input = input.as_ref();
        let text = input.to_string_lossy();
        if !input.exists() && text.contains(['*', '?', '[']) {
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            };
            let paths = glob::glob_with(&text, options).map_err(|e| Error::Glob {
                pattern: text.to_string(),
                message: e.msg.to_owned(),
            })?;
            let mut matched: Vec<PathBuf> = paths.filter_map(|p| p.ok()).collect();
            matched.sort();
            for path in matched {
                if path.is_file() {
                    push_file(&mut files, &mut seen, path)?;
                }
            }
        } else if input.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found, &mut HashSet::new())?;
            found.sort();
            for path in found {
                push_file(&mut files, &mut seen, path)?;
            }
        } else if input.is_file() {
            push_file(&mut files, &mut seen, input.to_path_buf())?;
        } else if input.exists() {
            // A pipe or a device: read once, and a load reads a file several times.
            return Err(Error::NotAFile {
                path: input.to_path_buf(),
            });
        } else {
            return Err(Error::NotFound {
                path: input.to_path_buf(),
            });
        }
    }
    if files.is_empty() {
        let inputs: Vec<_> = inputs
            .iter()
            .map(|p| p.as_ref().display().to_string())
            .collect();
        return Err(Error::NoInput {
            inputs: inputs.join(", "),
        });
    }
    match order {
        FileOrder::LargestFirst => files.sort_by_key(|f| std::cmp::Reverse(f.size)),
        FileOrder::SmallestFirst => files.sort_by_key(|f| f.size),
        FileOrder::AsGiven => {}
    }
    Ok(files)
}

fn push_file(files: &mut Vec<InputFile>, seen: &mut HashSet<PathBuf>, path: PathBuf) -> Result<()> {
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let canonical = fs::canonicalize(&path).map_err(io)?;
    if seen.insert(canonical) {
        let size = fs::metadata(&path).map_err(io)?.len();
        files.push(InputFile { path, size });
    }
    Ok(())
}

/// The data files under `dir`: regular files (or links to them) with a data file's name,
/// in its subdirectories too. Pipes, sockets and devices are passed over (a pipe with no
/// writer held the plan forever; `/dev/zero` read as one endless row), and a directory
/// reached again through a link (`ln -s .. up`) is walked once, not until the path is too
/// long.
fn walk(dir: &Path, found: &mut Vec<PathBuf>, walked: &mut HashSet<PathBuf>) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    if !walked.insert(fs::canonicalize(dir).map_err(io)?) {
        return Ok(());
    }
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            walk(&path, found, walked)?;
        } else if path.is_file() && is_data_file(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_data_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    !name.starts_with('.') && DIRECTORY_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(files: &[InputFile]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn globs_directories_order_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        fs::write(dir.path().join("a.csv"), "x\n1\n").unwrap();
        fs::write(dir.path().join("b.csv"), "x\n1\n22\n333\n").unwrap();
        fs::write(sub.join("c.tsv"), "x\n12\n").unwrap();
        fs::write(dir.path().join(".hidden.csv"), "x\n").unwrap();

        let all = discover(&[dir.path()], FileOrder::SmallestFirst).unwrap();
        assert_eq!(names(&all), ["a.csv", "c.tsv", "b.csv"]);

        let pattern = format!("{}/*.csv", dir.path().display());
        let again = [PathBuf::from(&pattern), dir.path().join("a.csv")];
        let globbed = discover(&again, FileOrder::AsGiven).unwrap();
        assert_eq!(names(&globbed), ["a.csv", "b.csv"], "a.csv only once");
    }

    #[cfg(unix)]
    #[test]
    fn pipes_and_devices_are_passed_over_and_a_linked_loop_is_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("a.csv"), "x\n1\n").unwrap();
        std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.csv")).unwrap();
        let pipe = dir.path().join("pipe.csv");
        let made = std::process::Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap();
        assert!(made.success());
        let all = discover(&[dir.path()], FileOrder::AsGiven).unwrap();
        assert_eq!(names(&all), ["a.csv"]);
        // Named, a pipe is no file to load.
        let error = discover(&[&pipe], FileOrder::AsGiven).unwrap_err();
        assert!(matches!(error, Error::NotAFile { .. }), "{error}");
    }

    #[test]
    fn missing_and_empty_inputs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.csv");
        assert!(matches!(
            discover(&[&missing], FileOrder::AsGiven),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            discover(&[dir.path()], FileOrder::AsGiven),
            Err(Error::NoInput { .. })
        ));
        let pattern = dir.path().join("[");
        assert!(matches!(
            discover(&[&pattern], FileOrder::AsGiven),
            Err(Error::Glob { .. })
        ));
    }
}
