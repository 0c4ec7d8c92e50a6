//! Project automation: `cargo xtask <command>`. Run from anywhere inside the repository.
//!
//! - `ci`: everything CI checks: formatting, clippy with warnings denied, every test (unit,
//!   property, cross-stack, doc, the downstream example's), the docs build with warnings
//!   denied, and `cargo package` of every publishable crate.
//! - `docs`: rustdoc for the workspace with warnings denied.
//! - `package-check`: `cargo package` (with its verification build) of every publishable crate.
//! - `test`: the tests only.
//! - `gen-data`: deterministic, seeded CSV data of any size.
//! - `bench`: loader against the standard tools on the same files, as ratios.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod bench_pg;
mod bench_pg_server;
mod bench_refused;
mod bench_report;
mod bench_upsert;
mod bench_validate;
mod bench_waits;
mod gen_data;
mod shell;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci                     format check, clippy (-D warnings), all tests, docs, package-check
  test                   all tests (unit, property, cross-stack, doc, downstream example)
  docs                   rustdoc for the workspace, warnings denied
  package-check          cargo package (with verification) of every publishable crate
  gen-data [options]     write generated CSV files
      --rows N           rows in all (default 1000000)
      --files N          number of files, of uneven sizes (default 1)
      --seed N           seed (default 42)
      --out DIR          output directory (default data/)
  fuzz [--seconds N]     fuzz the CSV reader and inference for N seconds (default 600),
                         release build; fails on any panic
  bench [options]        release build; fails when a target is missed
      --section S        speed (loader vs sqlite3 .import), validate (load --dry-run
                         vs a csv ByteRecord parse), memory (peak rss by input
                         size), postgres (loader vs psql \\copy, 1 worker vs 2 on
                         16 files; LOADER_BENCH_PG_URL), refused (rows the
                         database refuses), upsert (--mode upsert vs a temporary
                         table and INSERT ... ON CONFLICT) or all; report in
                         target/bench/report.md
      --rows N           rows of the speed file (default 1000000)
      --runs N           runs per tool, the median is reported (default 3)
      --memory-rows LIST rows of the memory files (default 1000000,5000000,10000000)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(),
        Some("docs") => docs(),
        Some("package-check") => package_check(),
        Some("gen-data") => gen_data::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    shell::in_root()?;
    shell::cargo(&["fmt", "--all", "--", "--check"], &[])?;
    shell::cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    test()?;
    docs()?;
    package_check()?;
    println!("xtask ci: all checks passed");
    Ok(())
}

fn docs() -> Result<(), String> {
    shell::in_root()?;
    shell::cargo(
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--all-features",
            "--exclude",
            "xtask",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )
}

/// The crates under `crates/` that may be published (no `publish = false`).
fn publishable() -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let dir = shell::root().join("crates");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.lines().any(|l| l.trim() == "publish = false") {
            continue;
        }
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_owned())
            .ok_or_else(|| format!("{}: no package name", manifest.display()))?;
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// Packages every publishable crate in one command, so that their dependencies on each other
/// resolve to the packaged versions (none is on crates.io yet), and builds each package.
fn package_check() -> Result<(), String> {
    shell::in_root()?;
    let names = publishable()?;
    // Verifying builds each packaged crate against the others as registry crates, and cargo
    // never rebuilds a registry crate whose version it has built before: in a reused target
    // directory an old build of `loader-batch 0.1.0` would stand in for today's source. So
    // the check has a target directory of its own, with our crates' builds forgotten first
    // (their dependencies' stay, and are not rebuilt).
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| "target".into())
        .join("package-check");
    let fingerprints = target.join("debug").join(".fingerprint");
    if let Ok(entries) = std::fs::read_dir(&fingerprints) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if names.iter().any(|n| file.starts_with(&format!("{n}-"))) {
                std::fs::remove_dir_all(entry.path())
                    .map_err(|e| format!("cannot clear {}: {e}", entry.path().display()))?;
            }
        }
    }
    let target = target.to_string_lossy().into_owned();
    let mut args = vec!["package", "--allow-dirty", "--target-dir", &target];
    for name in &names {
        args.extend(["-p", name.as_str()]);
    }
    shell::cargo(&args, &[])?;
    println!("xtask package-check: packaged {}", names.join(", "));
    Ok(())
}

fn fuzz(args: &[String]) -> Result<(), String> {
    let seconds = match args {
        [] => "600".to_owned(),
        [flag, value] if flag == "--seconds" => value.clone(),
        _ => return Err("usage: cargo xtask fuzz [--seconds N]".into()),
    };
    shell::in_root()?;
    shell::cargo(
        &[
            "test",
            "--release",
            "-p",
            "loader-file",
            "--lib",
            "fuzz_reader_and_inference_never_panic",
            "--",
            "--nocapture",
        ],
        &[("LOADER_FUZZ_SECONDS", seconds.as_str())],
    )
}

fn test() -> Result<(), String> {
    shell::in_root()?;
    if shell::has_nextest() {
        shell::cargo(
            &[
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--no-fail-fast",
            ],
            &[],
        )?;
    } else {
        println!("xtask: cargo-nextest not found, using cargo test");
        shell::cargo(
            &[
                "test",
                "--workspace",
                "--all-features",
                "--lib",
                "--bins",
                "--tests",
            ],
            &[],
        )?;
    }
    // nextest does not run doctests; they are examples people copy, so they must work.
    shell::cargo(&["test", "--workspace", "--all-features", "--doc"], &[])
}
