//! Running commands from the repository root.

use std::path::PathBuf;
use std::process::Command;

/// The repository root: the parent of this crate's manifest directory.
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

pub fn in_root() -> Result<(), String> {
    std::env::set_current_dir(root()).map_err(|e| format!("cannot enter the repository root: {e}"))
}

fn cargo_binary() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

pub fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let mut command = Command::new(cargo_binary());
    command.args(args).envs(env.iter().copied());
    run(&mut command)
}

pub fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    println!("xtask: running {shown}");
    let status = command
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

pub fn has_nextest() -> bool {
    Command::new(cargo_binary())
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}
