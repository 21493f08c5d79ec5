//! Invites phones can share: an invite code and the relay it belongs to as one link,
//! `casebook://invite/<CODE>?relay=<relay URL, percent-encoded>`, which an app registers to open (and a QR
//! code can carry). Pure functions; the relay never sees the link, only the code.
//!
//! The link holds what a person would otherwise type: the relay's address and the single-use code. It
//! carries no case id, no name and no role: whoever finds a link learns nothing about the case until the
//! code is redeemed, and a redeemed or expired code is worth nothing.

use std::fmt;

/// The scheme and host part every invite link starts with.
pub const PREFIX: &str = "casebook://invite/";

/// Longest link accepted by [`InviteLink::parse`] (a relay URL and a code fit in far less).
pub const MAX_LINK_LEN: usize = 2048;

/// An invite as a shareable link: the relay and the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteLink {
    /// The relay's base URL (`https://relay.example.org`), as the inviter's device knows it.
    pub relay_url: String,
    /// The invite code, as the relay gave it (`7QK2-M9XD-…`).
    pub code: String,
}

/// Why a text is not an invite link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteLinkError {
    /// Not a `casebook://invite/` link.
    #[error("not a Casebook invite link (it should start with {PREFIX})")]
    NotALink,
    /// The code part is empty or has characters no code has.
    #[error("the invite link's code is missing or malformed")]
    BadCode,
    /// The relay part is missing, badly encoded or not an http(s) URL.
    #[error("the invite link does not name a relay (http:// or https://)")]
    BadRelay,
    /// Longer than [`MAX_LINK_LEN`].
    #[error("the invite link is too long")]
    TooLong,
}

impl InviteLink {
    /// A link for `code` on the relay at `relay_url`.
    pub fn new(relay_url: &str, code: &str) -> Self {
        Self { relay_url: relay_url.trim_end_matches('/').to_string(), code: code.trim().to_string() }
    }

    /// Parse a link as printed by [`InviteLink`]'s `Display` (surrounding whitespace ignored; the scheme is
    /// case-insensitive). Checks the shape only: whether the code exists is the relay's answer.
    pub fn parse(text: &str) -> Result<Self, InviteLinkError> {
        let text = text.trim();
        if text.len() > MAX_LINK_LEN {
            return Err(InviteLinkError::TooLong);
        }
        let head = text.get(..PREFIX.len()).ok_or(InviteLinkError::NotALink)?;
        if !head.eq_ignore_ascii_case(PREFIX) {
            return Err(InviteLinkError::NotALink);
        }
        let rest = &text[PREFIX.len()..];
        let (code, query) = rest.split_once('?').ok_or(InviteLinkError::BadRelay)?;
        let code = code.trim_end_matches('/');
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(InviteLinkError::BadCode);
        }
        let relay = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("relay="))
            .ok_or(InviteLinkError::BadRelay)
            .and_then(|v| percent_decode(v).ok_or(InviteLinkError::BadRelay))?;
        let lower = relay.to_ascii_lowercase();
        let host = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
        if host.is_none_or(str::is_empty) || relay.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InviteLinkError::BadRelay);
        }
        Ok(Self::new(&relay, code))
    }

    /// Whether `text` looks like a link (rather than a bare code).
    pub fn looks_like_link(text: &str) -> bool {
        text.trim().get(..PREFIX.len()).is_some_and(|h| h.eq_ignore_ascii_case(PREFIX))
    }
}

impl fmt::Display for InviteLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}?relay={}", self.code, percent_encode(&self.relay_url))
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters (also the relay client's path segments).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` escapes; `None` on a malformed escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for relay in ["https://relay.example.org", "http://127.0.0.1:3030", "https://example.org/casebook?x=1&y=é"] {
            let link = InviteLink::new(relay, "7QK2-M9XD-AB12-CD34-EF56");
            let text = link.to_string();
            assert!(text.starts_with("casebook://invite/7QK2-M9XD-AB12-CD34-EF56?relay=http"), "{text}");
            assert!(!text[PREFIX.len()..].contains(['/', ':', ' ', '&']), "{text}");
            assert_eq!(InviteLink::parse(&text).unwrap(), link, "{text}");
        }
    }

    #[test]
    fn trailing_slash_and_case() {
        let link = InviteLink::parse("  CASEBOOK://invite/ABCD-EFGH/?relay=https%3A%2F%2Fr.example.org%2F \n").unwrap();
        assert_eq!(link, InviteLink { relay_url: "https://r.example.org".into(), code: "ABCD-EFGH".into() });
    }

    #[test]
    fn refuses_what_is_not_an_invite() {
        assert_eq!(InviteLink::parse("ABCD-EFGH"), Err(InviteLinkError::NotALink));
        assert_eq!(InviteLink::parse("https://invite/ABCD"), Err(InviteLinkError::NotALink));
        assert_eq!(InviteLink::parse("casebook://invite/ABCD"), Err(InviteLinkError::BadRelay));
        assert_eq!(InviteLink::parse("casebook://invite/?relay=https%3A%2F%2Fr"), Err(InviteLinkError::BadCode));
        assert_eq!(InviteLink::parse("casebook://invite/AB%0A?relay=https%3A%2F%2Fr"), Err(InviteLinkError::BadCode));
        assert_eq!(InviteLink::parse("casebook://invite/AB?relay=ftp%3A%2F%2Fr"), Err(InviteLinkError::BadRelay));
        assert_eq!(InviteLink::parse("casebook://invite/AB?relay=https%3A%2F%2F"), Err(InviteLinkError::BadRelay));
        assert_eq!(InviteLink::parse("casebook://invite/AB?relay=https%3A%2F%2Fr%0A"), Err(InviteLinkError::BadRelay));
        assert_eq!(InviteLink::parse("casebook://invite/AB?relay=%ZZ"), Err(InviteLinkError::BadRelay));
        assert_eq!(InviteLink::parse("casebook://invite/AB?relay=%FF"), Err(InviteLinkError::BadRelay));
        let long = format!("casebook://invite/AB?relay=https%3A%2F%2F{}", "a".repeat(MAX_LINK_LEN));
        assert_eq!(InviteLink::parse(&long), Err(InviteLinkError::TooLong));
        assert!(InviteLink::looks_like_link("casebook://invite/X"));
        assert!(!InviteLink::looks_like_link("ABCD-EFGH"));
        // Multi-byte text at the prefix's boundary is not a panic.
        assert_eq!(InviteLink::parse("ééééééééééééééééééé"), Err(InviteLinkError::NotALink));
    }
}
