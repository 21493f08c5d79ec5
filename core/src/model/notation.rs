//! Reading what doctors write, so that opinions are compared by meaning rather than spelling.
//!
//! - **Stage groups**: `IIIA`, `Stage IIIA`, `stage 3A`, `Stage III-A` and `IIIa` are the same stage: a group
//!   0 or I–IV (roman or arabic), an optional letter A–C and an optional digit (`IA1`), with or without the
//!   word "stage".
//! - **TNM categories**: `cT2N1M0`, `T2 N1 M0` and `pT2 N1 M0` are read as their T, N and M categories, each
//!   with its prefix as written. Prefixes (`c` clinical, `p` pathological, `yc`/`yp` after neoadjuvant
//!   therapy, `r` recurrence) say what the stage is based on, not what it is: categories are compared by
//!   value, and a difference of prefix is always *noted* beside the comparison, never silently dropped and
//!   never counted as a difference of meaning.
//! - **Treatments**: case, punctuation, spacing and the connector words "then", "followed by", "and",
//!   "plus", `,`, `+`, `&`, `;`, `/` are ignored, the order of the words is kept: "chemoradiation then
//!   durvalumab" reads as "Chemoradiation, then durvalumab." (sequence and combination connectors are not
//!   told apart).
//! - **Other text** (a diagnosis, a stage this module cannot read): case, punctuation and spacing ignored.
//!
//! Notation only: nothing here maps TNM categories to a stage group (that depends on the cancer and the
//! edition of the staging manual), knows synonyms, or judges a value. Where two values are written in ways
//! that cannot be reduced to one meaning (a stage group against TNM categories, `III` against `IIIA`), the
//! comparison says so ([`Outcome::Unclear`]) instead of guessing.

use std::fmt;

/// How two or more written values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Same meaning (perhaps written differently).
    Agree,
    /// Written in ways this module cannot reduce to one meaning (different notations, or one more precise
    /// than the other): worth asking the doctors, not counted as a difference.
    Unclear,
    /// Different meaning.
    Differ,
}

/// A stage group: 0 or I–IV, an optional letter (A–C) and an optional digit (`IA1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StageGroup {
    /// 0–4.
    pub number: u8,
    /// Upper-case letter, if written.
    pub letter: Option<char>,
    /// Digit after the letter, if written (`IA1`).
    pub digit: Option<u8>,
}

impl fmt::Display for StageGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(["0", "I", "II", "III", "IV"][usize::from(self.number.min(4))])?;
        if let Some(l) = self.letter {
            write!(f, "{l}")?;
        }
        if let Some(d) = self.digit {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// One TNM category (T, N or M) as written: its prefix and its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TnmCategory {
    /// The prefix as written, lower case (`c`, `p`, `yc`, `yp`, `r`, `rc`, `rp`, `y`), if any.
    pub prefix: Option<String>,
    /// The value, lower case: `x`, `is`, `0`–`4`, with an optional letter or `mi` (`2a`, `1mi`).
    pub value: String,
}

/// TNM categories as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tnm {
    /// Primary tumour.
    pub t: Option<TnmCategory>,
    /// Regional lymph nodes.
    pub n: Option<TnmCategory>,
    /// Distant metastasis.
    pub m: Option<TnmCategory>,
}

impl Tnm {
    /// The prefix the stage is based on: the first one written (`pT2 N1 M0` → `p`).
    pub fn basis(&self) -> Option<&str> {
        [&self.t, &self.n, &self.m].into_iter().flatten().find_map(|c| c.prefix.as_deref())
    }
}

impl fmt::Display for Tnm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (letter, c) in [("T", &self.t), ("N", &self.n), ("M", &self.m)] {
            let Some(c) = c else { continue };
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let value = if c.value == "x" { "X".to_string() } else { c.value.clone() };
            write!(f, "{}{letter}{value}", c.prefix.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}

/// The caregiver-facing meaning of a TNM prefix.
pub fn prefix_label(prefix: &str) -> &'static str {
    match prefix {
        "c" => "clinical",
        "p" => "pathological",
        "yc" => "clinical, after neoadjuvant therapy",
        "yp" | "y" => "pathological, after neoadjuvant therapy",
        "r" | "rc" | "rp" => "recurrence",
        _ => "other",
    }
}

/// A stage as read from what a doctor wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageReading {
    /// The stage group, if written.
    pub group: Option<StageGroup>,
    /// The TNM categories, if written.
    pub tnm: Option<Tnm>,
    /// When neither could be read: the text with case, punctuation, spacing and the word "stage" removed.
    pub text: Option<String>,
}

impl StageReading {
    /// The canonical form: `IIIA`, `cT2 N1 M0`, `IIIA (cT2 N1 M0)`, or the normalised text.
    pub fn canonical(&self) -> String {
        match (&self.group, &self.tnm) {
            (Some(g), Some(t)) => format!("{g} ({t})"),
            (Some(g), None) => g.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => self.text.clone().unwrap_or_default(),
        }
    }
}

/// Lower-case `s` and turn every character that is neither a letter nor a digit into a space.
fn words(s: &str) -> Vec<String> {
    let lowered: String = s.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    lowered.split_whitespace().map(str::to_string).collect()
}

/// Text compared by meaning as far as notation goes: lower case, letters and digits only
/// (`"Non-small cell"` = `"non small-cell."`).
pub fn text_key(s: &str) -> String {
    words(s).concat()
}

/// The canonical form of a text: lower case, letters and digits, single spaces (`"Non-small cell."` →
/// `"non small cell"`).
pub fn text_canonical(s: &str) -> String {
    words(s).join(" ")
}

/// The words of a treatment with the connector words and punctuation removed, in order:
/// `"Chemoradiation, then durvalumab."` → `["chemoradiation", "durvalumab"]`.
pub fn treatment_words(s: &str) -> Vec<String> {
    let w = words(s);
    let mut out = Vec::with_capacity(w.len());
    let mut i = 0;
    while i < w.len() {
        match w[i].as_str() {
            "then" | "and" | "plus" => {}
            "followed" if w.get(i + 1).is_some_and(|n| n == "by") => i += 1,
            other => out.push(other.to_string()),
        }
        i += 1;
    }
    out
}

/// The canonical form of a treatment: its words without connectors, joined by spaces.
pub fn treatment_canonical(s: &str) -> String {
    treatment_words(s).join(" ")
}

/// The comparison key of a treatment: its words without connectors or spaces (so `chemo-radiation` =
/// `chemoradiation`).
pub fn treatment_key(s: &str) -> String {
    treatment_words(s).concat()
}

/// Parse a whole token as a stage group: `iiia`, `3a`, `ia1`, `iv`, `0`.
fn parse_group(t: &str) -> Option<StageGroup> {
    let (number, rest) = if let Some(r) = t.strip_prefix("iv") {
        (4, r)
    } else if let Some(r) = t.strip_prefix("iii") {
        (3, r)
    } else if let Some(r) = t.strip_prefix("ii") {
        (2, r)
    } else if let Some(r) = t.strip_prefix('i') {
        (1, r)
    } else {
        let d = t.chars().next()?.to_digit(10)?;
        if d > 4 {
            return None;
        }
        (d as u8, &t[1..])
    };
    let mut chars = rest.chars();
    let mut letter = None;
    let mut digit = None;
    let mut next = chars.next();
    if let Some(c @ 'a'..='c') = next {
        letter = Some(c.to_ascii_uppercase());
        next = chars.next();
    }
    if let Some(c @ '1'..='3') = next
        && letter.is_some()
    {
        digit = Some(c as u8 - b'0');
        next = chars.next();
    }
    if next.is_some() || (number == 0 && letter.is_some()) {
        return None;
    }
    Some(StageGroup { number, letter, digit })
}

const PREFIXES: [&str; 8] = ["yp", "yc", "rp", "rc", "p", "c", "y", "r"];

/// Parse one TNM category's value after its letter, returning the value and the rest.
fn category_value(which: char, s: &str) -> Option<(String, &str)> {
    if let Some(r) = s.strip_prefix("is")
        && which == 't'
    {
        return Some(("is".into(), r));
    }
    if let Some(r) = s.strip_prefix('x') {
        return Some(("x".into(), r));
    }
    let max = match which {
        't' => '4',
        'n' => '3',
        _ => '1',
    };
    let d = s.chars().next().filter(|c| ('0'..=max).contains(c))?;
    let mut value = d.to_string();
    let mut rest = &s[1..];
    if which != 'm'
        && let Some(r) = rest.strip_prefix("mi")
    {
        value.push_str("mi");
        rest = r;
    } else if let Some(l) = rest.chars().next().filter(|c| ('a'..='d').contains(c))
        && d != '0'
    {
        value.push(l);
        rest = &rest[1..];
    }
    Some((value, rest))
}

/// Parse a whole token as one or more TNM categories (`ct2n1m0`, `pn1`, `m0`) into `tnm`.
fn parse_tnm_token(mut s: &str, tnm: &mut Tnm) -> bool {
    if s.is_empty() {
        return false;
    }
    while !s.is_empty() {
        let mut prefix = None;
        for p in PREFIXES {
            if let Some(r) = s.strip_prefix(p)
                && r.starts_with(['t', 'n', 'm'])
            {
                prefix = Some(p.to_string());
                s = r;
                break;
            }
        }
        let Some(which) = s.chars().next().filter(|c| matches!(c, 't' | 'n' | 'm')) else {
            return false;
        };
        let Some((value, rest)) = category_value(which, &s[1..]) else {
            return false;
        };
        let slot = match which {
            't' => &mut tnm.t,
            'n' => &mut tnm.n,
            _ => &mut tnm.m,
        };
        if slot.is_some() {
            return false;
        }
        *slot = Some(TnmCategory { prefix, value });
        s = rest;
    }
    true
}

/// Read a stage as written: a stage group, TNM categories, both (`IIIA (T2 N2 M0)`), or neither (the
/// normalised text is kept).
pub fn read_stage(s: &str) -> StageReading {
    let fallback = || {
        let text: String = words(s).into_iter().filter(|w| w != "stage").collect();
        StageReading { group: None, tnm: None, text: Some(text) }
    };
    // Tokens: lower case, split on spaces and punctuation other than `-` and `.` (which join a group's
    // parts: `III-A`, `T2-N1`), those then removed inside a token.
    let lowered = s.to_lowercase();
    let mut tokens: Vec<String> = lowered
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | ',' | ';' | ':' | '/'))
        .map(|t| t.chars().filter(|c| !matches!(c, '-' | '.' | '–')).collect::<String>())
        .filter(|t| !t.is_empty())
        .collect();
    for t in &mut tokens {
        if let Some(rest) = t.strip_prefix("stage") {
            *t = rest.to_string();
        }
    }
    tokens.retain(|t| !t.is_empty());
    let mut group: Option<StageGroup> = None;
    let mut tnm = Tnm::default();
    let mut any_tnm = false;
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i];
        if group.is_none()
            && let Some(mut g) = parse_group(tok)
        {
            // A letter (and digit) written apart: `III A`, `I A 1`.
            if g.letter.is_none()
                && let Some(n) = tokens.get(i + 1)
                && let Some(joined) = parse_group(&format!("{tok}{n}"))
                && g.number != 0
            {
                g = joined;
                i += 1;
            }
            group = Some(g);
        } else if parse_tnm_token(tok, &mut tnm) {
            any_tnm = true;
        } else {
            return fallback();
        }
        i += 1;
    }
    if group.is_none() && !any_tnm {
        return fallback();
    }
    StageReading { group, tnm: any_tnm.then_some(tnm), text: None }
}

/// The result of comparing two values: the outcome, the parts that differ (or are unclear) and notes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PairResult {
    pub(crate) outcome: Option<Outcome>,
    pub(crate) components: Vec<&'static str>,
    pub(crate) notes: Vec<String>,
}

impl PairResult {
    fn raise(&mut self, o: Outcome, component: Option<&'static str>) {
        self.outcome = Some(self.outcome.map_or(o, |cur| cur.max(o)));
        if let Some(c) = component
            && o != Outcome::Agree
            && !self.components.contains(&c)
        {
            self.components.push(c);
        }
    }
}

/// Compare two values split as (number part, suffix): equal → agree; different numbers or two different
/// suffixes → differ; one suffix missing → unclear (different precision).
fn compare_parts(a: (&str, &str), b: (&str, &str)) -> Outcome {
    if a == b {
        Outcome::Agree
    } else if a.0 != b.0 || (!a.1.is_empty() && !b.1.is_empty()) {
        Outcome::Differ
    } else {
        Outcome::Unclear
    }
}

fn compare_groups(a: &StageGroup, b: &StageGroup, r: &mut PairResult) {
    if a.number != b.number {
        r.raise(Outcome::Differ, Some("stage group"));
        return;
    }
    let o = match (a.letter, b.letter) {
        (Some(x), Some(y)) if x != y => Outcome::Differ,
        (Some(_), Some(_)) => match (a.digit, b.digit) {
            (Some(x), Some(y)) if x != y => Outcome::Differ,
            (x, y) if x == y => Outcome::Agree,
            _ => Outcome::Unclear,
        },
        (None, None) => Outcome::Agree,
        _ => Outcome::Unclear,
    };
    if o == Outcome::Unclear {
        r.notes.push(format!("stage {a} and stage {b} are written with different precision"));
    }
    r.raise(o, Some("substage"));
}

fn compare_tnm(a: &Tnm, b: &Tnm, r: &mut PairResult) {
    for (name, x, y) in [("T", &a.t, &b.t), ("N", &a.n, &b.n), ("M", &a.m, &b.m)] {
        let (Some(x), Some(y)) = (x, y) else { continue };
        let split = |v: &str| -> (String, String) {
            let n: String = v.chars().take_while(char::is_ascii_digit).collect();
            let rest = v[n.len()..].to_string();
            if n.is_empty() { (v.to_string(), String::new()) } else { (n, rest) }
        };
        let o = if x.value == y.value {
            Outcome::Agree
        } else if x.value == "x" || y.value == "x" {
            r.notes.push(format!("{name}X means the {name} category was not assessed in one opinion"));
            Outcome::Unclear
        } else {
            let (xa, xb) = split(&x.value);
            let (ya, yb) = split(&y.value);
            let o = compare_parts((&xa, &xb), (&ya, &yb));
            if o == Outcome::Unclear {
                r.notes.push(format!("{name}{} and {name}{} are written with different precision", x.value, y.value));
            }
            o
        };
        r.raise(o, Some(name));
    }
}

/// Compare two comparison keys: equal → agree, else differ.
pub(crate) fn compare_keys(a: &str, b: &str) -> PairResult {
    let mut r = PairResult::default();
    r.raise(if a == b { Outcome::Agree } else { Outcome::Differ }, None);
    r
}

/// Compare two stage readings.
pub(crate) fn compare_stages(a: &StageReading, b: &StageReading) -> PairResult {
    let mut r = PairResult::default();
    if let (Some(x), Some(y)) = (&a.group, &b.group) {
        compare_groups(x, y, &mut r);
    }
    if let (Some(x), Some(y)) = (&a.tnm, &b.tnm) {
        compare_tnm(x, y, &mut r);
    }
    if r.outcome.is_none() {
        match (&a.text, &b.text) {
            (Some(x), Some(y)) => r.raise(if x == y { Outcome::Agree } else { Outcome::Differ }, None),
            _ => {
                r.notes.push(format!(
                    "{} and {} are written in different notations, which are not compared here",
                    a.canonical(),
                    b.canonical()
                ));
                r.raise(Outcome::Unclear, Some("notation"));
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_read_in_every_spelling() {
        for s in ["IIIA", "Stage IIIA", "stage 3A", "Stage III-A", "IIIa", "stage iii a", "Stage: 3a.", "STAGE3A"] {
            assert_eq!(read_stage(s).canonical(), "IIIA", "{s}");
        }
        assert_eq!(read_stage("IA1").canonical(), "IA1");
        assert_eq!(read_stage("stage 4").canonical(), "IV");
        assert_eq!(read_stage("IVB").canonical(), "IVB");
        assert_eq!(read_stage("0").canonical(), "0");
        assert_eq!(read_stage("Limited-stage").text.as_deref(), Some("limited"));
        assert_eq!(read_stage("5").group, None);
    }

    #[test]
    fn tnm_reads_with_prefixes() {
        let r = read_stage("cT2N1M0");
        assert_eq!(r.canonical(), "cT2 N1 M0");
        assert_eq!(r.tnm.as_ref().unwrap().basis(), Some("c"));
        assert_eq!(read_stage("T2 N1 M0").canonical(), "T2 N1 M0");
        assert_eq!(read_stage("pT2 N1 M0").canonical(), "pT2 N1 M0");
        assert_eq!(read_stage("ypT1a pN0 cM0").canonical(), "ypT1a pN0 cM0");
        assert_eq!(read_stage("Tis N0 M0").canonical(), "Tis N0 M0");
        assert_eq!(read_stage("T1mi N0").canonical(), "T1mi N0");
        assert_eq!(read_stage("TX N2 M1c").canonical(), "TX N2 M1c");
        assert_eq!(read_stage("Stage IIIA (T2N2M0)").canonical(), "IIIA (T2 N2 M0)");
        assert_eq!(read_stage("T2, N1, M0, stage IIB").canonical(), "IIB (T2 N1 M0)");
        assert!(read_stage("T2 T3").text.is_some(), "a category twice is not TNM");
    }

    #[test]
    fn odd_input_reads_as_text_without_panicking() {
        for s in ["", "stage", "T", "t9", "ⅲa", "İIIA", "3a1b", "-", "T2N1M0M1", "٣a", "IIIA".repeat(50).as_str()] {
            let r = read_stage(s);
            assert!(r.group.is_some() || r.tnm.is_some() || r.text.is_some(), "{s}");
            let _ = compare_stages(&r, &read_stage("IIIA"));
        }
        assert_eq!(read_stage("T2N1M0M1").group, None);
        assert!(read_stage("T2N1M0M1").tnm.is_none());
    }

    #[test]
    fn treatments_ignore_connectors_keep_order() {
        assert_eq!(treatment_key("chemoradiation then durvalumab"), treatment_key("Chemoradiation, then durvalumab."));
        assert_eq!(treatment_key("Carboplatin + pemetrexed"), treatment_key("carboplatin and pemetrexed"));
        assert_eq!(treatment_key("surgery followed by chemo"), treatment_key("Surgery; chemo"));
        assert_ne!(treatment_key("surgery then chemo"), treatment_key("chemo then surgery"));
        assert_eq!(treatment_canonical("Chemoradiation, then durvalumab."), "chemoradiation durvalumab");
    }
}
