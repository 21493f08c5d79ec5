//! What went wrong, for a script: a stable error code and an exit status.
//!
//! Every failure is classified by the first typed error found in its chain (outermost first): a refusal
//! of the CLI itself ([`Refusal`]), the core's [`casebook_core::Error`], the sync client's [`SyncError`],
//! a storage error, a file error. Text output prints `error: MESSAGE` on standard error; with `--json`,
//! standard output holds `{"error": {"code": CODE, "message": MESSAGE}}` and nothing else (standard error
//! stays empty), so that standard output is always one JSON document, the answer or the error.
//!
//! | exit | codes | meaning |
//! |---|---|---|
//! | 0 | — | done |
//! | 1 | `failed`, `internal` | any other failure |
//! | 2 | `usage`, `invalid_input`, `impossible_date` | the command line or a value in it is wrong |
//! | 3 | `not_found` | no such case, item, caregiver or file |
//! | 4 | `conflict`, `retracted` | the case's (or the relay's) state refuses it |
//! | 5 | `network`, `timeout`, `rate_limited`, `relay_error` | the relay could not be reached in time; retry later |
//! | 6 | `unauthorized`, `forbidden`, `not_member`, `limit_exceeded` | the relay refused it |
//! | 7 | `store_locked`, `storage`, `corrupt`, `newer_version` | the local store cannot be used |
//!
//! README.md ("Exit codes and JSON errors") and `casebook --help` show the same table.

use std::process::ExitCode;

use casebook_core::storage::StorageError;
use casebook_core::sync::SyncError;
use serde::Serialize;

use crate::output;

/// The exit statuses and error codes, for `casebook --help`.
pub(crate) const EXIT_HELP: &str = "\
Long texts: a free-text value given as `-` is read from standard input (UTF-8, at most 1 MiB), e.g.
  casebook notes set APPOINTMENT - < notes.txt

Exit status (with --json, a failure prints {\"error\": {\"code\": CODE, \"message\": …}} on standard output):
  0  done
  1  any other failure                          failed, internal
  2  wrong command line or value                usage, invalid_input, impossible_date
  3  no such case, item, caregiver or file      not_found
  4  refused by the case's or relay's state     conflict, retracted
  5  relay unreachable or slow; retry later     network, timeout, rate_limited, relay_error
  6  refused by the relay                       unauthorized, forbidden, not_member, limit_exceeded
  7  the local store cannot be used             store_locked, storage, corrupt, newer_version";

/// A stable error code (its [`Code::key`] is what `--json` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// Any other failure.
    Failed,
    /// A bug, or a document Automerge refuses.
    Internal,
    /// The command line is wrong: an unknown flag, a missing argument, a confirmation not given.
    Usage,
    /// A value is refused (a date, an amount, an empty name, an ambiguous id prefix, a file too large…).
    InvalidInput,
    /// A date that cannot be right for what it dates (an event after today, an answer before its request).
    ImpossibleDate,
    /// No such case, item, caregiver or file.
    NotFound,
    /// The case's state, or the relay's, conflicts with the request.
    Conflict,
    /// The item or entry was retracted and can no longer be changed.
    Retracted,
    /// The relay cannot be reached.
    Network,
    /// The relay did not answer in time.
    Timeout,
    /// The relay asks to retry later.
    RateLimited,
    /// The relay failed or answered something this client does not understand.
    RelayError,
    /// The relay refused this device's token.
    Unauthorized,
    /// The account's role does not allow it.
    Forbidden,
    /// The relay does not know the case, invite or member, or this account is not a member.
    NotMember,
    /// A size limit or the case's quota on the relay was hit.
    LimitExceeded,
    /// Another process has the store open.
    StoreLocked,
    /// The local store failed (disk full, I/O error).
    Storage,
    /// Stored data is damaged.
    Corrupt,
    /// The case was written by a newer, incompatible version of Casebook.
    NewerVersion,
}

impl Code {
    /// The code as printed.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Code::Failed => "failed",
            Code::Internal => "internal",
            Code::Usage => "usage",
            Code::InvalidInput => "invalid_input",
            Code::ImpossibleDate => "impossible_date",
            Code::NotFound => "not_found",
            Code::Conflict => "conflict",
            Code::Retracted => "retracted",
            Code::Network => "network",
            Code::Timeout => "timeout",
            Code::RateLimited => "rate_limited",
            Code::RelayError => "relay_error",
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::NotMember => "not_member",
            Code::LimitExceeded => "limit_exceeded",
            Code::StoreLocked => "store_locked",
            Code::Storage => "storage",
            Code::Corrupt => "corrupt",
            Code::NewerVersion => "newer_version",
        }
    }

    /// The exit status.
    pub(crate) fn exit(self) -> u8 {
        match self {
            Code::Failed | Code::Internal => 1,
            Code::Usage | Code::InvalidInput | Code::ImpossibleDate => 2,
            Code::NotFound => 3,
            Code::Conflict | Code::Retracted => 4,
            Code::Network | Code::Timeout | Code::RateLimited | Code::RelayError => 5,
            Code::Unauthorized | Code::Forbidden | Code::NotMember | Code::LimitExceeded => 6,
            Code::StoreLocked | Code::Storage | Code::Corrupt | Code::NewerVersion => 7,
        }
    }
}

/// A failure the CLI itself detects, with its code.
#[derive(Debug)]
pub(crate) struct Refusal {
    code: Code,
    message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// A refusal with `code`.
pub(crate) fn refuse(code: Code, message: impl Into<String>) -> anyhow::Error {
    Refusal { code, message: message.into() }.into()
}

/// The command line is wrong (exit 2).
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    refuse(Code::Usage, message)
}

/// A value is refused (exit 2).
pub(crate) fn invalid(message: impl Into<String>) -> anyhow::Error {
    refuse(Code::InvalidInput, message)
}

/// Something named does not exist (exit 3).
pub(crate) fn not_found(message: impl Into<String>) -> anyhow::Error {
    refuse(Code::NotFound, message)
}

fn core_code(e: &casebook_core::Error) -> Code {
    use casebook_core::Error as E;
    match e {
        E::CaseNotFound(_) | E::UnknownId { .. } => Code::NotFound,
        E::InvalidInput { .. } | E::TextIndex { .. } | E::BadExchange(_) => Code::InvalidInput,
        E::ImpossibleDate { .. } => Code::ImpossibleDate,
        E::Retracted { .. } => Code::Retracted,
        E::NewerSchema { .. } => Code::NewerVersion,
        E::Corrupt { .. } => Code::Corrupt,
        E::Storage(s) => storage_code(s),
        E::Automerge(_) => Code::Internal,
    }
}

fn storage_code(e: &StorageError) -> Code {
    match e {
        StorageError::Locked(_) => Code::StoreLocked,
        StorageError::Corrupt(_) => Code::Corrupt,
        StorageError::Io(_) | StorageError::InvalidKey => Code::Storage,
    }
}

fn sync_code(e: &SyncError) -> Code {
    match e {
        SyncError::Unauthorized => Code::Unauthorized,
        SyncError::Forbidden { .. } => Code::Forbidden,
        SyncError::NotFound => Code::NotMember,
        SyncError::InvalidInput { .. } => Code::InvalidInput,
        SyncError::Conflict { .. } => Code::Conflict,
        SyncError::RateLimited { .. } => Code::RateLimited,
        SyncError::LimitExceeded { .. } => Code::LimitExceeded,
        SyncError::Network(_) => Code::Network,
        SyncError::Server(_) => Code::RelayError,
        SyncError::Timeout { .. } => Code::Timeout,
        SyncError::Stopped => Code::Internal,
        SyncError::Local(inner) => core_code(inner),
    }
}

/// The code of a failure: that of the first typed error in its chain, else [`Code::Failed`].
pub(crate) fn classify(e: &anyhow::Error) -> Code {
    for cause in e.chain() {
        if let Some(r) = cause.downcast_ref::<Refusal>() {
            return r.code;
        }
        if let Some(c) = cause.downcast_ref::<casebook_core::Error>() {
            return core_code(c);
        }
        if let Some(s) = cause.downcast_ref::<SyncError>() {
            return sync_code(s);
        }
        if let Some(s) = cause.downcast_ref::<StorageError>() {
            return storage_code(s);
        }
        if cause.downcast_ref::<serde_json::Error>().is_some() {
            return Code::InvalidInput;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => Code::NotFound,
                std::io::ErrorKind::InvalidData => Code::InvalidInput,
                _ => Code::Failed,
            };
        }
    }
    Code::Failed
}

#[derive(Serialize)]
struct JsonError<'a> {
    error: JsonErrorBody<'a>,
}

#[derive(Serialize)]
struct JsonErrorBody<'a> {
    code: &'static str,
    message: &'a str,
}

/// Print a failure (`error: …` on standard error, or the JSON error on standard output) and return its
/// exit status.
fn report(code: Code, message: &str, json: bool) -> ExitCode {
    if json {
        let body = JsonError { error: JsonErrorBody { code: code.key(), message } };
        if output::json(&body).is_err() {
            output::eprint_line(&format!("error: {message}"));
        }
    } else {
        output::eprint_line(&format!("error: {message}"));
    }
    ExitCode::from(code.exit())
}

/// Report a failed command.
pub(crate) fn command_failed(e: &anyhow::Error, json: bool) -> ExitCode {
    report(classify(e), &format!("{e:#}"), json)
}

/// Report a command line clap refused. Help and version requests, and every refusal in text mode, are
/// printed by clap as usual (exit 0 for help and version, 2 for a usage error); with `--json` a usage error
/// is the JSON error `usage`, exit 2.
pub(crate) fn parse_failed(e: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind as K;
    if !json || matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
        e.exit();
    }
    if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap prints the command's help: say what is missing instead.
        return report(Code::Usage, "a subcommand is required: run the command with --help to list them", true);
    }
    let text = e.to_string();
    let first = text.split("\n\n").next().unwrap_or_default();
    let message = first.trim().strip_prefix("error:").unwrap_or(first).trim();
    report(Code::Usage, message, true)
}

/// Whether the raw command line asks for `--json` (for failures before it is parsed). Arguments after `--`
/// are values, not flags.
pub(crate) fn json_requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter().skip(1).take_while(|a| a != "--").any(|a| a == "--json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_exit_statuses() {
        let e: anyhow::Error = casebook_core::Error::UnknownId { kind: "specialist", id: "x".into() }.into();
        assert_eq!(classify(&e.context("while doing it")), Code::NotFound);
        let e: anyhow::Error =
            SyncError::Local(std::sync::Arc::new(casebook_core::Error::Storage(StorageError::Locked("busy".into()))))
                .into();
        assert_eq!((classify(&e), classify(&e).exit()), (Code::StoreLocked, 7));
        assert_eq!(classify(&SyncError::Timeout { state: casebook_core::sync::SyncState::Offline }.into()).exit(), 5);
        assert_eq!(classify(&SyncError::NotFound.into()).key(), "not_member");
        assert_eq!(classify(&usage("no")).exit(), 2);
        assert_eq!(classify(&anyhow::anyhow!("plain")), Code::Failed);
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(classify(&anyhow::Error::new(io).context("cannot read x")), Code::NotFound);
    }

    #[test]
    fn json_flag_is_found_before_the_end_of_flags() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(json_requested(args(&["casebook", "case", "show", "--json"])));
        assert!(!json_requested(args(&["casebook", "notes", "append", "x", "--", "--json"])));
        assert!(!json_requested(args(&["casebook", "--json-ish"])));
    }
}
