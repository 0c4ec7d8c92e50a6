//! Cross-stack tests: real files, a real SQLite database, the library and the binary.

// Tests report what they measured and why they skipped; printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod binary;
mod cgroup;
mod cli;
mod corpus;
mod crash;
mod empty_strings;
mod examples;
mod grown;
mod library;
mod names;
mod postgres;
mod ragged;
mod refused;
mod stop;
mod types;
mod upsert;
mod written_formats;
