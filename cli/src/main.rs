//! `casebook`: Casebook's terminal client, for a caregiver at a laptop.
//!
//! # Layout
//! - [`cli`]: the global flags and the top-level commands (clap).
//! - [`context`]: global flags resolved to a store, a case, an author and a date.
//! - [`commands`]: one file per part of the case; each parses its subcommands and runs them.
//! - [`output`]: human formatting helpers and JSON output.
//! - [`keyed`]: clap parsing of the core's enums.
//! - [`lookup`]: ids typed in full or as a unique prefix.
//!
//! Every write opens the case, applies one named operation, saves (flushes) and only then reports success.

mod cli;
mod commands;
mod context;
mod keyed;
mod lookup;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
