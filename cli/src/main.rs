//! `casebook`: Casebook's terminal client, for a caregiver at a laptop.
//!
//! # Layout
//! - [`cli`]: the global flags and the top-level commands (clap).
//! - [`context`]: global flags resolved to a store, a case, an author and a date.
//! - [`commands`]: one file per part of the case; each parses its subcommands and runs them.
//! - [`output`]: human formatting helpers and JSON output.
//! - [`keyed`]: clap parsing of the core's enums.
//! - [`lookup`]: ids typed in full or as a unique prefix.
//! - [`input`]: free texts, typed or read from standard input (`-`).
//! - [`failure`]: error codes and exit statuses; `--json` errors.
//!
//! Every write opens the case, applies one named operation, saves (flushes) and only then reports success.

mod cli;
mod commands;
mod context;
mod failure;
mod input;
mod keyed;
mod lookup;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return failure::parse_failed(e, failure::json_requested(std::env::args_os())),
    };
    let json = cli.global.json;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure::command_failed(&e, json),
    }
}
