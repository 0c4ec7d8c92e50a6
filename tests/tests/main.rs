//! Cross-stack tests: real files, a real SQLite database, the library and the binary.

mod binary;
mod cgroup;
mod examples;
mod library;
