//! Redis's own programs: `redis-cli`, `redis-benchmark`, and a
//! `redis-server` whose replies ours are compared with. Debian's
//! `redis-tools` has them all: `redis-server` itself is a link to its
//! `redis-check-rdb`, which runs as the server when started under that
//! name. CI (`.ci/run`) installs the package and sets
//! `OAKMAP_REQUIRE_REDIS_TOOLS=1`, so there a missing program fails the
//! test; elsewhere the test says what it skipped and passes, so that
//! `cargo test` keeps working with nothing but a Rust toolchain. Standard
//! library only: the tools' tests include this file too.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that makes a missing Redis program a failure.
pub const REQUIRE: &str = "OAKMAP_REQUIRE_REDIS_TOOLS";

/// `program` on the `PATH`.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `program`, or `None` after saying that `test` is skipped; a failure
/// instead when [`REQUIRE`] is set.
pub fn require(program: &str, test: &str) -> Option<PathBuf> {
    let found = find(program);
    if found.is_none() {
        missing(program, test);
    }
    found
}

/// A command that starts a Redis server: `redis-server`, or the
/// `redis-check-rdb` it links to run under the server's name.
pub fn redis_server(test: &str) -> Option<Command> {
    if let Some(path) = find("redis-server") {
        return Some(Command::new(path));
    }
    if let Some(path) = find("redis-check-rdb") {
        let mut command = Command::new(path);
        command.arg0("redis-server");
        return Some(command);
    }
    missing("redis-server", test);
    None
}

fn missing(program: &str, test: &str) {
    if std::env::var_os(REQUIRE).is_some_and(|v| v != "0") {
        panic!("{program} is not on the PATH and {REQUIRE} is set (apt-get install redis-tools)");
    }
    eprintln!("SKIPPED {test}: {program} is not on the PATH (apt-get install redis-tools)");
}
