//! Cross-stack tests: real files, a real SQLite database, the library and the binary.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod binary;
mod cgroup;
mod examples;
mod library;
