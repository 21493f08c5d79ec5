//! Free texts typed on the command line, or read from standard input when the value is `-`.
//!
//! `casebook notes set APPOINTMENT - < notes.txt`, `pbpaste | casebook symptoms append -`: the text is read
//! whole (UTF-8, at most [`MAX_STDIN`] bytes), with its trailing line breaks removed. One value per command
//! can come from standard input. Files are read the same way, with the shell's `< FILE`.

use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;

use crate::{failure, output};

/// The most bytes read from standard input for one text (1 MiB, also the most one edit may insert).
pub(crate) const MAX_STDIN: usize = casebook_core::model::text::MAX_INSERT;

/// Whether standard input was already read by this command.
static READ: AtomicBool = AtomicBool::new(false);

/// The value typed, or for `-` the text on standard input.
pub(crate) fn text(value: String) -> Result<String> {
    if value != "-" {
        return Ok(value);
    }
    if READ.swap(true, Ordering::SeqCst) {
        return Err(failure::usage(
            "only one value per command can be read from standard input (`-`); give the others on the command line",
        ));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        output::eprint_line("Type the text, then press Ctrl-D on a new line (Ctrl-Z, Enter on Windows).");
    }
    read_capped(stdin.lock())
}

/// [`text`] for an optional value.
pub(crate) fn opt_text(value: Option<String>) -> Result<Option<String>> {
    value.map(text).transpose()
}

/// Read all of `from`: UTF-8 text of at most [`MAX_STDIN`] bytes, trailing line breaks removed.
fn read_capped(from: impl Read) -> Result<String> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_STDIN).unwrap_or(u64::MAX).saturating_add(1);
    from.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| failure::invalid(format!("cannot read standard input: {e}")))?;
    if bytes.len() > MAX_STDIN {
        return Err(failure::invalid(format!(
            "standard input holds more than {} MiB: too long for one text (split it, or keep the document \
             itself and note where it is)",
            MAX_STDIN >> 20
        )));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| failure::invalid("standard input is not UTF-8 text"))?;
    let kept = text.trim_end_matches(['\n', '\r']).len();
    text.truncate(kept);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utf8_up_to_the_cap_without_trailing_line_breaks() {
        assert_eq!(read_capped("héllo\nwörld 😀\r\n\n".as_bytes()).unwrap(), "héllo\nwörld 😀");
        assert_eq!(read_capped(&b""[..]).unwrap(), "");
        let full = vec![b'a'; MAX_STDIN];
        assert_eq!(read_capped(&full[..]).unwrap().len(), MAX_STDIN);
        let over = vec![b'a'; MAX_STDIN + 1];
        let err = read_capped(&over[..]).unwrap_err();
        assert!(err.to_string().contains("more than 1 MiB"), "{err}");
        assert_eq!(crate::failure::classify(&err).key(), "invalid_input");
        let err = read_capped(&[0xff, 0xfe][..]).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }
}
