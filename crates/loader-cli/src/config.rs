//! Settings from a `loader.toml` file, applied as the defaults of the flags they name, so
//! that the precedence is flags > `LOADER_*` environment variables > the file > built-in
//! defaults (clap itself puts flags over the environment over defaults).

use crate::UsageError;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::ffi::OsString;
use std::path::PathBuf;

/// The file looked for in the current directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "loader.toml";

/// Subcommands whose flags a settings file may set.
const SUBCOMMANDS: [&str; 5] = ["load", "plan", "schema", "history", "report"];

/// The settings file to read: `--config FILE` (or `--config=FILE`), then `LOADER_CONFIG`,
/// then `./loader.toml` if it exists.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    if let Some(path) = std::env::var_os("LOADER_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let default = PathBuf::from(DEFAULT_FILE);
    default.exists().then_some(default)
}

/// The values a TOML value stands for, as flag text.
fn values_of(key: &str, value: &toml::Value) -> Result<Vec<String>> {
    Ok(match value {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Integer(i) => vec![i.to_string()],
        toml::Value::Float(f) => vec![f.to_string()],
        toml::Value::Boolean(b) => vec![b.to_string()],
        toml::Value::Array(items) => items
            .iter()
            .map(|item| values_of(key, item).map(|mut v| v.remove(0)))
            .collect::<Result<_>>()?,
        _ => {
            return Err(UsageError(format!(
                "setting {key:?}: expected a string, number, boolean or list"
            ))
            .into());
        }
    })
}

/// The command line definition with the settings file's values as defaults.
///
/// # Errors
///
/// A usage error for an unreadable file, a key that names no flag, or a value of the wrong
/// kind.
pub fn command(args: &[OsString]) -> Result<clap::Command> {
    let mut command = crate::args::Cli::command();
    let Some(path) = config_path(args) else {
        return Ok(command);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading settings file {}", path.display()))
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let values = values_of(key, value)?;
        let mut known = false;
        for name in SUBCOMMANDS {
            let takes = command.find_subcommand(name).is_some_and(|sc| {
                sc.get_arguments()
                    .any(|a| a.get_id() == id.as_str() && !a.is_positional())
            });
            if takes {
                known = true;
                let values = values.clone();
                command = command.mut_subcommand(name, |sc| {
                    sc.mut_arg(id.as_str(), |arg| arg.default_values(values))
                });
            }
        }
        if id == "quiet" {
            known = true;
            command = command.mut_arg("quiet", |arg| arg.default_values(values));
        }
        if !known {
            return Err(UsageError(format!(
                "{}: {key:?} is not a setting (keys are the long flags, e.g. memory-limit)",
                path.display()
            ))
            .into());
        }
    }
    Ok(command)
}
