//! Secrets: device tokens, link and invite codes, and the hashes the relay keeps instead of them.
//!
//! - A device token is 256 random bits as 64 hex digits.
//! - A code (link or invite) is 100 random bits as 20 Crockford base32 characters in groups of four
//!   (`7QK2-M9XD-…`); typing is forgiving: case, dashes, spaces, `O`/`I`/`L` are normalised.
//! - An account recovery code is the same, 140 random bits long (28 characters, seven groups): it does not
//!   expire, so it needs the margin (see `api::recover_account` for the guessing odds).
//! - Only SHA-256 hashes (hex) are stored. Both are drawn from the operating system's CSPRNG via
//!   `rand::rng()` (ChaCha seeded from the OS).

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Crockford base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code (5 bits each: 100 bits).
pub(crate) const CODE_CHARS: usize = 20;
/// Characters in a recovery code (5 bits each: 140 bits).
pub(crate) const RECOVERY_CODE_CHARS: usize = 28;
/// Longest input accepted as a code of either kind, in bytes.
const MAX_TYPED: usize = 64;

/// A fresh device token: 32 random bytes, hex.
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `chars` random characters of the alphabet in groups of four.
fn random_code(chars: usize) -> String {
    let mut rng = rand::rng();
    let chars: Vec<u8> = (0..chars).map(|_| ALPHABET[(rng.next_u32() % 32) as usize]).collect();
    chars.chunks(4).map(|c| std::str::from_utf8(c).expect("ascii")).collect::<Vec<_>>().join("-")
}

/// A fresh single-use code, formatted for humans.
pub(crate) fn new_code() -> String {
    random_code(CODE_CHARS)
}

/// A fresh account recovery code, formatted for humans.
pub(crate) fn new_recovery_code() -> String {
    random_code(RECOVERY_CODE_CHARS)
}

/// A fresh opaque id (accounts, devices): 128 random bits, hex.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// SHA-256 of `secret`, hex.
pub(crate) fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A device token as typed: must be exactly 64 hex digits (lowercased).
pub(crate) fn normalize_token(token: &str) -> Option<String> {
    let t = token.trim();
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| t.to_ascii_lowercase())
}

/// A code as typed, in canonical form (20 characters of the alphabet), or `None` if it cannot be one.
pub(crate) fn normalize_code(code: &str) -> Option<String> {
    normalize_chars(code, CODE_CHARS)
}

/// A recovery code as typed, in canonical form (28 characters of the alphabet), or `None`.
pub(crate) fn normalize_recovery_code(code: &str) -> Option<String> {
    normalize_chars(code, RECOVERY_CODE_CHARS)
}

/// `code` without separators, upper case, `O`/`I`/`L` read as `0`/`1`/`1`, if that is `len` characters
/// of the alphabet.
fn normalize_chars(code: &str, len: usize) -> Option<String> {
    if code.len() > MAX_TYPED {
        return None;
    }
    let mut out = String::with_capacity(len);
    for c in code.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == len).then_some(out)
}

/// The stored hash of a code as typed.
pub(crate) fn hash_code(code: &str) -> Option<String> {
    normalize_code(code).map(|c| hash(&c))
}

/// The stored hash of a recovery code as typed.
pub(crate) fn hash_recovery_code(code: &str) -> Option<String> {
    normalize_recovery_code(code).map(|c| hash(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_distinct() {
        let a = new_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_token());
        assert_eq!(normalize_token(&a.to_uppercase()), Some(a.clone()));
        assert_eq!(normalize_token("abc"), None);
        assert_eq!(normalize_token(&"g".repeat(64)), None);
    }

    #[test]
    fn codes_have_100_bits_and_are_forgiving_to_type() {
        let c = new_code();
        assert_eq!(c.len(), CODE_CHARS + 4);
        let canonical = normalize_code(&c).unwrap();
        assert_eq!(canonical.len(), CODE_CHARS);
        assert_eq!(normalize_code(&c.to_lowercase().replace('-', " ")), Some(canonical.clone()));
        assert_eq!(hash_code(&c), Some(hash(&canonical)));
        assert_eq!(normalize_code("0000-0000-0000-0000-000O"), normalize_code("00000000000000000000"));
        assert_eq!(normalize_code("short"), None);
        assert_eq!(normalize_code("UUUU-UUUU-UUUU-UUUU-UUUU"), None);
        assert_eq!(normalize_code(&"0".repeat(100)), None);
        assert_ne!(new_code(), new_code());
    }

    #[test]
    fn recovery_codes_have_140_bits_and_are_forgiving_to_type() {
        let c = new_recovery_code();
        assert_eq!(c.len(), RECOVERY_CODE_CHARS + 6, "seven groups of four");
        assert_eq!(c.split('-').count(), 7);
        let canonical = normalize_recovery_code(&c).unwrap();
        assert_eq!(canonical.len(), RECOVERY_CODE_CHARS);
        let typed = format!("  {} ", c.to_lowercase().replace('-', " ").replace('0', "o").replace('1', "l"));
        assert_eq!(normalize_recovery_code(&typed), Some(canonical.clone()));
        assert_eq!(hash_recovery_code(&c), Some(hash(&canonical)));
        // The two kinds never stand for each other.
        assert_eq!(normalize_code(&c), None);
        assert_eq!(normalize_recovery_code(&new_code()), None);
        assert_eq!(normalize_recovery_code(&"U".repeat(RECOVERY_CODE_CHARS)), None);
        assert_eq!(normalize_recovery_code(&"0".repeat(100)), None);
        assert_ne!(new_recovery_code(), new_recovery_code());
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
