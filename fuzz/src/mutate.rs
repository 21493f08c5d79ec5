//! Generic mutations: bit flips, interesting values, insertions, deletions, duplications, splices from
//! another corpus entry, truncation. One to four per input.

use rand::Rng;
use rand::rngs::StdRng;

/// Values that often sit on a boundary of a length or a varint.
const INTERESTING: [u8; 10] = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x3f, 0x17, 0x18];

/// Random bytes, up to `max` long.
pub fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..=max);
    (0..n).map(|_| rng.random()).collect()
}

/// One to four generic mutations of `input`.
pub fn bytes(input: &[u8], corpus: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        once(&mut out, corpus, rng);
    }
    out
}

fn once(out: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut StdRng) {
    let len = out.len();
    let pos = |rng: &mut StdRng| if len == 0 { 0 } else { rng.random_range(0..len) };
    match rng.random_range(0..9) {
        0 if len > 0 => {
            let i = pos(rng);
            out[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = pos(rng);
            out[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
        }
        2 if len > 0 => {
            let i = pos(rng);
            out[i] = rng.random();
        }
        3 => {
            let i = if len == 0 { 0 } else { rng.random_range(0..=len) };
            let extra = random_bytes(rng, 16);
            out.splice(i..i, extra);
        }
        4 if len > 0 => {
            let i = pos(rng);
            let n = rng.random_range(1..=(len - i).min(32));
            out.drain(i..i + n);
        }
        5 if len > 0 => {
            let i = pos(rng);
            let n = rng.random_range(1..=(len - i).min(64));
            let chunk = out[i..i + n].to_vec();
            let at = rng.random_range(0..=len);
            out.splice(at..at, chunk);
        }
        6 if !corpus.is_empty() => {
            let other = &corpus[rng.random_range(0..corpus.len())];
            if !other.is_empty() {
                let a = rng.random_range(0..other.len());
                let b = rng.random_range(a..=other.len());
                let at = if len == 0 { 0 } else { rng.random_range(0..=len) };
                out.splice(at..at, other[a..b].iter().copied());
            }
        }
        7 if len > 0 => {
            out.truncate(pos(rng));
        }
        _ => {
            // A 4-byte little-endian integer overwritten with a boundary value (lengths, counts).
            if len >= 4 {
                let i = rng.random_range(0..=len - 4);
                let v: u32 = [0, 1, 0x7fff_ffff, 0xffff_ffff, 1 << 20, 1 << 30][rng.random_range(0..6)];
                out[i..i + 4].copy_from_slice(&v.to_le_bytes());
            } else {
                out.push(rng.random());
            }
        }
    }
}

/// A JSON-aware mutation: parse `input` as JSON and replace one value (or a key) with a hostile one;
/// falls back to byte mutations for input that is not JSON.
pub fn json(input: &[u8], corpus: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(input) else {
        return bytes(input, corpus, rng);
    };
    let replacement = hostile_json(rng);
    let mut paths = Vec::new();
    collect_paths(&v, &mut Vec::new(), &mut paths);
    let path = &paths[rng.random_range(0..paths.len())];
    if let Some(slot) = pointer_mut(&mut v, path) {
        if rng.random_ratio(1, 4) {
            if let serde_json::Value::Object(m) = slot {
                m.insert(hostile_key(rng), replacement);
            } else {
                *slot = replacement;
            }
        } else {
            *slot = replacement;
        }
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

fn hostile_key(rng: &mut StdRng) -> String {
    ["", "__proto__", "role", "code", "case_id", "doc_id", "display_name", "\u{0}", "🦀"][rng.random_range(0..9)]
        .to_string()
}

fn hostile_json(rng: &mut StdRng) -> serde_json::Value {
    use serde_json::{Value, json};
    match rng.random_range(0..14) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(u64::MAX),
        4 => json!(1e308),
        5 => json!(""),
        6 => json!("x".repeat(rng.random_range(80..20_000))),
        7 => json!("owner"),
        8 => json!("viewer"),
        9 => json!("\u{0}\u{202e}\u{feff}é🦀"),
        10 => json!([]),
        11 => json!({}),
        12 => {
            let mut v = json!(1);
            for _ in 0..rng.random_range(10..200) {
                v = json!([v]);
            }
            v
        }
        _ => json!("2MKmLDxxfWtDZhsqyzNYvXTLV4fc"),
    }
}

fn collect_paths(v: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        serde_json::Value::Object(m) => {
            for (k, c) in m {
                at.push(k.clone());
                collect_paths(c, at, out);
                at.pop();
            }
        }
        serde_json::Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                at.push(i.to_string());
                collect_paths(c, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(v: &'a mut serde_json::Value, path: &[String]) -> Option<&'a mut serde_json::Value> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            serde_json::Value::Object(m) => m.get_mut(p)?,
            serde_json::Value::Array(a) => a.get_mut(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}
