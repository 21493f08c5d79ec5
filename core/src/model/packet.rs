//! The packet for the new specialist: the case as one self-contained HTML page (the guide's step 4,
//! "organize documentation", so that the specialist gets one complete file), readable in five minutes and
//! printable on A4 or Letter.
//!
//! The page has no script and loads nothing (no external style sheet, font or image): its style is inline
//! and made for print, with page breaks between the major parts. Every text from the case is HTML-escaped
//! (`&`, `<`, `>`, `"`, `'`) and kept as UTF-8 (`<meta charset="utf-8">`), so names in any script and emoji
//! print as typed; bidirectional embedding and override controls and other control characters are dropped
//! (line breaks are kept). Retracted items never appear. A section with nothing recorded says so ("None
//! recorded") instead of being left out, so the specialist knows it was not forgotten.

use std::fmt::Write as _;

use time::Date;

use super::Keyed;
use crate::case::Case;

/// The section headings of the packet, in order (every packet has all of them).
pub const SECTIONS: [&str; 8] = [
    "Patient and diagnosis",
    "Records",
    "Medications",
    "Family cancer history",
    "Symptoms and concerns",
    "Prior opinions",
    "Questions for the specialist",
    "Contacts",
];

/// The line shown for a section or field with nothing recorded.
pub const NONE_RECORDED: &str = "None recorded";

/// The print style: A4 and Letter both fit (the narrower width and the shorter height of the two), a page
/// break before each major part, tables that do not split a row across pages.
const STYLE: &str = "\
@page { size: auto; margin: 18mm 16mm; }
html { font-family: Georgia, 'Times New Roman', serif; font-size: 11pt; line-height: 1.4; color: #000; background: #fff; }
body { max-width: 178mm; margin: 0 auto; padding: 0 4mm; }
h1 { font-size: 18pt; margin: 0 0 2mm; }
h2 { font-size: 14pt; border-bottom: 1px solid #444; margin: 6mm 0 2mm; padding-bottom: 1mm; break-after: avoid; page-break-after: avoid; }
h3 { font-size: 12pt; margin: 4mm 0 1mm; break-after: avoid; page-break-after: avoid; }
.subtitle { margin: 0 0 4mm; color: #333; }
section.part { break-before: page; page-break-before: always; }
table { width: 100%; border-collapse: collapse; margin: 1mm 0 3mm; }
th, td { text-align: left; vertical-align: top; padding: 1mm 2mm; border-bottom: 1px solid #ccc; }
th { font-weight: bold; }
tr { break-inside: avoid; page-break-inside: avoid; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 1mm 4mm; margin: 0 0 3mm; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; }
ul.enclosed { margin: 1mm 0 0; padding-left: 5mm; font-size: 10pt; }
.text { white-space: pre-wrap; }
.none { font-style: italic; color: #444; }
.tag { font-size: 9pt; font-weight: bold; text-transform: uppercase; }
footer { margin-top: 8mm; border-top: 1px solid #444; padding-top: 2mm; font-size: 9pt; color: #333; }
@media screen { body { margin: 8mm auto; } }
";

/// `s` made safe to place in HTML text or a quoted attribute: the five special characters escaped; C0 and
/// C1 controls (but line breaks and tabs), bidirectional embeddings, overrides and isolates dropped.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            '\r' => {}
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// "December 5, 2026".
fn long_date(d: Date) -> String {
    format!("{} {}, {}", d.month(), d.day(), d.year())
}

/// "2026-12-05".
fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A size in bytes, in words a reader takes in at a glance ("340 KB", "1.2 MB").
fn size_words(bytes: u64) -> String {
    const KB: f64 = 1000.0;
    let b = bytes as f64;
    if bytes < 1000 {
        if bytes == 1 { "1 byte".into() } else { format!("{bytes} bytes") }
    } else if b < KB * KB {
        format!("{:.0} KB", b / KB)
    } else if b < KB * KB * KB {
        format!("{:.1} MB", b / (KB * KB))
    } else {
        format!("{:.1} GB", b / (KB * KB * KB))
    }
}

/// A key in words: `pathology_report` → "Pathology report".
fn key_words(key: &str) -> String {
    let s = key.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// A text from the case, escaped, or `None` when it is blank.
fn text(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !super::is_blank(s)).map(escape_html)
}

/// An escaped text, or an en dash for a cell with nothing recorded.
fn cell(s: Option<&str>) -> String {
    text(s).unwrap_or_else(|| "&ndash;".into())
}

/// The "None recorded" line.
fn none(out: &mut String) {
    let _ = writeln!(out, "<p class=\"none\">{NONE_RECORDED}</p>");
}

/// Open a section; `part` starts it on a new page when printed.
fn open_section(out: &mut String, index: usize, part: bool) {
    let class = if part { " class=\"part\"" } else { "" };
    let _ = writeln!(out, "<section id=\"s{}\"{class}>\n<h2>{}</h2>", index + 1, SECTIONS[index]);
}

fn close_section(out: &mut String) {
    out.push_str("</section>\n");
}

impl Case {
    /// The packet for a new specialist, dated `today` (the device's local date): one self-contained HTML
    /// page (no script, nothing loaded from elsewhere, inline print style) with every part of
    /// [`SECTIONS`], empty ones marked "None recorded". See the [module documentation](crate::model::packet).
    pub fn packet_html(&self, today: Date) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let p = self.patient();
        let name = text(p.display_name.as_deref());

        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        let _ = writeln!(
            out,
            "<title>Second-opinion packet{}</title>",
            name.as_deref().map(|n| format!(" \u{2014} {n}")).unwrap_or_default()
        );
        let _ = writeln!(out, "<style>\n{STYLE}</style>\n</head>\n<body>");
        let _ = writeln!(out, "<header>\n<h1>Second-opinion packet</h1>");
        let _ = writeln!(
            out,
            "<p class=\"subtitle\">{} &middot; prepared {}</p>\n</header>",
            name.as_deref().unwrap_or("Patient name not recorded"),
            long_date(today)
        );

        // 1. Patient and diagnosis.
        open_section(&mut out, 0, false);
        let age = match (p.age_at(today), p.birth_year) {
            (Some(a), Some(y)) => Some(format!("{a} (born {y})")),
            (Some(a), None) => Some(a.to_string()),
            (None, Some(y)) => Some(format!("born {y}")),
            (None, None) => None,
        };
        let oncologist = {
            let parts: Vec<String> =
                [p.oncologist.name.as_deref(), p.oncologist.facility.as_deref(), p.oncologist.contact.as_deref()]
                    .into_iter()
                    .filter_map(text)
                    .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        };
        let facts: [(&str, Option<String>); 9] = [
            ("Name", name.clone()),
            ("Age", age),
            ("Cancer type", text(p.cancer_type.as_deref())),
            ("Histology", text(p.histology.as_deref())),
            ("Stage", text(p.stage.as_deref())),
            ("Diagnosis date", p.diagnosis_date.map(iso)),
            ("Diagnosing facility", text(p.diagnosing_facility.as_deref())),
            ("Treating oncologist", oncologist),
            ("Treatment started", Some(if p.treatment_started { "Yes" } else { "No" }.into())),
        ];
        out.push_str("<dl class=\"facts\">\n");
        for (label, value) in facts {
            let value = value.unwrap_or_else(|| format!("<span class=\"none\">{NONE_RECORDED}</span>"));
            let _ = writeln!(out, "<dt>{label}</dt><dd>{value}</dd>");
        }
        out.push_str("</dl>\n<h3>Proposed treatment</h3>\n");
        match text(Some(&p.proposed_treatment)) {
            Some(t) => {
                let _ = writeln!(out, "<p class=\"text\">{t}</p>");
            }
            None => none(&mut out),
        }
        close_section(&mut out);

        // 2. Records, with the files enclosed.
        open_section(&mut out, 1, true);
        let documents = self.documents();
        if documents.is_empty() {
            none(&mut out);
        } else {
            let attachments = self.attachments(None);
            out.push_str(
                "<table>\n<thead><tr><th>Date</th><th>Kind</th><th>Source</th><th>Description and files \
                 enclosed</th></tr></thead>\n<tbody>\n",
            );
            for d in &documents {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}",
                    d.date.map(iso).unwrap_or_else(|| "Undated".into()),
                    key_words(d.kind.key()),
                    cell(d.facility.as_deref()),
                    cell(Some(&d.description)),
                );
                let files: Vec<_> = attachments
                    .iter()
                    .filter(|a| a.target.kind == super::attachment::TargetKind::Document && a.target.id == d.id)
                    .collect();
                if files.is_empty() {
                    out.push_str("<br><span class=\"none\">No file enclosed</span>");
                } else {
                    out.push_str("\n<ul class=\"enclosed\">\n");
                    for a in files {
                        let _ = writeln!(
                            out,
                            "<li>{} ({}, {})</li>",
                            cell(Some(&a.file_name)),
                            cell(Some(&a.media_type)),
                            size_words(a.size)
                        );
                    }
                    out.push_str("</ul>");
                }
                out.push_str("</td></tr>\n");
            }
            out.push_str("</tbody>\n</table>\n");
        }
        close_section(&mut out);

        // 3. Medications.
        open_section(&mut out, 2, true);
        let medications = self.medications();
        if medications.is_empty() {
            none(&mut out);
        } else {
            out.push_str("<table>\n<thead><tr><th>Medication</th><th>Dose</th></tr></thead>\n<tbody>\n");
            for m in &medications {
                let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", cell(Some(&m.name)), cell(m.dose.as_deref()));
            }
            out.push_str("</tbody>\n</table>\n");
        }
        close_section(&mut out);

        // 4. Family cancer history.
        open_section(&mut out, 3, false);
        let history = self.family_history();
        if history.is_empty() {
            none(&mut out);
        } else {
            out.push_str(
                "<table>\n<thead><tr><th>Relative</th><th>Cancer</th><th>Age at diagnosis</th></tr></thead>\n<tbody>\n",
            );
            for h in &history {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    cell(Some(&h.relative)),
                    cell(Some(&h.cancer)),
                    h.age_at_diagnosis.map(|a| a.to_string()).unwrap_or_else(|| "&ndash;".into())
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
        close_section(&mut out);

        // 5. Symptoms and concerns.
        open_section(&mut out, 4, false);
        match text(Some(&self.symptoms())) {
            Some(t) => {
                let _ = writeln!(out, "<p class=\"text\">{t}</p>");
            }
            None => none(&mut out),
        }
        close_section(&mut out);

        // 6. Prior opinions.
        open_section(&mut out, 5, true);
        let opinions = self.opinions();
        let specialists = self.specialists();
        if opinions.is_empty() {
            none(&mut out);
        } else {
            for o in &opinions {
                let who = o.specialist.as_deref().and_then(|id| specialists.iter().find(|s| s.id == id)).map(|s| {
                    let mut w = cell(Some(&s.name));
                    if let Some(i) = text(s.institution.as_deref()) {
                        let _ = write!(w, ", {i}");
                    }
                    w
                });
                let _ = writeln!(out, "<h3>{} opinion</h3>", ordinal(o.rank));
                out.push_str("<dl class=\"facts\">\n");
                let facts: [(&str, Option<String>); 6] = [
                    ("Given by", who),
                    ("Date", o.date.map(iso)),
                    ("Diagnosis", text(o.diagnosis.as_deref())),
                    ("Stage", text(o.stage.as_deref())),
                    ("Treatment", text(Some(&o.treatment)).map(|t| format!("<span class=\"text\">{t}</span>"))),
                    ("Clinical trials", text(o.trials.as_deref())),
                ];
                for (label, value) in facts {
                    let value = value.unwrap_or_else(|| format!("<span class=\"none\">{NONE_RECORDED}</span>"));
                    let _ = writeln!(out, "<dt>{label}</dt><dd>{value}</dd>");
                }
                out.push_str("</dl>\n");
            }
        }
        close_section(&mut out);

        // 7. Questions: open ones first, answered ones marked.
        open_section(&mut out, 6, true);
        let (open, answered): (Vec<_>, Vec<_>) =
            self.questions().into_iter().filter(|q| !super::is_blank(&q.text)).partition(|q| q.answers.is_empty());
        if open.is_empty() && answered.is_empty() {
            none(&mut out);
        } else {
            if open.is_empty() {
                out.push_str("<p class=\"none\">No open question: every question recorded has an answer.</p>\n");
            } else {
                out.push_str("<ol>\n");
                for q in &open {
                    let tag = if q.priority == super::question::Priority::High {
                        " <span class=\"tag\">priority</span>"
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        out,
                        "<li><span class=\"text\">{}</span> <small>({})</small>{tag}</li>",
                        cell(Some(&q.text)),
                        key_words(q.category.key()).to_lowercase()
                    );
                }
                out.push_str("</ol>\n");
            }
            if !answered.is_empty() {
                out.push_str("<h3>Already answered</h3>\n<ul>\n");
                for q in &answered {
                    let _ = writeln!(
                        out,
                        "<li><span class=\"tag\">answered</span> <span class=\"text\">{}</span></li>",
                        cell(Some(&q.text))
                    );
                }
                out.push_str("</ul>\n");
            }
        }
        close_section(&mut out);

        // 8. Contacts: the care team (the family) and the specialists.
        open_section(&mut out, 7, false);
        let team = self.care_team();
        out.push_str("<h3>Care team</h3>\n");
        if team.is_empty() {
            none(&mut out);
        } else {
            out.push_str("<table>\n<thead><tr><th>Name</th><th>Relationship</th></tr></thead>\n<tbody>\n");
            for c in &team {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    cell(Some(&c.name)),
                    cell(c.relationship.as_deref())
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
        out.push_str("<h3>Specialists</h3>\n");
        if specialists.is_empty() {
            none(&mut out);
        } else {
            out.push_str(
                "<table>\n<thead><tr><th>Name</th><th>Subspecialty</th><th>Institution</th><th>Contact</th>\
                 <th>Status</th></tr></thead>\n<tbody>\n",
            );
            for s in &specialists {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    cell(Some(&s.name)),
                    cell(s.subspecialty.as_deref()),
                    cell(s.institution.as_deref()),
                    cell(s.contact.as_deref()),
                    key_words(s.status.key()),
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
        close_section(&mut out);

        let _ = writeln!(
            out,
            "<footer>Prepared with Casebook on {}; contents as recorded by the family.</footer>\n</body>\n</html>",
            long_date(today)
        );
        out
    }
}

/// "First", "Second", "Third", then "4th", …
fn ordinal(n: u64) -> String {
    match n {
        1 => "First".into(),
        2 => "Second".into(),
        3 => "Third".into(),
        n => match (n % 10, n % 100) {
            (_, 11..=13) => format!("{n}th"),
            (1, _) => format!("{n}st"),
            (2, _) => format!("{n}nd"),
            (3, _) => format!("{n}rd"),
            _ => format!("{n}th"),
        },
    }
}
