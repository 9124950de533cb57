//! The `reauth` binary starts, answers `--version` and `--help`, and refuses an unknown command.
//!
//! This file belongs to the root `reauth` package (see its Cargo.toml), not to `reauth-tests`:
//! it is what makes cargo build the binary that `reauth-tests` runs as a child process.

#![expect(
    clippy::expect_used,
    reason = "test code: a failed expect is a failed test"
)]

use std::process::Command;

fn reauth(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reauth"))
        .args(args)
        .env_clear()
        .output()
        .expect("run reauth")
}

#[test]
fn version_names_the_package_version() {
    let out = reauth(&["--version"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!("reauth {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_the_commands_people_start_with() {
    let out = reauth(&["--help"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "worker", "demo", "migrate", "orgs"] {
        assert!(
            stdout.contains(cmd),
            "--help does not list {cmd}:\n{stdout}"
        );
    }
}

#[test]
fn an_unknown_command_is_refused_by_name() {
    let out = reauth(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("frobnicate"), "{stderr}");
}
