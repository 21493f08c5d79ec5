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
//!
//! What the packet says is gathered once ([`Case::packet_data`]: [`PacketData`], cleaned but not escaped)
//! and rendered here as HTML and by `casebook-pdf` as a PDF, so the two cannot disagree.

use std::fmt::Write as _;

use time::Date;

use serde::Serialize;

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

/// A text from the case as it is shown: trimmed, `None` when blank, with bidirectional embeddings,
/// overrides and isolates and control characters (but line breaks and tabs) dropped. Not escaped: each
/// output escapes it for its own format (the HTML page with [`escape_html`]; the PDF never places it in
/// markup).
fn clean(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !super::is_blank(s)).map(|s| {
        s.chars()
            .filter(|&c| match c {
                '\n' | '\t' => true,
                '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => false,
                c => !c.is_control(),
            })
            .collect()
    })
}

/// A labelled value of the packet ("Stage: IIIA"); `None` when nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketFact {
    /// The label, in English ("Cancer type").
    pub label: &'static str,
    /// The value as recorded (cleaned, not escaped).
    pub value: Option<String>,
    /// Whether the value keeps its line breaks (a treatment plan).
    pub multiline: bool,
}

fn fact(label: &'static str, value: Option<String>) -> PacketFact {
    PacketFact { label, value, multiline: false }
}

/// A file attached to an item of the case, as the packet lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketFile {
    /// The attachment's id (for [`Case::read_attachment`]).
    pub id: String,
    /// What it hangs on, in words ("document", "record request", "appointment", "opinion").
    pub attached_to: &'static str,
    /// The file name (cleaned; may be `None` if blank).
    pub file_name: Option<String>,
    /// The media type as recorded.
    pub media_type: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// Its size in words ("340 KB").
    pub size_words: String,
    /// Whether its bytes are on this device (else the packet cannot enclose it).
    pub on_device: bool,
}

impl PacketFile {
    fn new(a: &super::attachment::AttachmentRef) -> PacketFile {
        PacketFile {
            id: a.id.clone(),
            attached_to: a.target.kind.noun(),
            file_name: clean(Some(&a.file_name)),
            media_type: clean(Some(&a.media_type)),
            size: a.size,
            size_words: size_words(a.size),
            on_device: a.on_device,
        }
    }
}

/// A document of the records chronology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketRecord {
    /// `YYYY-MM-DD`, or "Undated".
    pub date: String,
    /// The kind in words ("Pathology report").
    pub kind: String,
    /// Where it comes from.
    pub source: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// The files attached to it.
    pub files: Vec<PacketFile>,
}

/// A medication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketMedication {
    /// The medication.
    pub name: Option<String>,
    /// Its dose.
    pub dose: Option<String>,
}

/// A relative's cancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketRelative {
    /// Who ("Mother").
    pub relative: Option<String>,
    /// Which cancer.
    pub cancer: Option<String>,
    /// Age at diagnosis.
    pub age_at_diagnosis: Option<u64>,
}

/// A prior opinion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketOpinion {
    /// "First opinion", "Second opinion", …
    pub title: String,
    /// Given by, date, diagnosis, stage, treatment, clinical trials.
    pub facts: Vec<PacketFact>,
}

/// An open question for the specialist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketQuestion {
    /// The question as written.
    pub text: String,
    /// Its category in words, lower case ("treatment").
    pub category: String,
    /// Marked as a priority.
    pub priority: bool,
}

/// A member of the care team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketCaregiver {
    /// Name.
    pub name: Option<String>,
    /// Relationship to the patient.
    pub relationship: Option<String>,
}

/// A specialist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketSpecialist {
    /// Name.
    pub name: Option<String>,
    /// Subspecialty.
    pub subspecialty: Option<String>,
    /// Institution.
    pub institution: Option<String>,
    /// How to reach them.
    pub contact: Option<String>,
    /// Where the family stands with them, in words ("Contacted").
    pub status: String,
}

/// What the packet says, gathered once from the case and rendered by every format (the HTML page here,
/// the PDF in `casebook-pdf`), so that they cannot disagree. Texts are cleaned (trimmed; controls and
/// bidirectional overrides dropped) but not escaped; `None` is "nothing recorded". Serializable: the PDF
/// templates read it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketData {
    /// The date it is prepared, `YYYY-MM-DD`.
    pub today: String,
    /// The same date in words ("December 5, 2026").
    pub today_words: String,
    /// The section headings ([`SECTIONS`]).
    pub sections: [&'static str; 8],
    /// [`NONE_RECORDED`].
    pub none_recorded: &'static str,
    /// The patient's name.
    pub patient_name: Option<String>,
    /// Patient and diagnosis: name, age, cancer type, histology, stage, diagnosis date, diagnosing
    /// facility, treating oncologist, whether treatment started.
    pub patient: Vec<PacketFact>,
    /// The proposed treatment.
    pub proposed_treatment: Option<String>,
    /// The records chronology, with the files attached to each document.
    pub records: Vec<PacketRecord>,
    /// Files attached elsewhere (record requests, appointments, opinions).
    pub other_files: Vec<PacketFile>,
    /// Medications.
    pub medications: Vec<PacketMedication>,
    /// Family cancer history.
    pub family_history: Vec<PacketRelative>,
    /// Symptoms and concerns.
    pub symptoms: Option<String>,
    /// Prior opinions.
    pub opinions: Vec<PacketOpinion>,
    /// Questions without an answer yet.
    pub open_questions: Vec<PacketQuestion>,
    /// Questions already answered.
    pub answered_questions: Vec<String>,
    /// The care team (the family).
    pub care_team: Vec<PacketCaregiver>,
    /// The specialists.
    pub specialists: Vec<PacketSpecialist>,
    /// The closing line.
    pub footer: String,
}

/// An escaped text, or an en dash for a cell with nothing recorded.
fn cell(s: &Option<String>) -> String {
    s.as_deref().map(escape_html).unwrap_or_else(|| "&ndash;".into())
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

/// Labelled values as a definition list.
fn facts_html(out: &mut String, facts: &[PacketFact]) {
    out.push_str("<dl class=\"facts\">\n");
    for f in facts {
        let value = match &f.value {
            Some(v) if f.multiline => format!("<span class=\"text\">{}</span>", escape_html(v)),
            Some(v) => escape_html(v),
            None => format!("<span class=\"none\">{NONE_RECORDED}</span>"),
        };
        let _ = writeln!(out, "<dt>{}</dt><dd>{value}</dd>", f.label);
    }
    out.push_str("</dl>\n");
}

impl Case {
    /// What the packet for a new specialist says, dated `today` (the device's local date): every part of
    /// [`SECTIONS`], retracted items left out. Both [`Case::packet_html`] and the PDF render it.
    pub fn packet_data(&self, today: Date) -> PacketData {
        let p = self.patient();
        let name = clean(p.display_name.as_deref());
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
                    .filter_map(|s| clean(s))
                    .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        };
        let patient = vec![
            fact("Name", name.clone()),
            fact("Age", age),
            fact("Cancer type", clean(p.cancer_type.as_deref())),
            fact("Histology", clean(p.histology.as_deref())),
            fact("Stage", clean(p.stage.as_deref())),
            fact("Diagnosis date", p.diagnosis_date.map(iso)),
            fact("Diagnosing facility", clean(p.diagnosing_facility.as_deref())),
            fact("Treating oncologist", oncologist),
            fact("Treatment started", Some(if p.treatment_started { "Yes" } else { "No" }.into())),
        ];

        let attachments = self.attachments(None);
        let documents = self.documents();
        let records = documents
            .iter()
            .map(|d| PacketRecord {
                date: d.date.map(iso).unwrap_or_else(|| "Undated".into()),
                kind: key_words(d.kind.key()),
                source: clean(d.facility.as_deref()),
                description: clean(Some(&d.description)),
                files: attachments
                    .iter()
                    .filter(|a| a.target.kind == super::attachment::TargetKind::Document && a.target.id == d.id)
                    .map(PacketFile::new)
                    .collect(),
            })
            .collect();
        let other_files = attachments
            .iter()
            .filter(|a| a.target.kind != super::attachment::TargetKind::Document)
            .map(PacketFile::new)
            .collect();

        let specialists = self.specialists();
        let opinions = self
            .opinions()
            .iter()
            .map(|o| {
                let who = o.specialist.as_deref().and_then(|id| specialists.iter().find(|s| s.id == id)).map(|s| {
                    let mut w = clean(Some(&s.name)).unwrap_or_else(|| "\u{2013}".into());
                    if let Some(i) = clean(s.institution.as_deref()) {
                        let _ = write!(w, ", {i}");
                    }
                    w
                });
                PacketOpinion {
                    title: format!("{} opinion", ordinal(o.rank)),
                    facts: vec![
                        fact("Given by", who),
                        fact("Date", o.date.map(iso)),
                        fact("Diagnosis", clean(o.diagnosis.as_deref())),
                        fact("Stage", clean(o.stage.as_deref())),
                        PacketFact { label: "Treatment", value: clean(Some(&o.treatment)), multiline: true },
                        fact("Clinical trials", clean(o.trials.as_deref())),
                    ],
                }
            })
            .collect();

        let (open, answered): (Vec<_>, Vec<_>) =
            self.questions().into_iter().filter(|q| !super::is_blank(&q.text)).partition(|q| q.answers.is_empty());

        PacketData {
            today: iso(today),
            today_words: long_date(today),
            sections: SECTIONS,
            none_recorded: NONE_RECORDED,
            patient_name: name,
            patient,
            proposed_treatment: clean(Some(&p.proposed_treatment)),
            records,
            other_files,
            medications: self
                .medications()
                .iter()
                .map(|m| PacketMedication { name: clean(Some(&m.name)), dose: clean(m.dose.as_deref()) })
                .collect(),
            family_history: self
                .family_history()
                .iter()
                .map(|h| PacketRelative {
                    relative: clean(Some(&h.relative)),
                    cancer: clean(Some(&h.cancer)),
                    age_at_diagnosis: h.age_at_diagnosis,
                })
                .collect(),
            symptoms: clean(Some(&self.symptoms())),
            opinions,
            open_questions: open
                .iter()
                .map(|q| PacketQuestion {
                    text: clean(Some(&q.text)).unwrap_or_default(),
                    category: key_words(q.category.key()).to_lowercase(),
                    priority: q.priority == super::question::Priority::High,
                })
                .collect(),
            answered_questions: answered.iter().map(|q| clean(Some(&q.text)).unwrap_or_default()).collect(),
            care_team: self
                .care_team()
                .iter()
                .map(|c| PacketCaregiver { name: clean(Some(&c.name)), relationship: clean(c.relationship.as_deref()) })
                .collect(),
            specialists: specialists
                .iter()
                .map(|s| PacketSpecialist {
                    name: clean(Some(&s.name)),
                    subspecialty: clean(s.subspecialty.as_deref()),
                    institution: clean(s.institution.as_deref()),
                    contact: clean(s.contact.as_deref()),
                    status: key_words(s.status.key()),
                })
                .collect(),
            footer: format!("Prepared with Casebook on {}; contents as recorded by the family.", long_date(today)),
        }
    }

    /// The packet for a new specialist, dated `today` (the device's local date): one self-contained HTML
    /// page (no script, nothing loaded from elsewhere, inline print style) with every part of
    /// [`SECTIONS`], empty ones marked "None recorded". See the [module documentation](crate::model::packet).
    pub fn packet_html(&self, today: Date) -> String {
        packet_html(&self.packet_data(today))
    }
}

/// The HTML page of `d`.
fn packet_html(d: &PacketData) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let name = d.patient_name.as_deref().map(escape_html);

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
        d.today_words
    );

    // 1. Patient and diagnosis.
    open_section(&mut out, 0, false);
    facts_html(&mut out, &d.patient);
    out.push_str("<h3>Proposed treatment</h3>\n");
    match &d.proposed_treatment {
        Some(t) => {
            let _ = writeln!(out, "<p class=\"text\">{}</p>", escape_html(t));
        }
        None => none(&mut out),
    }
    close_section(&mut out);

    // 2. Records, with the files enclosed.
    open_section(&mut out, 1, true);
    if d.records.is_empty() {
        none(&mut out);
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Date</th><th>Kind</th><th>Source</th><th>Description and files \
             enclosed</th></tr></thead>\n<tbody>\n",
        );
        for r in &d.records {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}",
                r.date,
                r.kind,
                cell(&r.source),
                cell(&r.description),
            );
            if r.files.is_empty() {
                out.push_str("<br><span class=\"none\">No file enclosed</span>");
            } else {
                out.push_str("\n<ul class=\"enclosed\">\n");
                for a in &r.files {
                    let _ =
                        writeln!(out, "<li>{} ({}, {})</li>", cell(&a.file_name), cell(&a.media_type), a.size_words);
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
    if d.medications.is_empty() {
        none(&mut out);
    } else {
        out.push_str("<table>\n<thead><tr><th>Medication</th><th>Dose</th></tr></thead>\n<tbody>\n");
        for m in &d.medications {
            let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", cell(&m.name), cell(&m.dose));
        }
        out.push_str("</tbody>\n</table>\n");
    }
    close_section(&mut out);

    // 4. Family cancer history.
    open_section(&mut out, 3, false);
    if d.family_history.is_empty() {
        none(&mut out);
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Relative</th><th>Cancer</th><th>Age at diagnosis</th></tr></thead>\n<tbody>\n",
        );
        for h in &d.family_history {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                cell(&h.relative),
                cell(&h.cancer),
                h.age_at_diagnosis.map(|a| a.to_string()).unwrap_or_else(|| "&ndash;".into())
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    close_section(&mut out);

    // 5. Symptoms and concerns.
    open_section(&mut out, 4, false);
    match &d.symptoms {
        Some(t) => {
            let _ = writeln!(out, "<p class=\"text\">{}</p>", escape_html(t));
        }
        None => none(&mut out),
    }
    close_section(&mut out);

    // 6. Prior opinions.
    open_section(&mut out, 5, true);
    if d.opinions.is_empty() {
        none(&mut out);
    } else {
        for o in &d.opinions {
            let _ = writeln!(out, "<h3>{}</h3>", o.title);
            facts_html(&mut out, &o.facts);
        }
    }
    close_section(&mut out);

    // 7. Questions: open ones first, answered ones marked.
    open_section(&mut out, 6, true);
    if d.open_questions.is_empty() && d.answered_questions.is_empty() {
        none(&mut out);
    } else {
        if d.open_questions.is_empty() {
            out.push_str("<p class=\"none\">No open question: every question recorded has an answer.</p>\n");
        } else {
            out.push_str("<ol>\n");
            for q in &d.open_questions {
                let tag = if q.priority { " <span class=\"tag\">priority</span>" } else { "" };
                let _ = writeln!(
                    out,
                    "<li><span class=\"text\">{}</span> <small>({})</small>{tag}</li>",
                    escape_html(&q.text),
                    q.category
                );
            }
            out.push_str("</ol>\n");
        }
        if !d.answered_questions.is_empty() {
            out.push_str("<h3>Already answered</h3>\n<ul>\n");
            for q in &d.answered_questions {
                let _ = writeln!(
                    out,
                    "<li><span class=\"tag\">answered</span> <span class=\"text\">{}</span></li>",
                    escape_html(q)
                );
            }
            out.push_str("</ul>\n");
        }
    }
    close_section(&mut out);

    // 8. Contacts: the care team (the family) and the specialists.
    open_section(&mut out, 7, false);
    out.push_str("<h3>Care team</h3>\n");
    if d.care_team.is_empty() {
        none(&mut out);
    } else {
        out.push_str("<table>\n<thead><tr><th>Name</th><th>Relationship</th></tr></thead>\n<tbody>\n");
        for c in &d.care_team {
            let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", cell(&c.name), cell(&c.relationship));
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("<h3>Specialists</h3>\n");
    if d.specialists.is_empty() {
        none(&mut out);
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Name</th><th>Subspecialty</th><th>Institution</th><th>Contact</th>\
             <th>Status</th></tr></thead>\n<tbody>\n",
        );
        for s in &d.specialists {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                cell(&s.name),
                cell(&s.subspecialty),
                cell(&s.institution),
                cell(&s.contact),
                s.status,
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    close_section(&mut out);

    let _ = writeln!(out, "<footer>{}</footer>\n</body>\n</html>", escape_html(&d.footer));
    out
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
