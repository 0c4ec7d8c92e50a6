//! How far PostgreSQL alone goes from one session to two on this machine: the 16 files'
//! rows, encoded once as binary COPY files, loaded by `psql \copy` (which parses nothing and
//! takes almost no CPU) in one session and then split over two. It is the reference for the
//! "2 workers against 1" target: loader's two workers can only get near it, because loader's
//! own parsing runs on the same CPUs as the server.

use crate::bench::{Measure, timed};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Schema the reference loads into; dropped with the other bench schemas.
pub(crate) const SCHEMA: &str = "bench_server";

/// The 16 files as binary COPY files: made once by the server itself (`\copy` CSV into a
/// table, then out as binary), so that the reference does no client-side encoding.
pub(crate) struct BinaryFiles {
    files: Vec<(PathBuf, u64)>,
}

impl BinaryFiles {
    /// Encodes every CSV file of `csv_dir` once into `dir`, or reuses what an earlier run
    /// made (a half-made directory never counts: it is renamed into place when complete).
    pub(crate) fn prepare(
        url: &str,
        csv_dir: &Path,
        dir: &Path,
        typed: &str,
    ) -> Result<Self, String> {
        let done = dir.join("multi16-binary");
        if !done.exists() {
            let partial = dir.join("multi16-binary.partial");
            let _ = std::fs::remove_dir_all(&partial);
            std::fs::create_dir_all(&partial).map_err(|e| e.to_string())?;
            let mut script = format!(
                "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;\nCREATE SCHEMA {SCHEMA};\n\
                 CREATE TABLE {SCHEMA}.stage {typed};\n"
            );
            for csv in csv_files(csv_dir)? {
                let name = csv.file_stem().and_then(|s| s.to_str()).unwrap_or("part");
                script.push_str(&format!(
                    "TRUNCATE {SCHEMA}.stage;\n\
                     \\copy {SCHEMA}.stage FROM '{}' WITH (FORMAT csv, HEADER true)\n\
                     \\copy {SCHEMA}.stage TO '{}' WITH (FORMAT binary)\n",
                    csv.display(),
                    partial.join(format!("{name}.bin")).display()
                ));
            }
            script.push_str(&format!("DROP SCHEMA {SCHEMA} CASCADE;\n"));
            run_script(url, &partial.join("encode.sql"), &script)?;
            std::fs::remove_file(partial.join("encode.sql")).map_err(|e| e.to_string())?;
            std::fs::rename(&partial, &done).map_err(|e| e.to_string())?;
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&done).map_err(|e| e.to_string())? {
            let path = entry.map_err(|e| e.to_string())?.path();
            let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
            files.push((path, size));
        }
        Ok(Self { files })
    }

    /// Loads every file into a fresh table with `sessions` concurrent `psql` sessions, the
    /// files dealt largest first to the session with the fewest bytes so far (as loader's
    /// pool orders them), one transaction per file.
    pub(crate) fn load(
        &self,
        url: &str,
        sessions: usize,
        typed: &str,
        dir: &Path,
    ) -> Result<Measure, String> {
        crate::bench_pg::psql(
            url,
            &format!(
                "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}; \
                 CREATE TABLE {SCHEMA}.orders {typed}"
            ),
        )?;
        let mut shell = String::from("set -e\n");
        for (session, files) in deal(&self.files, sessions).iter().enumerate() {
            let script = dir.join(format!("server-session-{session}.sql"));
            let copies: String = files
                .iter()
                .map(|file| {
                    format!(
                        "\\copy {SCHEMA}.orders FROM '{}' WITH (FORMAT binary)\n",
                        file.display()
                    )
                })
                .collect();
            std::fs::write(&script, copies).map_err(|e| e.to_string())?;
            shell.push_str(&format!(
                "psql '{url}' -X -q -v ON_ERROR_STOP=1 -f '{}' & pids=\"$pids $!\"\n",
                script.display()
            ));
        }
        // `wait PID` returns that session's status, so a failed session fails the load.
        shell.push_str("for pid in $pids; do wait $pid; done\n");
        timed(Command::new("sh").args(["-c", &shell]), None, None, dir)
    }
}

/// Files dealt to `sessions` lists: largest first, each to the list with the fewest bytes.
fn deal(files: &[(PathBuf, u64)], sessions: usize) -> Vec<Vec<PathBuf>> {
    let mut sorted: Vec<&(PathBuf, u64)> = files.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut lists = vec![(0u64, Vec::new()); sessions.max(1)];
    for (path, size) in sorted {
        let lightest = lists
            .iter_mut()
            .min_by_key(|(bytes, _)| *bytes)
            .expect("at least one session");
        lightest.0 += size;
        lightest.1.push(path.clone());
    }
    lists.into_iter().map(|(_, list)| list).collect()
}

fn csv_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "csv") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn run_script(url: &str, path: &Path, script: &str) -> Result<(), String> {
    std::fs::write(path, script).map_err(|e| e.to_string())?;
    let output = Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(path)
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_dealt_largest_first_to_the_lightest_session() {
        let files: Vec<(PathBuf, u64)> = [("a", 5), ("b", 9), ("c", 4), ("d", 3), ("e", 2)]
            .iter()
            .map(|(name, size)| (PathBuf::from(name), *size))
            .collect();
        let lists = deal(&files, 2);
        let names = |list: &Vec<PathBuf>| -> Vec<String> {
            list.iter().map(|p| p.display().to_string()).collect()
        };
        // b(9) to 0; a(5) to 1; c(4) to 1 (5 < 9); d(3) to 0 (9 = 9, the first); e(2) to 1.
        assert_eq!(names(&lists[0]), ["b", "d"]);
        assert_eq!(names(&lists[1]), ["a", "c", "e"]);
        assert_eq!(deal(&files, 1)[0].len(), 5);
    }
}
