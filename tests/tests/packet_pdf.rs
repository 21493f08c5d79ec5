//! `casebook packet --out packet.pdf --appendix` and `casebook letter REQ --out letter.pdf` end to end:
//! a case with every section filled (a patient name in Latin, Cyrillic, Chinese and Arabic script, an
//! emoji in a question), a PNG and a PDF attached; the PDFs read back with poppler (`pdftotext`,
//! `pdftoppm`, `pdffonts`), which the README's test command (`scripts/test.sh`) installs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

const TODAY: &str = "2024-03-01";
const NAME: &str = "Zoë Ренатова 王芳 مريم";

fn casebook_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| casebook_tests::build_bin("casebook-cli", "casebook"))
}

/// A poppler tool, or a clear failure saying how to install it (never a silent skip).
fn poppler(tool: &str, args: &[&std::ffi::OsStr]) -> Output {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "{tool} (poppler-utils) is needed to check the PDFs ({e}): run the README's test command, \
             scripts/test.sh, which installs poppler-utils and the CJK and emoji fonts"
        )
    });
    assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn pdftotext(pdf: &Path) -> String {
    let out = poppler("pdftotext", &["-enc".as_ref(), "UTF-8".as_ref(), pdf.as_os_str(), "-".as_ref()]);
    String::from_utf8(out.stdout).unwrap()
}

/// Whitespace collapsed to single spaces (pdftotext breaks lines where the layout does).
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Cb {
    dir: tempfile::TempDir,
}

impl Cb {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(casebook_bin());
        c.arg("--store").arg(self.path("store")).args(["--today", TODAY]).current_dir(self.dir.path());
        for var in ["CASEBOOK_STORE", "CASEBOOK_CASE", "CASEBOOK_AS", "CASEBOOK_TZ"] {
            c.env_remove(var);
        }
        c.args(args).output().expect("run casebook")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "casebook {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn add(&self, args: &[&str]) -> String {
        self.json(args)["id"].as_str().expect("an id").to_string()
    }
}

/// A 16×16 red PNG.
const PNG: [u8; 79] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 16, 0, 0, 0, 16, 8, 2, 0, 0, 0, 144, 145,
    104, 54, 0, 0, 0, 22, 73, 68, 65, 84, 120, 156, 99, 184, 35, 98, 67, 18, 98, 24, 213, 48, 170, 97, 248, 106, 0, 0,
    30, 4, 44, 16, 241, 135, 81, 17, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// A one-page PDF saying `text` (Helvetica), with a correct cross-reference table.
fn small_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 24 Tf 72 700 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

/// A case with every section of the packet filled; returns it and the record request's id.
fn full_case() -> (Cb, String) {
    let cb = Cb { dir: tempfile::tempdir().unwrap() };
    cb.json(&["case", "create", "--patient", NAME, "--me", "Ana", "--relationship", "daughter"]);
    for (field, value) in [
        ("age", "67"),
        ("cancer_type", "Non-small cell lung cancer"),
        ("histology", "Adenocarcinoma"),
        ("stage", "IIIA"),
        ("diagnosis_date", "2024-02-10"),
        ("diagnosing_facility", "General Hospital"),
        ("oncologist_name", "Dr. Lee"),
        ("proposed_treatment", "Chemoradiation, then durvalumab"),
    ] {
        cb.json(&["patient", "set", field, value]);
    }
    let biopsy = cb.add(&[
        "document",
        "add",
        "Core biopsy of the right upper lobe",
        "--kind",
        "pathology_report",
        "--date",
        "2024-01-30",
        "--facility",
        "City Lab",
    ]);
    cb.add(&["document", "add", "PET-CT", "--kind", "imaging_study", "--date", "2024-02-02"]);
    std::fs::write(cb.path("scan.png"), PNG).unwrap();
    std::fs::write(cb.path("report.pdf"), small_pdf("Enclosed pathology page")).unwrap();
    std::fs::write(cb.path("notes.txt"), "plain notes").unwrap();
    cb.json(&["attach", &biopsy, "scan.png"]);
    cb.json(&["attach", &biopsy, "report.pdf"]);
    cb.json(&["attach", &biopsy, "notes.txt"]);
    cb.add(&["medication", "add", "Metformin", "--dose", "500 mg twice daily"]);
    cb.add(&["history", "add", "Mother", "Breast cancer", "--age", "52"]);
    cb.json(&["symptoms", "set", "Cough for 3 months"]);
    let dr = cb.add(&[
        "specialist",
        "add",
        "Dr. Okafor",
        "--subspecialty",
        "Thoracic oncology",
        "--institution",
        "University Cancer Center",
        "--contact",
        "+1 555 0100",
    ]);
    cb.add(&[
        "opinion",
        "add",
        "--rank",
        "1",
        "--specialist",
        &dr,
        "--date",
        "2024-02-20",
        "--stage",
        "Stage 3B",
        "--treatment",
        "Surgery after induction chemotherapy",
        "--trials",
        "NCT01234567",
    ]);
    cb.add(&["question", "add", "Is surgery an option? 💊", "--category", "treatment", "--priority", "high"]);
    cb.add(&["caregiver", "add", "Ben", "--relationship", "son"]);
    let req = cb.add(&[
        "request",
        "add",
        "--custodian",
        "Mercy Okapi Hospital",
        "--item",
        "pathology_report",
        "--item",
        "lab_reports",
    ]);
    (cb, req)
}

/// The number of pages of `pdf` (`pdfinfo`).
fn page_count(pdf: &Path) -> usize {
    let info = String::from_utf8(poppler("pdfinfo", &[pdf.as_os_str()]).stdout).unwrap();
    info.lines().find_map(|l| l.strip_prefix("Pages:")).map(|n| n.trim().parse().unwrap()).expect("a page count")
}

/// How many pixels of `page` of `pdf`, rendered at 100 dpi (as PPM, pdftoppm's default), are clearly colored (not black, grey or white).
fn colored_pixels(cb: &Cb, pdf: &Path, page: usize) -> u64 {
    let page = page.to_string();
    let out = cb.path(&format!("color-{page}"));
    poppler(
        "pdftoppm",
        &[
            "-r".as_ref(),
            "100".as_ref(),
            "-singlefile".as_ref(),
            "-f".as_ref(),
            page.as_ref(),
            "-l".as_ref(),
            page.as_ref(),
            pdf.as_os_str(),
            out.as_os_str(),
        ],
    );
    let ppm = std::fs::read(out.with_extension("ppm")).unwrap();
    // P6 header: magic, width, height, max value, each followed by one whitespace byte.
    let mut fields = 0;
    let mut at = 0;
    while fields < 4 {
        while ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        while !ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields += 1;
    }
    ppm[at + 1..]
        .chunks_exact(3)
        .filter(|p| {
            let (max, min) = (p.iter().max().unwrap(), p.iter().min().unwrap());
            max - min > 60
        })
        .count() as u64
}

#[test]
fn the_packet_pdf_prints_every_section_and_encloses_the_attachments() {
    let (cb, _req) = full_case();
    let v = cb.json(&["packet", "--out", "packet.pdf", "--appendix"]);
    assert_eq!(v["format"], "pdf");
    let pdf = cb.path("packet.pdf");
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "a PDF");

    let text = pdftotext(&pdf);
    let f = flat(&text);
    let sections = casebook_core::model::packet::SECTIONS;
    for heading in ["Second-opinion packet"].into_iter().chain(sections).chain(["Appendix: attached files"]) {
        assert!(f.contains(heading), "{heading:?} missing:\n{text}");
    }
    for value in [
        "Non-small cell lung cancer",
        "Adenocarcinoma",
        "IIIA",
        "2024-02-10",
        "General Hospital",
        "Chemoradiation, then durvalumab",
        "Core biopsy of the right upper lobe",
        "City Lab",
        "Pathology report",
        "scan.png",
        "report.pdf",
        "Metformin",
        "500 mg twice daily",
        "Mother",
        "Breast cancer",
        "52",
        "Cough for 3 months",
        "First opinion",
        "Dr. Okafor, University Cancer Center",
        "Stage 3B",
        "Surgery after induction chemotherapy",
        "NCT01234567",
        "Is surgery an option?",
        "PRIORITY",
        "Ben",
        "son",
        "Thoracic oncology",
        "+1 555 0100",
        "March 1, 2024",
        // The appendix: the PNG and the PDF enclosed, the text file listed.
        "enclosed: image",
        "enclosed: 1 page",
        "not enclosed: not an image or PDF",
        // The enclosed PDF's own text, embedded as a page.
        "Enclosed pathology page",
    ] {
        assert!(f.contains(value), "{value:?} missing:\n{text}");
    }
    // The name in every script survives: Latin with a diacritic, Cyrillic, Chinese, Arabic.
    for part in ["Zoë", "Ренатова", "王芳", "مريم"] {
        assert!(text.contains(part), "{part:?} missing:\n{text}");
    }
    // The emoji prints: its text maps back to the character, and its glyph (a color bitmap from the emoji
    // font, drawn as a Type 3 font) puts colored pixels on the page of the questions, which has no other
    // color.
    assert!(text.contains('💊'), "the emoji missing:\n{text}");
    let fonts = String::from_utf8(poppler("pdffonts", &[pdf.as_os_str()]).stdout).unwrap();
    assert!(fonts.contains("Type 3"), "the color glyph as a Type 3 font:\n{fonts}");
    let page = (1..=page_count(&pdf))
        .find(|p| {
            let (first, last) = (p.to_string(), p.to_string());
            let out = poppler(
                "pdftotext",
                &["-f".as_ref(), first.as_ref(), "-l".as_ref(), last.as_ref(), pdf.as_os_str(), "-".as_ref()],
            );
            String::from_utf8_lossy(&out.stdout).contains('💊')
        })
        .expect("the page of the emoji");
    assert!(colored_pixels(&cb, &pdf, page) > 20, "the emoji is drawn in color on page {page}");
    assert_eq!(colored_pixels(&cb, &pdf, 1).min(1), u64::from(page == 1), "page 1 is black and grey otherwise");

    // Every page renders.
    let pages = cb.path("pages");
    std::fs::create_dir(&pages).unwrap();
    poppler("pdftoppm", &["-png".as_ref(), "-r".as_ref(), "40".as_ref(), pdf.as_os_str(), pages.join("p").as_os_str()]);
    let rendered: Vec<_> = std::fs::read_dir(&pages).unwrap().flatten().collect();
    let info = String::from_utf8(poppler("pdfinfo", &[pdf.as_os_str()]).stdout).unwrap();
    let count: usize =
        info.lines().find_map(|l| l.strip_prefix("Pages:")).map(|n| n.trim().parse().unwrap()).expect("a page count");
    assert!(count >= 3, "the packet, the appendix list, the image and the PDF page: {count} pages");
    assert_eq!(rendered.len(), count, "every page rendered");
    assert!(rendered.iter().all(|p| p.metadata().unwrap().len() > 0));
}

#[test]
fn the_html_packet_stays_and_the_format_follows_the_extension() {
    let (cb, _req) = full_case();
    let v = cb.json(&["packet", "--out", "packet.html"]);
    assert_eq!(v["format"], "html");
    let html = std::fs::read_to_string(cb.path("packet.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Ренатова"));
    // An explicit format wins over the extension.
    cb.json(&["packet", "--out", "packet.out", "--format", "pdf"]);
    assert!(std::fs::read(cb.path("packet.out")).unwrap().starts_with(b"%PDF"));
    // The appendix is the PDF's.
    let out = cb.run(&["packet", "--out", "p.html", "--appendix"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--appendix is for the PDF packet"));
}

#[test]
fn the_letter_pdf_has_the_text_letters_content() {
    let (cb, req) = full_case();
    let v = cb.json(&["letter", &req, "--out", "letter.pdf"]);
    assert_eq!(v["output_format"], "pdf");
    let pdf = cb.path("letter.pdf");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"));
    let text = pdftotext(&pdf);
    let f = flat(&text);
    for value in [
        "March 1, 2024",
        "Mercy Okapi Hospital",
        "for a second-opinion consultation",
        "Pathology reports, with the name and address of the laboratory",
        "Laboratory test results",
        "Please provide paper copies.",
        "no later than 30 days",
        "30 days",
        "Signature of patient:",
        "Printed name:",
    ] {
        assert!(f.contains(value), "{value:?} missing:\n{text}");
    }
    assert!(text.contains("Ренатова") && text.contains("王芳") && text.contains("مريم"), "{text}");
    // The text letter is unchanged and still the default.
    let v = cb.json(&["letter", &req]);
    assert_eq!(v["output_format"], "text");
    assert!(v["letter"].as_str().unwrap().contains("Signature of patient:"));
}
