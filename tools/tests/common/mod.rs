//! Helpers shared by the tools' integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

// The engine's tests' `TestDb`, so both check a database the same way.
#[path = "../../../tests/common/test_db.rs"]
mod test_db;
#[allow(unused_imports, reason = "each test binary uses some of the helpers")]
pub use test_db::TestDb;

/// Runs the `oakmap` binary with `args` and then `file`.
pub fn oakmap(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}
