//! Helpers shared by the tools' integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `oakmap` binary with `args` and then `file`.
pub fn oakmap(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oakmap"))
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}
