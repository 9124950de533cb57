//! `reauth`: the single binary. Parses the command line, loads configuration and hands over to
//! the library crates; nothing here decides anything. Its one module, `cli`, lists the commands
//! and the module of each.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // reqwest (rustls) needs a process-wide crypto provider; ring is the one the stack shares.
    // `Err` only means one was installed already, which is what we want either way.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
