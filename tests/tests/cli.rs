//! End-to-end tests of the `casebook` terminal client: the real binary, run in a temporary directory
//! against real on-disk stores.
//!
//! The binary belongs to another package, so `CARGO_BIN_EXE_*` is not available here: the first test to
//! need it runs `cargo build -p casebook-cli` once, into the target directory these tests were built in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use casebook_tests::InProcessRelay;
use serde_json::Value;
use tempfile::TempDir;

/// The day every derived view is computed for.
const TODAY: &str = "2024-03-01";

/// Build the CLI (once per test run) and return the path of its binary.
fn casebook_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| casebook_tests::build_bin("casebook-cli", "casebook"))
}

/// A temporary directory holding one store, and helpers to run commands against it.
struct Cb {
    dir: TempDir,
    store: PathBuf,
}

impl Cb {
    /// A directory with no store yet.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        Self { dir, store }
    }

    /// A store with one case (patient Maria, caregiver Ana = me). Returns the case id and Ana's id.
    fn with_case() -> (Self, String, String) {
        let cb = Self::new();
        let v = cb.json(&["case", "create", "--patient", "Maria", "--me", "Ana", "--relationship", "daughter"]);
        let case = v["case"].as_str().unwrap().to_string();
        let me = v["me"].as_str().unwrap().to_string();
        (cb, case, me)
    }

    /// The binary with `--store` set and no environment leaking in.
    fn command(&self) -> Command {
        let mut c = Command::new(casebook_bin());
        c.arg("--store").arg(&self.store).current_dir(self.dir.path());
        for var in ["CASEBOOK_STORE", "CASEBOOK_CASE", "CASEBOOK_AS", "CASEBOOK_TZ"] {
            c.env_remove(var);
        }
        c
    }

    /// Run the binary with `--store` and `--today` set and no environment leaking in.
    fn run(&self, args: &[&str]) -> Output {
        self.command().args(["--today", TODAY]).args(args).output().expect("run casebook")
    }

    /// Run the binary with `--store` set but no `--today`: "today" is the local date in the zone given
    /// by `env` (`CASEBOOK_TZ`, `TZ`) or `args` (`--tz`).
    fn run_live(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.command().args(args).envs(env.iter().copied()).output().expect("run casebook")
    }

    /// Run a command that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "casebook {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Run a command with `--json` that must succeed; its parsed output.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("casebook {args:?} printed invalid JSON ({e}):\n{text}"))
    }

    /// Run an add command with `--json`; the new id.
    fn add(&self, args: &[&str]) -> String {
        let v = self.json(args);
        assert_eq!(v["ok"], true);
        v["id"].as_str().expect("an id").to_string()
    }

    /// Run a command that must fail; its standard error.
    fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "casebook {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error: "), "error output should start with `error: `: {err}");
        err
    }

    /// Run a command with `input` on its standard input.
    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write as _;
        let mut child = self
            .command()
            .args(["--today", TODAY])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run casebook");
        // The command may refuse before reading everything: a closed pipe is not an error here.
        let _ = child.stdin.take().unwrap().write_all(input);
        child.wait_with_output().expect("run casebook")
    }

    /// Run a command with `--json` that must fail: its exit status and its JSON error (standard error must
    /// stay empty).
    fn fail_json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "casebook {args:?} should have failed:\nstdout: {stdout}");
        assert!(
            out.stderr.is_empty(),
            "--json failures print nothing on stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
        assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{v}");
        (out.status.code().unwrap(), v)
    }

    /// The exit status of a command.
    fn status(&self, args: &[&str]) -> i32 {
        self.run(args).status.code().unwrap()
    }

    /// The case state (heads of every document): equal states mean nothing changed.
    fn state(&self) -> Value {
        serde_json::from_str(&self.ok(&["state"])).unwrap()
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// Subcommand names listed in a help text.
fn subcommands(help: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if line.trim().is_empty() {
                break;
            }
            let mut parts = line.trim().splitn(2, char::is_whitespace);
            let name = parts.next().unwrap_or_default().to_string();
            let about = parts.next().unwrap_or_default().trim().to_string();
            if name != "help" {
                out.push((name, about));
            }
        }
    }
    out
}

#[test]
fn every_command_has_help_with_a_description() {
    let cb = Cb::new();
    let mut todo = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = cb.ok(&args);
        assert!(help.contains("Usage: casebook"), "{path:?}: {help}");
        for (name, about) in subcommands(&help) {
            assert!(!about.is_empty(), "`casebook {} {name}` has no description", path.join(" "));
            let mut sub = path.clone();
            sub.push(name);
            todo.push(sub);
        }
        seen += 1;
    }
    assert!(seen > 80, "expected every command and subcommand to be visited, saw {seen}");
    assert!(!cb.store.exists(), "--help must not create a store");
}

#[test]
fn reading_without_a_store_fails_and_creates_nothing() {
    let cb = Cb::new();
    let err = cb.fail(&["case", "list"]);
    assert!(err.contains("no Casebook store"), "{err}");
    let (code, v) = cb.fail_json(&["case", "list"]);
    assert_eq!((code, v["error"]["code"].as_str()), (3, Some("not_found")), "{v}");
    assert!(!cb.store.exists());
    cb.ok(&["init"]);
    assert!(cb.ok(&["case", "list"]).contains("No cases yet"));
    let err = cb.fail(&["case", "show"]);
    assert!(err.contains("holds no case"), "{err}");
    assert_eq!(cb.fail_json(&["case", "show"]).0, 3);
}

#[test]
fn create_a_case_and_set_the_patient() {
    let (cb, case, me) = Cb::with_case();
    let listed = cb.json(&["case", "list"]);
    assert_eq!(listed[0]["id"], case.as_str());
    assert_eq!(listed[0]["display_name"], "Maria");
    assert_eq!(cb.json(&["me", "show"])["me"]["id"], me.as_str());

    for (field, value) in [
        ("age", "67"),
        ("cancer_type", "lung"),
        ("histology", "adenocarcinoma"),
        ("stage", "IIIA"),
        ("diagnosis_date", "2024-02-10"),
        ("diagnosing_facility", "General Hospital"),
        ("oncologist_name", "Dr. Lee"),
        ("oncologist_facility", "General Hospital"),
        ("oncologist_contact", "555-0100"),
        ("treatment_started", "no"),
        ("proposed_treatment", "Chemoradiation, then surgery"),
        ("birth_year", "1957"),
    ] {
        cb.ok(&["patient", "set", field, value]);
    }
    cb.ok(&["patient", "set", "proposed_treatment", "Chemoradiation, then surgery if it shrinks"]);
    cb.ok(&["patient", "clear", "histology"]);
    let p = cb.json(&["patient", "show"]);
    assert_eq!(p["display_name"], "Maria");
    assert_eq!(p["age"], 67);
    assert_eq!(p["age_today"], 67);
    assert_eq!(p["birth_year"], 1957);
    assert_eq!(p["stage"], "IIIA");
    assert_eq!(p["histology"], Value::Null);
    assert_eq!(p["diagnosis_date"], "2024-02-10");
    assert_eq!(p["oncologist"]["contact"], "555-0100");
    assert_eq!(p["treatment_started"], false);
    assert_eq!(p["proposed_treatment"], "Chemoradiation, then surgery if it shrinks");

    // Decision window: the default is labelled, then an agreed date replaces it.
    let human = cb.ok(&["decision", "show"]);
    assert!(human.contains("2024-03-09 (default"), "{human}");
    assert!(human.contains("8 days left"), "{human}");
    let w = cb.json(&["decision", "show"]);
    assert_eq!(w["is_default"], true);
    assert_eq!(w["days_left"], 8);
    cb.ok(&["decision", "set", "2024-03-15"]);
    let w = cb.json(&["decision", "show"]);
    assert_eq!(
        (w["date"].as_str(), w["is_default"].as_bool(), w["days_left"].as_i64()),
        (Some("2024-03-15"), Some(false), Some(14))
    );
    assert!(!cb.ok(&["case", "show"]).contains("(default"));
    cb.ok(&["decision", "clear"]);
    assert_eq!(cb.json(&["decision", "show"])["is_default"], true);

    let show = cb.ok(&["case", "show"]);
    for expected in
        ["Patient: Maria", "lung", "stage IIIA", "(default", "8 days left", "Verdict:", "0 of 7 steps done", "You: Ana"]
    {
        assert!(show.contains(expected), "case show lacks {expected:?}:\n{show}");
    }
}

#[test]
fn full_scenario_touches_every_command_group() {
    let (cb, _case, ana) = Cb::with_case();
    cb.ok(&["patient", "set", "diagnosis_date", "2024-02-10"]);

    // Critical situations and the verdict.
    cb.ok(&["flag", "set", "advanced_or_metastatic", "--note", "nodes"]);
    cb.ok(&["flag", "set", "rare-cancer"]);
    cb.ok(&["flag", "clear", "rare_cancer"]);
    let f = cb.json(&["flags"]);
    assert_eq!(f["verdict"]["strongly_advised"], true);
    assert_eq!(f["verdict"]["reasons"], serde_json::json!(["advanced_or_metastatic"]));
    assert_eq!(f["flags"][0]["note"], "nodes");
    assert_eq!(f["verdict"]["suggestion"], "second_opinion");
    assert!(cb.ok(&["flag", "list"]).contains("the guide suggests a second opinion"));

    // Care team and who I am.
    let luis = cb.add(&["caregiver", "add", "Luis", "--relationship", "son"]);
    assert_eq!(cb.json(&["caregiver", "list"]).as_array().unwrap().len(), 2);
    assert!(cb.ok(&["caregiver", "list"]).contains("*  "));

    // Specialists.
    let smith = cb.add(&[
        "specialist",
        "add",
        "Dr. Smith",
        "--subspecialty",
        "thoracic oncology",
        "--institution",
        "Big Center",
        "--nci",
        "comprehensive",
        "--contact",
        "555-1234",
    ]);
    let other = cb.add(&["specialist", "add", "Dr. Jones", "--status", "declined"]);
    cb.ok(&["specialist", "set", &smith[..6], "status", "contacted"]);
    cb.ok(&["specialist", "clear", &smith, "contact"]);
    cb.ok(&["specialist", "note", &smith, "Prefers e-mail"]);
    cb.ok(&["specialist", "remove", &other]);
    let s = cb.json(&["specialist", "list"]);
    assert_eq!(s.as_array().unwrap().len(), 1);
    assert_eq!(s[0]["status"], "contacted");
    assert_eq!(s[0]["nci"], "comprehensive");
    assert_eq!(s[0]["contact"], Value::Null);
    assert_eq!(s[0]["notes"], "Prefers e-mail");

    // Record requests: a patient's own request overdue after 30 days, then received.
    let req = cb.add(&[
        "request",
        "add",
        "--custodian",
        "General Hospital",
        "--item",
        "pathology_slides,pathology_report",
        "--channel",
        "patient_request",
        "--return-by",
        "2024-06-01",
    ]);
    let disc = cb.add(&[
        "request",
        "add",
        "--custodian",
        "Imaging",
        "--item",
        "imaging_disc",
        "--channel",
        "provider_to_provider",
    ]);
    cb.ok(&["request", "event", &req, "requested_in_writing", "--date", "2024-01-15", "--note", "faxed"]);
    cb.ok(&["request", "event", &req, "fee", "--date", "2024-01-20", "--fee", "25.50"]);
    cb.ok(&["request", "event", &disc, "requested_in_writing", "--date", "2024-01-15"]);
    let overdue = cb.json(&["overdue"]);
    assert_eq!(overdue.as_array().unwrap().len(), 1, "only the patient's own request has a legal clock");
    assert_eq!(overdue[0]["request"]["id"], req.as_str());
    assert_eq!(overdue[0]["request"]["due"], "2024-02-14");
    assert_eq!(overdue[0]["days_waiting"], 46);
    assert!(cb.ok(&["overdue"]).contains("OVERDUE"));
    let shown = cb.json(&["request", "show", &req]);
    assert_eq!(shown["request"]["fees_cents"], 2550);
    assert_eq!(shown["request"]["events"][0]["by"], ana.as_str());
    assert!(cb.ok(&["request", "show", &req]).contains("requested_in_writing by Ana — faxed"));
    cb.ok(&["--as", "Luis", "request", "event", &req, "received", "--date", "2024-02-20"]);
    cb.ok(&["request", "return-by", &disc, "2024-05-01"]);
    cb.ok(&["request", "return-by", &disc, "--clear"]);
    assert_eq!(cb.json(&["overdue"]).as_array().unwrap().len(), 0);
    let list = cb.json(&["request", "list"]);
    let got = list.as_array().unwrap().iter().find(|r| r["request"]["id"] == req.as_str()).unwrap();
    assert_eq!(got["request"]["status"], "received");
    assert_eq!(got["material_out"], true);
    assert!(cb.ok(&["request", "list"]).contains("Slides/blocks are out: must go back by 2024-06-01"));

    // Documentation.
    let d = cb.add(&[
        "document",
        "add",
        "CT chest",
        "--kind",
        "imaging_report",
        "--date",
        "2024-02-01",
        "--location",
        "both",
    ]);
    cb.add(&["document", "add", "Biopsy", "--kind", "pathology_report", "--date", "2024-01-30", "--facility", "Lab"]);
    let docs = cb.json(&["document", "list"]);
    assert_eq!(docs[0]["description"], "Biopsy", "oldest first");
    cb.ok(&["document", "remove", &d]);
    assert_eq!(cb.json(&["document", "list"]).as_array().unwrap().len(), 1);
    let m = cb.add(&["medication", "add", "Metformin", "--dose", "500 mg twice daily"]);
    cb.add(&["medication", "add", "Aspirin"]);
    cb.ok(&["medication", "remove", &m]);
    assert_eq!(cb.json(&["medication", "list"])[0]["name"], "Aspirin");
    let h = cb.add(&["history", "add", "mother", "breast", "--age", "52"]);
    assert_eq!(cb.json(&["history", "list"])[0]["age_at_diagnosis"], 52);
    cb.ok(&["history", "remove", &h]);
    cb.add(&["history", "add", "uncle", "colon"]);
    cb.ok(&["symptoms", "append", "Cough for 3 months"]);
    cb.ok(&["symptoms", "append", "Tired"]);
    assert_eq!(cb.json(&["symptoms", "show"])["symptoms"], "Cough for 3 months\nTired");
    cb.ok(&["symptoms", "set", "Cough for 4 months\nTired"]);
    assert_eq!(cb.ok(&["symptoms", "show"]).trim_end(), "Cough for 4 months\nTired");

    // Questions.
    let q = cb.add(&["question", "add", "Should we test for EGFR?", "--category", "testing", "--priority", "high"]);
    let qs = cb.json(&["question", "list"]);
    assert_eq!(qs.as_array().unwrap().len(), 7, "six guide questions plus ours");
    assert_eq!(qs[6]["added_by"], ana.as_str());
    cb.ok(&["question", "move", &q, "1"]);
    assert_eq!(cb.json(&["question", "list"])[0]["id"], q.as_str());
    cb.ok(&["question", "set", &q, "--priority", "low"]);
    cb.ok(&["question", "edit", &q, "Should we test for EGFR and ALK?"]);
    let guide_q = cb.json(&["question", "list"])[1]["id"].as_str().unwrap().to_string();
    cb.ok(&["question", "remove", &guide_q]);

    // Appointments and notes.
    let appt = cb.add(&[
        "appointment",
        "add",
        "--kind",
        "second_opinion",
        "--specialist",
        &smith[..5],
        "--start",
        "2024-02-28T10:30",
        "--place",
        "Big Center",
        "--attendee",
        "Ana",
        "--attendee",
        "Maria",
    ]);
    cb.ok(&["appointment", "attend", &appt, "Luis"]);
    cb.ok(&["appointment", "attend", &appt, "Maria", "--remove"]);
    cb.ok(&["appointment", "consent", &appt, "Dr. Smith", "--date", "2024-02-28"]);
    cb.ok(&["appointment", "set", &appt, "summary_requested", "2024-02-29"]);
    cb.ok(&["appointment", "set", &appt, "place", "Big Center, room 4"]);
    cb.ok(&["appointment", "clear", &appt, "place"]);
    let extra = cb.add(&["appointment", "add", "--kind", "tests"]);
    cb.ok(&["appointment", "remove", &extra]);
    let a = cb.json(&["appointment", "list"]);
    assert_eq!(a.as_array().unwrap().len(), 1);
    assert_eq!(a[0]["attendees"], serde_json::json!(["Ana", "Luis"]));
    assert_eq!(a[0]["recording_consent"][0]["person"], "Dr. Smith");
    assert_eq!(a[0]["summary_requested"], "2024-02-29");
    assert_eq!(a[0]["place"], Value::Null);
    assert_eq!(a[0]["specialist"], smith.as_str());

    cb.ok(&["notes", "append", &appt, "EGFR test ordered"]);
    cb.ok(&["notes", "append", &appt, "Surgery maybe later"]);
    cb.ok(&["--as", &luis, "notes", "append", &appt, "Ask about trials"]);
    cb.ok(&["summary", "append", &appt, "Agreed on staging"]);
    cb.ok(&["summary", "append", &appt, "Next visit in 2 weeks"]);
    cb.ok(&["question", "answer", &q, "--appointment", &appt, "Yes, both"]);
    let n = cb.json(&["notes", "show", &appt]);
    let by: Vec<(String, String)> = n["by_author"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["author"].as_str().unwrap().to_string(), a["text"].as_str().unwrap().to_string()))
        .collect();
    assert!(by.contains(&(ana.clone(), "EGFR test ordered\nSurgery maybe later".to_string())), "{by:?}");
    assert!(by.contains(&(luis.clone(), "Ask about trials".to_string())), "{by:?}");
    assert_eq!(n["summary"], "Agreed on staging\nNext visit in 2 weeks");
    assert_eq!(n["authors"][&luis], "Luis");
    assert_eq!(cb.json(&["summary", "show", &appt])["summary"], "Agreed on staging\nNext visit in 2 weeks");
    let human = cb.ok(&["appointment", "show", &appt]);
    assert!(
        human.contains("with Dr. Smith") && human.contains("Notes by Luis") && human.contains("Agreed on staging"),
        "{human}"
    );
    let answered = cb.json(&["question", "list"]);
    assert_eq!(answered[0]["answers"][0]["text"], "Yes, both");
    assert_eq!(answered[0]["answers"][0]["author"], ana.as_str());
    assert_eq!(answered[0]["text"], "Should we test for EGFR and ALK?");
    assert_eq!(answered[0]["priority"], "low");
    assert_eq!(cb.json(&["question", "list", "--unanswered"]).as_array().unwrap().len(), 5);
    cb.ok(&["notes", "set", &appt, "EGFR test ordered\nSurgery later"]);
    cb.ok(&["summary", "set", &appt, "Agreed on staging"]);
    assert_eq!(cb.json(&["text", "show", &format!("notes:{appt}")])["text"], "EGFR test ordered\nSurgery later");

    // Generic text fields.
    cb.ok(&["text", "set", "wishes", "Stay home"]);
    cb.ok(&["text", "append", "wishes", " as much as possible"]);
    cb.ok(&["text", "splice", "wishes", "0", "4", "Remain"]);
    assert_eq!(cb.json(&["text", "show", "wishes"])["text"], "Remain home as much as possible");
    cb.ok(&["text", "append", &format!("specialist:{smith}"), "; call Tuesdays"]);
    cb.ok(&["text", "append", &format!("question:{q}"), " (both)"]);
    cb.ok(&["text", "append", &format!("summary:{appt}"), "!"]);
    cb.ok(&["text", "append", &format!("notes:{appt}:Luis"), " and costs"]);
    assert_eq!(cb.json(&["text", "show", &format!("notes:{appt}:{luis}")])["text"], "Ask about trials and costs");
    cb.ok(&["text", "set", "proposed_treatment", "Chemoradiation"]);
    assert_eq!(cb.json(&["patient", "show"])["proposed_treatment"], "Chemoradiation");

    // Opinions.
    let o1 = cb.add(&[
        "opinion",
        "add",
        "--rank",
        "1",
        "--diagnosis",
        "NSCLC",
        "--stage",
        "IIIA",
        "--treatment",
        "Chemoradiation",
        "--date",
        "2024-02-10",
    ]);
    cb.add(&[
        "opinion",
        "add",
        "--rank",
        "2",
        "--specialist",
        &smith,
        "--diagnosis",
        "nsclc",
        "--stage",
        "IIB",
        "--treatment",
        "Surgery first",
        "--trials",
        "NCT000",
    ]);
    let cmp = cb.json(&["opinion", "compare"]);
    assert_eq!(cmp["opinions"], 2);
    assert_eq!(cmp["suggest_third_opinion"], true);
    let aspects: Vec<&str> =
        cmp["differences"].as_array().unwrap().iter().map(|d| d["aspect"].as_str().unwrap()).collect();
    assert_eq!(aspects, ["stage", "treatment"]);
    assert!(cb.ok(&["opinion", "compare"]).contains("third opinion"));
    cb.ok(&["opinion", "set", &o1, "stage", "IIB"]);
    cb.ok(&["opinion", "set", &o1, "treatment", "Surgery first"]);
    cb.ok(&["opinion", "clear", &o1, "trials"]);
    let cmp = cb.json(&["opinion", "compare"]);
    assert_eq!(cmp["differences"], serde_json::json!([]));
    assert_eq!(cb.json(&["opinion", "list"])[0]["treatment"], "Surgery first");
    let o3 = cb.add(&["opinion", "add", "--rank", "3"]);
    cb.ok(&["opinion", "remove", &o3]);

    // Preferences.
    cb.ok(&["prefs", "set", "--detail-level", "essentials", "--agreed", "yes"]);
    let p = cb.json(&["prefs", "show"]);
    assert_eq!((p["detail_level"].as_str(), p["agreed_to_second_opinion"].as_bool()), (Some("essentials"), Some(true)));
    assert_eq!(p["wishes"], "Remain home as much as possible");
    cb.ok(&["prefs", "set", "--clear-detail-level", "--wishes", "At home"]);
    let p = cb.json(&["prefs", "show"]);
    assert_eq!((p["detail_level"].clone(), p["wishes"].as_str()), (Value::Null, Some("At home")));

    // Tasks.
    let t = cb.add(&["task", "add", "Call the lab", "--assignee", "luis", "--due", "2024-02-25"]);
    let t2 = cb.add(&["task", "add", "Book the train"]);
    assert!(cb.ok(&["task", "list"]).contains("(late)"));
    cb.ok(&["task", "assign", &t2, &ana[..6]]);
    cb.ok(&["task", "assign", &t, "--clear"]);
    cb.ok(&["task", "done", &t]);
    cb.ok(&["task", "done", &t, "--undo"]);
    cb.ok(&["task", "done", &t2]);
    let tasks = cb.json(&["task", "list"]);
    assert_eq!(tasks[0]["id"], t.as_str(), "open tasks first");
    assert_eq!(tasks[0]["assignee"], Value::Null);
    assert_eq!(tasks[1]["assignee"], ana.as_str());
    assert_eq!(tasks[1]["done"], true);
    let t3 = cb.add(&["task", "add", "Temporary"]);
    cb.ok(&["task", "remove", &t3]);

    // Costs.
    cb.add(&["cost", "add", "travel", "120.50", "--date", "2024-02-28", "--description", "Train"]);
    cb.add(&["cost", "add", "consultation", "300"]);
    let c = cb.add(&["cost", "add", "other", "1"]);
    cb.ok(&["cost", "remove", &c]);
    let costs = cb.json(&["cost", "list"]);
    assert_eq!(costs["totals"]["total_cents"], 42050);
    assert_eq!(costs["totals"]["by_category"], serde_json::json!([["consultation", 30000], ["travel", 12050]]));
    assert!(cb.ok(&["cost", "list"]).contains("total: 420.50"));

    // Progress and the overview.
    let progress = cb.json(&["progress"]);
    assert_eq!(progress["steps"].as_array().unwrap().len(), 7);
    assert_eq!(progress["steps"][0]["done"], true, "agreed to a second opinion");
    assert_eq!(progress["steps"][3]["done"], true, "documentation organised");
    assert!(cb.ok(&["progress"]).contains("[x] 1. Have the conversation"));
    let o = cb.json(&["case", "show"]);
    assert_eq!(o["counts"]["caregivers"], 2);
    assert_eq!(o["counts"]["record_requests"], 2);
    assert_eq!(o["counts"]["opinions"], 2);
    assert_eq!(o["counts"]["cost_total_cents"], 42050);
    assert_eq!(o["counts"]["conflicts"], 0);
    // A second opinion is recorded: the critical situation stays listed, the advice has been followed.
    assert_eq!(o["verdict"]["strongly_advised"], false);
    assert_eq!(o["verdict"]["second_opinion_recorded"], true);
    assert_eq!(o["verdict"]["reasons"], serde_json::json!(["advanced_or_metastatic"]));
    assert_eq!(o["me"]["name"], "Ana");
    assert_eq!(cb.json(&["conflicts"]), serde_json::json!([]));
    assert!(cb.ok(&["conflicts"]).contains("No conflicts"));

    // Me, then deleting the case.
    cb.ok(&["me", "set", "Luis"]);
    assert_eq!(cb.json(&["me", "show"])["me"]["id"], luis.as_str());
    let err = cb.fail(&["case", "delete"]);
    assert!(err.contains("--yes"), "{err}");
    cb.ok(&["case", "delete", "--yes"]);
    assert_eq!(cb.json(&["case", "list"]), serde_json::json!([]));
}

#[test]
fn record_requests_are_corrected_without_losing_anything() {
    let (cb, _, ana) = Cb::with_case();
    // Slides alone are lent lab to lab by default: no legal clock.
    let slides = cb.add(&["request", "add", "--custodian", "Lab", "--item", "pathology_slides"]);
    let shown = cb.json(&["request", "show", &slides]);
    assert_eq!(shown["request"]["channel"], "lab_release");
    assert_eq!(shown["request"]["clock"], "none_channel");

    let req = cb.add(&["request", "add", "--custodian", "Hospital", "--item", "pathology_report"]);
    cb.ok(&["request", "event", &req, "requested_in_writing", "--date", "2024-01-15"]);
    let before = cb.state();
    // Impossible dates are refused: after today, or before the written request.
    let err = cb.fail(&["request", "event", &req, "received", "--date", "2024-03-02"]);
    assert!(err.contains("after today"), "{err}");
    let err = cb.fail(&["request", "event", &req, "acknowledged", "--date", "2024-01-14"]);
    assert!(err.contains("before the written request"), "{err}");
    assert_eq!(cb.state(), before);

    // Received, then retracted (by a prefix of its id): overdue again, the event kept and marked.
    let received = cb.json(&["request", "event", &req, "received", "--date", "2024-02-01"]);
    let event = received["id"].as_str().unwrap().to_string();
    assert_eq!(cb.json(&["overdue"]).as_array().unwrap().len(), 0);
    let retraction = cb.json(&["request", "retract-event", &req, &event[..8], "--reason", "wrong request"]);
    assert_eq!(retraction["ok"], true);
    assert_eq!(cb.json(&["overdue"]).as_array().unwrap().len(), 1);
    let shown = cb.json(&["request", "show", &req]);
    let logged = &shown["request"]["events"][1];
    assert_eq!((logged["id"].as_str(), logged["counted"].as_bool()), (Some(event.as_str()), Some(false)));
    assert_eq!(logged["retractions"][0]["by"], ana.as_str());
    assert!(cb.ok(&["request", "show", &req]).contains("[retracted on 2024-03-01 by Ana: wrong request]"));
    assert!(cb.fail(&["request", "retract-event", &req, &event]).contains("was retracted"));

    // Edit the fields; retract a whole request: it leaves the list and stays among the retracted.
    cb.ok(&["request", "edit", &slides, "--custodian", "City Lab", "--return-by", "2024-02-15"]);
    let list = cb.json(&["request", "list"]);
    let got = list.as_array().unwrap().iter().find(|p| p["request"]["id"] == slides.as_str()).unwrap();
    assert_eq!(got["request"]["custodian"], "City Lab");
    assert_eq!(got["return_late"], true);
    assert!(cb.ok(&["request", "list"]).contains("LATE"));
    cb.json(&["request", "retract", &slides, "--reason", "duplicate"]);
    assert_eq!(cb.json(&["request", "list"]).as_array().unwrap().len(), 1);
    let gone = cb.json(&["request", "list", "--retracted"]);
    assert_eq!(gone[0]["retractions"][0]["reason"], "duplicate");
    assert!(cb.fail(&["request", "show", &slides]).contains("was retracted"));
    assert!(cb.fail(&["request", "edit", &slides, "--custodian", "X"]).contains("was retracted"));
}

#[test]
fn medications_and_costs_are_corrected_in_place() {
    let (cb, _, _) = Cb::with_case();
    let med = cb.add(&["medication", "add", "Metformn", "--dose", "500 mg"]);
    let cost = cb.add(&["cost", "add", "other", "12", "--date", "2024-02-01", "--description", "Train"]);

    // Only the fields given change; the id can be a prefix and the answer names the full id.
    let done = cb.json(&["medication", "edit", &med[..6], "--name", "Metformin"]);
    assert_eq!((done["ok"].as_bool(), done["id"].as_str()), (Some(true), Some(med.as_str())));
    let meds = cb.json(&["medication", "list"]);
    assert_eq!((meds[0]["name"].as_str(), meds[0]["dose"].as_str()), (Some("Metformin"), Some("500 mg")));
    cb.json(&["medication", "edit", &med, "--clear-dose"]);
    assert_eq!(cb.json(&["medication", "list"])[0]["dose"], Value::Null);

    let done = cb.json(&["cost", "edit", &cost[..6], "--category", "travel", "--amount", "120.50", "--clear-date"]);
    assert_eq!((done["ok"].as_bool(), done["id"].as_str()), (Some(true), Some(cost.as_str())));
    let listed = cb.json(&["cost", "list"]);
    let c = &listed["costs"][0];
    assert_eq!((c["category"].as_str(), c["amount_cents"].as_u64()), (Some("travel"), Some(12_050)));
    assert_eq!((c["date"].clone(), c["description"].as_str()), (Value::Null, Some("Train")));
    assert_eq!(listed["totals"]["total_cents"], 12_050);
    assert!(cb.ok(&["cost", "edit", &cost, "--description", "Train to the centre"]).contains("Updated cost"));

    // Refused, changing nothing: no field, a bad amount, an empty name, a bad date, an unknown id.
    let before = cb.state();
    assert!(cb.fail(&["medication", "edit", &med]).contains("required"));
    assert!(cb.fail(&["cost", "edit", &cost, "--amount", "12.345"]).contains("amount"));
    assert!(cb.fail(&["medication", "edit", &med, "--name", " "]).contains("must not be empty"));
    assert!(cb.fail(&["cost", "edit", &cost, "--date", "2024-02-30"]).contains("date"));
    assert!(cb.fail(&["cost", "edit", "zzz", "--amount", "1"]).contains("no cost"));
    let out = cb.run(&["--json", "medication", "edit", "zzz", "--name", "x"]);
    assert_eq!(out.status.code(), Some(3));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], "not_found");
    assert_eq!(cb.state(), before);
}

#[test]
fn opinions_compared_by_meaning_consultation_attended_and_the_decision_recorded() {
    let (cb, _, ana) = Cb::with_case();
    let luis = cb.add(&["caregiver", "add", "Luis", "--relationship", "son"]);
    cb.ok(&["flag", "set", "advanced_or_metastatic"]);
    assert_eq!(cb.json(&["flags"])["verdict"]["suggestion"], "second_opinion");

    // Spelling is not meaning: no difference, no third opinion.
    cb.add(&["opinion", "add", "--rank", "1", "--stage", "IIIA", "--treatment", "chemoradiation then durvalumab"]);
    let o2 = cb.add(&[
        "opinion",
        "add",
        "--rank",
        "2",
        "--stage",
        "Stage 3A",
        "--treatment",
        "Chemoradiation, then durvalumab.",
    ]);
    let cmp = cb.json(&["opinion", "compare"]);
    assert_eq!(cmp["differences"], serde_json::json!([]));
    assert_eq!(cmp["suggest_third_opinion"], false);
    assert_eq!(cmp["agreements"][0]["values"][1]["value"], "Stage 3A", "the text as written is kept");
    assert_eq!(cmp["agreements"][0]["values"][1]["reads_as"], "IIIA");
    assert!(cb.ok(&["opinion", "compare"]).contains("They agree on: stage, treatment."));
    let v = cb.json(&["flags"])["verdict"].clone();
    assert_eq!((v["suggestion"].as_str(), v["strongly_advised"].as_bool()), (Some("nothing"), Some(false)));

    // TNM: the component that differs is named.
    cb.ok(&["opinion", "set", &o2, "stage", "cT2 N2 M0"]);
    let cmp = cb.json(&["opinion", "compare"]);
    assert_eq!(cmp["unclear"][0]["components"], serde_json::json!(["notation"]), "IIIA against TNM: ask");
    assert_eq!(cmp["suggest_third_opinion"], false);
    cb.ok(&["opinion", "set", &o2, "stage", "IIB"]);
    let cmp = cb.json(&["opinion", "compare"]);
    assert_eq!(cmp["differences"][0]["components"], serde_json::json!(["stage group"]));
    assert_eq!(cmp["suggest_third_opinion"], true);
    let human = cb.ok(&["opinion", "compare"]);
    assert!(human.contains("Stage differs (stage group):"), "{human}");
    assert!(human.contains("the guide suggests considering a third opinion"), "{human}");
    assert!(!human.contains("wrong"), "{human}");
    assert!(cb.ok(&["case", "show"]).contains("the guide suggests considering a third opinion"));

    // The consultation: scheduled today at 09:30 (TODAY = 2024-03-01): not attended until marked.
    let appt = cb.add(&["appointment", "add", "--kind", "second_opinion", "--start", "2024-03-01T09:30"]);
    let step6 = |cb: &Cb| cb.json(&["progress"])["steps"][5].clone();
    assert!(!step6(&cb)["achieved"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().contains("attended")));
    cb.ok(&["appointment", "attended", &appt]);
    assert_eq!(cb.json(&["appointment", "list"])[0]["attended"], true);
    assert!(cb.ok(&["appointment", "list"]).contains("[attended]"));
    assert!(step6(&cb)["achieved"].as_array().unwrap().iter().any(|a| a == "1 consultation attended"));
    cb.ok(&["appointment", "attended", &appt, "no"]);
    assert_eq!(cb.json(&["appointment", "list"])[0]["attended"], false);
    cb.ok(&["appointment", "attended", &appt, "unset"]);
    assert_eq!(cb.json(&["appointment", "list"])[0]["attended"], Value::Null);

    // Step 7: not done until the family records a decision.
    let step7 = |cb: &Cb| cb.json(&["progress"])["steps"][6].clone();
    assert_eq!(step7(&cb)["done"], false);
    let before = cb.state();
    let err = cb.fail(&["decision", "record", "Surgery", "--date", "2024-03-02"]);
    assert!(err.contains("after today"), "{err}");
    assert!(cb.fail(&["decision", "record", "   "]).contains("empty"));
    assert!(cb.fail(&["decision", "record", "Surgery", "--with", "Nobody"]).contains("no caregiver"));
    assert_eq!(cb.state(), before, "refused decisions change nothing");
    let id = cb.add(&[
        "--as",
        "Ana",
        "decision",
        "record",
        "Chemoradiation then durvalumab",
        "--date",
        "2024-02-28",
        "--opinion",
        &o2,
        "--with",
        "Ana",
        "--with",
        &luis,
    ]);
    let shown = cb.json(&["decision", "show"]);
    assert_eq!(shown["decided"]["id"], id.as_str());
    assert_eq!(shown["decided"]["opinion"], o2.as_str());
    assert_eq!(shown["decided"]["participants"].as_array().unwrap().len(), 2);
    assert_eq!(shown["decided"]["recorded_by"], ana.as_str());
    assert!(shown.get("is_default").is_some(), "the window is still shown");
    let human = cb.ok(&["decision", "show"]);
    assert!(
        human.contains("Decided: 2024-02-28  Chemoradiation then durvalumab (following opinion 2; with "),
        "{human}"
    );
    let log = cb.json(&["decision", "log"]);
    assert_eq!(log["entries"].as_array().unwrap().len(), 1);
    assert_eq!(log["concurrent"], serde_json::json!([]));
    let s7 = step7(&cb);
    assert_eq!(s7["done"], true, "{s7}");
    assert!(
        s7["achieved"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().starts_with("Decided on 2024-02-28"))
    );
    assert!(cb.ok(&["progress"]).contains("[x] 7. Discuss findings together"));
}

#[test]
fn every_read_command_prints_valid_json() {
    let (cb, _, _) = Cb::with_case();
    let appt = cb.add(&["appointment", "add", "--kind", "first_opinion"]);
    let req = cb.add(&["request", "add", "--custodian", "Lab", "--item", "tissue_blocks"]);
    let state_file = cb.path("state.json");
    let reads: Vec<Vec<&str>> = vec![
        vec!["init"],
        vec!["case", "list"],
        vec!["case", "show"],
        vec!["patient", "show"],
        vec!["decision", "show"],
        vec!["decision", "log"],
        vec!["flags"],
        vec!["specialist", "list"],
        vec!["request", "list"],
        vec!["request", "list", "--retracted"],
        vec!["request", "show", &req],
        vec!["overdue"],
        vec!["document", "list"],
        vec!["medication", "list"],
        vec!["history", "list"],
        vec!["symptoms", "show"],
        vec!["question", "list"],
        vec!["appointment", "list"],
        vec!["appointment", "show", &appt],
        vec!["notes", "show", &appt],
        vec!["summary", "show", &appt],
        vec!["text", "show", "symptoms"],
        vec!["opinion", "list"],
        vec!["opinion", "compare"],
        vec!["caregiver", "list"],
        vec!["me", "show"],
        vec!["prefs", "show"],
        vec!["task", "list"],
        vec!["cost", "list"],
        vec!["progress"],
        vec!["agenda"],
        vec!["conflicts"],
        vec!["state", "--out", &state_file],
        vec!["export", "--out", "x.cbx"],
        vec!["import", "x.cbx"],
    ];
    for args in reads {
        cb.json(&args);
    }
    // `state` prints its JSON with or without --json.
    let state: Value = serde_json::from_str(&cb.ok(&["state"])).unwrap();
    assert!(state["docs"].is_object());
}

#[test]
fn invalid_input_fails_clearly_and_changes_nothing() {
    let (cb, _, _) = Cb::with_case();
    let appt = cb.add(&["appointment", "add", "--kind", "second_opinion"]);
    let req = cb.add(&["request", "add", "--custodian", "Lab", "--item", "pathology_slides"]);
    cb.ok(&["notes", "append", &appt, "a😀b"]);
    let before = cb.state();
    let before_show = cb.json(&["case", "show"]);

    let err = cb.fail(&["patient", "set", "diagnosis_date", "2024-13-45"]);
    assert!(err.contains("invalid diagnosis_date: 2024-13-45: there is no month 13"), "{err}");
    let err = cb.fail(&["request", "event", &req, "received", "--date", "2024-02-30"]);
    assert!(err.contains("invalid date: 2024-02-30: February 2024 has 29 days"), "{err}");
    let err = cb.fail(&["appointment", "add", "--kind", "tests", "--start", "2024-02-28 25:00"]);
    assert!(err.contains("invalid start: 2024-02-28 25:00: there is no hour 25"), "{err}");
    for args in [
        vec!["decision", "set", "next tuesday"],
        vec!["request", "add", "--custodian", "Lab", "--item", "imaging_disc", "--return-by", "soon"],
        vec!["appointment", "add", "--kind", "tests", "--start", "28.02.2024 10:00"],
        vec!["appointment", "set", &appt, "summary_received", "yesterday"],
        vec!["appointment", "consent", &appt, "Dr. X", "--date", "31/12/2024"],
        vec!["task", "add", "Call", "--due", "2024-1-1x"],
        vec!["cost", "add", "travel", "12", "--date", "tomorrow"],
        vec!["document", "add", "CT", "--date", "2024/02/01"],
        vec!["opinion", "add", "--rank", "1", "--date", "0"],
    ] {
        let err = cb.fail(&args);
        assert!(err.contains("invalid") && err.contains("YYYY-MM-DD"), "{args:?}: {err}");
    }
    // Other refused values.
    for (args, expected) in [
        (vec!["patient", "set", "age", "200"], "between 0 and 130"),
        (vec!["cost", "add", "travel", "12.345"], "not an amount"),
        (vec!["opinion", "add", "--rank", "0"], "rank"),
        (vec!["text", "splice", "symptoms", "5", "0", "x"], "text index"),
        (vec!["text", "splice", &format!("notes:{appt}"), "2", "1", "x"], "surrogate"),
        (vec!["question", "move", "nope", "0"], "start at 1"),
        (vec!["resolve", "patient/stage", "1"], "no conflict"),
        (vec!["specialist", "add", "  "], "must not be empty"),
        (vec!["import", "missing.cbx"], "cannot read"),
    ] {
        let err = cb.fail(&args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // A flag value outside the accepted list is refused by the parser, with the accepted values.
    let err = cb.fail(&["request", "add", "--custodian", "Lab", "--item", "slides"]);
    assert!(err.contains("pathology_slides"), "{err}");
    let err = cb.fail(&["--today", "2024-02-30", "progress"]);
    assert!(err.contains("invalid today"), "{err}");

    assert_eq!(cb.state(), before, "a refused command must not change the case");
    assert_eq!(cb.json(&["case", "show"]), before_show);
}

#[test]
fn unknown_ids_are_reported() {
    let (cb, case, _) = Cb::with_case();
    let before = cb.state();
    for (args, expected) in [
        (vec!["specialist", "set", "0000nope", "name", "X"], "no specialist with id 0000nope"),
        (vec!["specialist", "remove", "0000nope"], "no specialist with id 0000nope"),
        (vec!["request", "event", "0000nope", "received"], "no record request with id 0000nope"),
        (vec!["request", "show", "0000nope"], "no record request with id 0000nope"),
        (vec!["notes", "show", "0000nope"], "no appointment with id 0000nope"),
        (vec!["notes", "append", "0000nope", "text"], "no appointment with id 0000nope"),
        (vec!["question", "move", "0000nope", "1"], "no question with id 0000nope"),
        (vec!["task", "done", "0000nope"], "no task with id 0000nope"),
        (vec!["cost", "remove", "0000nope"], "no cost with id 0000nope"),
        (vec!["opinion", "set", "0000nope", "stage", "I"], "no opinion with id 0000nope"),
        (vec!["appointment", "add", "--kind", "tests", "--specialist", "0000nope"], "no specialist with id 0000nope"),
        (vec!["--as", "Nobody", "notes", "append", "x", "y"], "no caregiver"),
        (vec!["me", "set", "Nobody"], "no caregiver"),
        (vec!["--case", "zzz", "case", "show"], "no case zzz"),
    ] {
        let err = cb.fail(&args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert_eq!(cb.state(), before);
    // A unique prefix of the case id works.
    assert!(cb.ok(&["--case", &case[..6], "case", "show"]).contains("Patient: Maria"));
}

#[test]
fn several_cases_need_the_case_flag() {
    let (cb, first, _) = Cb::with_case();
    let second = cb.json(&["case", "create", "--patient", "José", "--me", "Ana"])["case"].as_str().unwrap().to_string();
    let err = cb.fail(&["case", "show"]);
    assert!(err.contains("2 cases") && err.contains("--case"), "{err}");
    assert!(cb.ok(&["--case", &second, "patient", "show"]).contains("Name: José"));
    let out = Command::new(casebook_bin())
        .args(["case", "show"])
        .env("CASEBOOK_STORE", &cb.store)
        .env("CASEBOOK_CASE", &first)
        .env_remove("CASEBOOK_AS")
        .current_dir(cb.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Patient: Maria"));
    let list = cb.ok(&["case", "list"]);
    assert!(list.contains("Maria") && list.contains("José"), "{list}");
}

/// The notes of every author of an appointment and its shared summary.
fn notes_of(cb: &Cb, appt: &str) -> Value {
    let n = cb.json(&["notes", "show", appt]);
    serde_json::json!({ "by_author": n["by_author"], "summary": n["summary"] })
}

#[test]
fn export_and_import_carry_notes_between_stores() {
    let (a, case, _) = Cb::with_case();
    let appt = a.add(&["appointment", "add", "--kind", "second_opinion", "--start", "2024-02-28T10:30"]);
    a.ok(&["notes", "append", &appt, "héllo wörld"]);
    a.ok(&["notes", "append", &appt, "😀 and 診断"]);
    a.ok(&["summary", "append", &appt, "診断: adenocarcinoma 😀"]);
    a.ok(&["patient", "set", "stage", "IIIA"]);
    let file = a.path("all.cbx");
    a.ok(&["export", "--out", &file]);

    // A second device: an empty directory, no `init` needed to import.
    let b = Cb::new();
    let r = b.json(&["import", &file]);
    assert_eq!((r["case"].as_str(), r["new_case"].as_bool()), (Some(case.as_str()), Some(true)));
    assert!(r["new_changes"].as_u64().unwrap() > 0);
    assert_eq!(notes_of(&a, &appt), notes_of(&b, &appt));
    assert_eq!(a.state(), b.state());
    assert!(b.ok(&["notes", "show", &appt]).contains("héllo wörld\n  😀 and 診断"));

    // Importing the same file again changes nothing.
    let state = b.state();
    let again = b.json(&["import", &file]);
    assert_eq!((again["new_case"].as_bool(), again["new_changes"].as_u64()), (Some(false), Some(0)));
    assert!(b.ok(&["import", &file]).contains("Nothing new"));
    assert_eq!(b.state(), state);
    assert_eq!(b.json(&["case", "list"]).as_array().unwrap().len(), 1);

    // The second device writes its own notes and sends only what the first lacks.
    let err = b.fail(&["notes", "append", &appt, "no author yet"]);
    assert!(err.contains("me set"), "{err}");
    let bruno = b.add(&["caregiver", "add", "Bruno", "--relationship", "son"]);
    b.ok(&["me", "set", "Bruno"]);
    b.ok(&["notes", "append", &appt, "Bruno: 診断 confirmed 😀 — wörds"]);
    b.ok(&["summary", "append", &appt, "héllo from Bruno"]);
    let a_state = a.path("a.state");
    std::fs::write(&a_state, a.ok(&["state"])).unwrap();
    let delta = b.path("delta.cbx");
    b.ok(&["export", "--out", &delta, "--since", &a_state]);
    assert!(std::fs::metadata(&delta).unwrap().len() < std::fs::metadata(&file).unwrap().len());
    let r = a.json(&["import", &delta]);
    assert_eq!(r["new_case"], false);
    assert!(r["new_changes"].as_u64().unwrap() > 0);
    a.json(&["import", &delta]);

    assert_eq!(notes_of(&a, &appt), notes_of(&b, &appt));
    assert_eq!(a.state(), b.state());
    let n = a.json(&["notes", "show", &appt]);
    let bruno_notes = n["by_author"].as_array().unwrap().iter().find(|x| x["author"] == bruno.as_str()).unwrap();
    assert_eq!(bruno_notes["text"], "Bruno: 診断 confirmed 😀 — wörds");
    assert_eq!(n["summary"], "診断: adenocarcinoma 😀\nhéllo from Bruno");
    assert_eq!(n["authors"][&bruno], "Bruno");
    assert!(a.ok(&["notes", "show", &appt]).contains("Notes by Bruno"));

    // A state file that is not one is refused.
    let err = a.fail(&["export", "--out", &a.path("x.cbx"), "--since", &delta]);
    assert!(err.contains("state file"), "{err}");
    let err = a.fail(&["import", &a_state]);
    assert!(err.contains("not a Casebook exchange file"), "{err}");
}

/// Ana's store with a case, and a sibling's store that got it from an exchange file and joined the care team
/// as `sibling`; both set the stage offline (IIIA, IIIB), then swap exchange files both ways. Returns the two
/// stores and the caregiver ids of Ana and the sibling.
fn siblings_set_the_stage_offline(sibling: &str) -> (Cb, Cb, String, String) {
    let (a, _, ana) = Cb::with_case();
    let b = Cb::new();
    let file = a.path("all.cbx");
    a.ok(&["export", "--out", &file]);
    b.ok(&["import", &file]);
    let other = b.add(&["caregiver", "add", sibling]);
    b.ok(&["me", "set", sibling]);
    a.ok(&["patient", "set", "stage", "IIIA"]);
    b.ok(&["patient", "set", "stage", "IIIB"]);
    let (fa, fb) = (a.path("a.cbx"), b.path("b.cbx"));
    a.ok(&["export", "--out", &fa]);
    b.ok(&["export", "--out", &fb]);
    a.ok(&["import", &fb]);
    b.ok(&["import", &fa]);
    (a, b, ana, other)
}

#[test]
fn concurrent_edits_show_as_conflicts_until_resolved() {
    let (a, b, _, _) = siblings_set_the_stage_offline("Bruno");
    let ca = a.json(&["conflicts"]);
    assert_eq!(ca, b.json(&["conflicts"]));
    assert_eq!(ca[0]["path"], "patient/stage");
    let mut values: Vec<&str> = ca[0]["values"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    values.sort();
    assert_eq!(values, ["IIIA", "IIIB"]);
    assert!(a.ok(&["conflicts"]).contains("casebook resolve patient/stage"));
    assert_eq!(a.json(&["case", "show"])["counts"]["conflicts"], 1);

    let keep = ca[0]["values"][1].as_str().unwrap().to_string();
    let err = a.fail(&["resolve", "patient/stage", "3"]);
    assert!(err.contains("choice"), "{err}");
    a.ok(&["resolve", "patient/stage", "2"]);
    assert_eq!(a.json(&["conflicts"]), serde_json::json!([]));
    assert_eq!(a.json(&["patient", "show"])["stage"], keep.as_str());

    // The resolution travels too.
    let fr = a.path("r.cbx");
    a.ok(&["export", "--out", &fr]);
    b.ok(&["import", &fr]);
    assert_eq!(b.json(&["conflicts"]), serde_json::json!([]));
    assert_eq!(b.json(&["patient", "show"])["stage"], keep.as_str());
}

#[test]
fn text_positions_are_utf16_code_units() {
    let (cb, _, _) = Cb::with_case();
    cb.ok(&["symptoms", "set", "héllo 😀 診断"]);
    let shown = cb.json(&["text", "show", "symptoms"]);
    assert_eq!(shown["len_utf16"], 11, "h é l l o ␠ (2 units) ␠ 診 断");
    // Replace the emoji (two units at 6) and insert after the CJK text.
    cb.ok(&["text", "splice", "symptoms", "6", "2", "wörld"]);
    cb.ok(&["text", "splice", "symptoms", "14", "0", "!"]);
    assert_eq!(cb.json(&["text", "show", "symptoms"])["text"], "héllo wörld 診断!");
    let err = cb.fail(&["text", "splice", "symptoms", "99", "0", "x"]);
    assert!(err.contains("text index 99"), "{err}");
}

#[test]
fn demo_merges_two_offline_siblings() {
    let cb = Cb::new();
    let v = cb.json(&["demo"]);
    assert_eq!(v["identical"], true);
    let notes = v["notes"]["by_author"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    let all: String = notes.iter().map(|n| n["text"].as_str().unwrap()).collect();
    assert!(all.contains("PET scan") && all.contains("診断 confirmed"));
    assert_eq!(v["notes"]["summary"], "PET first, then decide. Written summary promised within a week.");
    assert_eq!(v["conflicts"][0]["path"], "patient/stage");
}

#[test]
fn siblings_share_join_and_sync_through_a_relay_from_the_cli() {
    let relay = InProcessRelay::start();
    let (ana, case, _) = Cb::with_case();
    let ben = Cb::new();
    ana.ok(&["account", "create", "--server", &relay.url(), "--name", "Ana"]);
    ben.ok(&["init"]);
    ben.ok(&["account", "create", "--server", &relay.url(), "--name", "Ben"]);
    let shared = ana.json(&["case", "share", "--role", "editor"]);
    assert_eq!(shared["saved_to_relay"], true);
    let code = shared["invite"]["code"].as_str().unwrap().to_string();
    let joined = ben.json(&["invite", "accept", &code, "--relationship", "son"]);
    assert_eq!(joined["case_id"], case.as_str());
    assert_eq!(joined["role"], "editor");
    // A used code cannot be used again.
    let again = ben.fail(&["invite", "accept", &code]);
    assert!(!again.is_empty());

    // Both write offline, then sync.
    let appt = ana.add(&["appointment", "add", "--kind", "second_opinion"]);
    ana.ok(&["sync"]);
    ben.ok(&["sync"]);
    ana.ok(&["notes", "append", &appt, "Ana: staging agreed, é"]);
    ben.ok(&["notes", "append", &appt, "Ben: 診断 😀"]);
    ana.ok(&["patient", "set", "stage", "IIIA"]);
    ben.ok(&["patient", "set", "stage", "IIB"]);
    for cb in [&ana, &ben, &ana] {
        let s = cb.json(&["sync"]);
        assert_eq!(s["state"], "up_to_date");
        assert_eq!(s["saved_to_relay"], true);
    }
    let notes_a = ana.json(&["notes", "show", &appt]);
    let notes_b = ben.json(&["notes", "show", &appt]);
    assert_eq!(notes_a, notes_b);
    let all = notes_a.to_string();
    assert!(all.contains("Ana: staging agreed, é") && all.contains("Ben: 診断 😀"), "{all}");
    let conflicts = ben.json(&["conflicts"]);
    assert_eq!(conflicts, ana.json(&["conflicts"]));
    assert!(conflicts.to_string().contains("patient/stage"));

    let members = ana.json(&["members"]);
    assert_eq!(members.as_array().unwrap().len(), 2);
    let ben_account = ben.json(&["account", "show"])["account_id"].as_str().unwrap().to_string();
    ana.ok(&["remove-member", &ben_account]);
    assert_eq!(ana.json(&["members"]).as_array().unwrap().len(), 1);
    let refused = ben.fail(&["sync", "--timeout", "5"]);
    assert!(refused.contains("error"), "{refused}");
}

/// While `casebook sync --watch` runs on Ana's store, every other command on that store works, what they
/// write reaches the relay within 2 s (a sync *started* by Ben within 2 s of Ana's write sees it), and
/// what Ben pushes reaches Ana's store by itself.
#[test]
fn sync_watch_leaves_the_store_usable_and_syncs_other_commands_writes() {
    let relay = InProcessRelay::start();
    let (ana, _case, _) = Cb::with_case();
    let ben = Cb::new();
    ana.ok(&["account", "create", "--server", &relay.url(), "--name", "Ana"]);
    ben.ok(&["init"]);
    ben.ok(&["account", "create", "--server", &relay.url(), "--name", "Ben"]);
    let code = ana.json(&["case", "share", "--role", "editor"])["invite"]["code"].as_str().unwrap().to_string();
    ben.json(&["invite", "accept", &code, "--relationship", "son"]);
    let appt = ana.add(&["appointment", "add", "--kind", "second_opinion"]);
    ana.ok(&["sync"]);
    ben.ok(&["sync"]);

    let mut watch = Command::new(casebook_bin())
        .arg("--store")
        .arg(&ana.store)
        .args(["--today", TODAY, "sync", "--watch"])
        .env_remove("CASEBOOK_STORE")
        .env_remove("CASEBOOK_CASE")
        .current_dir(ana.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let watch = Kill(&mut watch);
    std::thread::sleep(Duration::from_millis(500));

    let mut lags = Vec::new();
    for i in 0..3 {
        // Other commands on Ana's store work while the watch runs.
        let text = format!("Ana while watching {i}");
        ana.ok(&["notes", "append", &appt, &text]);
        let written = Instant::now();
        assert!(ana.ok(&["case", "show"]).contains("Maria"));
        // Ben syncs in a loop: a round started within 2 s of Ana's write must see it.
        loop {
            let started = written.elapsed();
            assert!(started < Duration::from_secs(2), "Ana's write {i} did not reach the relay within 2 s");
            ben.ok(&["sync", "--timeout", "10"]);
            if notes_of(&ben, &appt).to_string().contains(&text) {
                lags.push(started);
                break;
            }
        }
    }
    // The other way: Ben's edit reaches Ana's store by itself.
    ben.ok(&["notes", "append", &appt, "Ben pushed this"]);
    ben.ok(&["sync"]);
    let pushed = Instant::now();
    while !notes_of(&ana, &appt).to_string().contains("Ben pushed this") {
        assert!(pushed.elapsed() < Duration::from_secs(5), "Ben's edit never reached Ana's watched store");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "sync --watch: other commands' writes seen by the relay after {lags:?}; Ben's edit in Ana's store after {:?}",
        pushed.elapsed()
    );
    drop(watch);
}

#[test]
fn agenda_lists_what_comes_next_in_time_order() {
    let (cb, _, _) = Cb::with_case();
    assert!(cb.ok(&["agenda"]).contains("Nothing on the agenda"));
    assert_eq!(cb.json(&["agenda"]), serde_json::json!([]));
    cb.ok(&["patient", "set", "diagnosis_date", "2024-02-10"]);
    let luis = cb.add(&["caregiver", "add", "Luis"]);
    let chen = cb.add(&["specialist", "add", "Dr. Chen"]);
    let consult = cb.add(&[
        "appointment",
        "add",
        "--kind",
        "second_opinion",
        "--specialist",
        &chen,
        "--start",
        "2024-03-04T09:30",
        "--zone",
        "America/New_York",
        "--place",
        "Big Center",
    ]);
    // Took place already: not on the agenda.
    cb.add(&["appointment", "add", "--kind", "first_opinion", "--start", "2024-02-20T10:00"]);
    let req = cb.add(&["request", "add", "--custodian", "General Hospital", "--item", "pathology_report"]);
    cb.ok(&["request", "event", &req, "requested_in_writing", "--date", "2024-01-15"]);
    let slides = cb.add(&[
        "request",
        "add",
        "--custodian",
        "Path Lab",
        "--item",
        "pathology_slides",
        "--channel",
        "lab_release",
        "--return-by",
        "2024-02-28",
    ]);
    let today_task = cb.add(&["task", "add", "Call the lab", "--due", TODAY, "--assignee", &luis]);
    let late_task = cb.add(&["task", "add", "Copy the disc", "--due", "2024-02-20"]);
    let done = cb.add(&["task", "add", "Book the hotel", "--due", "2024-02-25"]);
    cb.ok(&["task", "done", &done]);

    let a = cb.json(&["agenda"]);
    let rows: Vec<(&str, &str, bool, &str)> = a
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["date"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["late"].as_bool().unwrap(),
                e["id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2024-02-14", "records_due", true, req.as_str()),
            ("2024-02-20", "task", true, late_task.as_str()),
            ("2024-02-28", "return_material", true, slides.as_str()),
            ("2024-03-01", "task", false, today_task.as_str()),
            ("2024-03-04", "appointment", false, consult.as_str()),
            ("2024-03-09", "decision_date", false, ""),
        ],
        "{a:#}"
    );
    assert_eq!(a[4]["time"], "09:30");
    assert_eq!(a[4]["tz"], "America/New_York");
    assert_eq!(a[4]["title"], "Second-opinion consultation with Dr. Chen at Big Center");
    assert_eq!(a[3]["title"], "Call the lab (Luis)");
    assert_eq!(a[5]["is_default"], true);
    assert_eq!(a[3]["days_left"], 0);

    // As text: names, late and overdue flags, the default labelled, the place's zone and your time.
    let text = cb.ok(&["--tz", "America/Los_Angeles", "agenda"]);
    let line = |needle: &str| text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {text}"));
    assert!(line("General Hospital").contains("OVERDUE"), "{text}");
    assert!(line("Copy the disc").contains("LATE"), "{text}");
    assert!(line("Path Lab").contains("LATE"), "{text}");
    assert!(line("Call the lab").contains("today"), "{text}");
    assert!(line("Dr. Chen").contains("2024-03-04 09:30 America/New_York (06:30 your time)"), "{text}");
    assert!(line("Decide on treatment").contains("decision (default)"), "{text}");
    // In the place's own zone, the zone is not repeated.
    let there = cb.ok(&["--tz", "America/New_York", "agenda"]);
    assert!(there.contains("2024-03-04 09:30  "), "{there}");
    assert!(!there.contains("your time"), "{there}");
}

#[test]
fn today_is_the_local_date_of_the_tz_zone() {
    use casebook_core::dates::Zone;
    let (cb, _, _) = Cb::with_case();
    // Pago Pago is UTC-11 and Kiritimati UTC+14: their dates always differ, whatever the hour.
    let (west, east) = ("Pacific/Pago_Pago", "Pacific/Kiritimati");
    let zone = |z| Zone::named("tz", z).unwrap();
    let day = zone(west).today();
    let due = casebook_core::dates::format_date(day);
    let task = cb.add(&["task", "add", "Fax the request", "--due", &due]);
    let agenda = |env: &[(&str, &str)], args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        all.push("agenda");
        let out = cb.run_live(env, &all);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    for _ in 0..3 {
        let (w, e) = (zone(west).today(), zone(east).today());
        let in_west = agenda(&[], &["--tz", west]);
        let in_east = agenda(&[("CASEBOOK_TZ", east)], &[]);
        let from_tz_env = agenda(&[("TZ", east)], &[]);
        let flag_wins = agenda(&[("CASEBOOK_TZ", east)], &["--tz", west]);
        if (zone(west).today(), zone(east).today()) != (w, e) || w != day {
            continue; // midnight passed somewhere during the runs: try again
        }
        let behind = (e - w).whole_days();
        assert!(behind >= 1);
        assert_eq!(in_west[0]["id"], task.as_str());
        assert_eq!((&in_west[0]["late"], &in_west[0]["days_left"]), (&Value::Bool(false), &Value::from(0)));
        assert_eq!((&in_east[0]["late"], &in_east[0]["days_left"]), (&Value::Bool(true), &Value::from(-behind)));
        assert_eq!(from_tz_env, in_east, "TZ is the system zone");
        assert_eq!(flag_wins, in_west, "--tz wins over CASEBOOK_TZ");
        // --today overrides the zone's date.
        let fixed = agenda(&[], &["--tz", east, "--today", &due]);
        assert_eq!(fixed[0]["late"], false);
        let err = String::from_utf8(cb.run_live(&[], &["--tz", "Mars/Olympus_Mons", "agenda"]).stderr).unwrap();
        assert!(err.contains("Mars/Olympus_Mons") && err.contains("time zone"), "{err}");
        // New appointments take the zone of --tz unless --zone names the place's.
        let out = cb.run_live(&[], &["--json", "--tz", east, "appointment", "add", "--kind", "tests"]);
        assert!(out.status.success());
        let out = cb.run_live(&[], &["--json", "--tz", east, "appointment", "add", "--kind", "tests", "--zone", west]);
        assert!(out.status.success());
        let zones: Vec<Value> =
            cb.json(&["appointment", "list"]).as_array().unwrap().iter().map(|a| a["tz"].clone()).collect();
        let mut zones: Vec<&str> = zones.iter().map(|z| z.as_str().unwrap()).collect();
        zones.sort();
        assert_eq!(zones, vec![east, west]);
        return;
    }
    panic!("the date kept changing during the test");
}

#[test]
fn impossible_dates_and_empty_names_are_refused_with_clear_messages() {
    let (cb, _, _) = Cb::with_case();
    let before = cb.state();
    for (date, expected) in [
        ("2026-02-30", "invalid diagnosis_date: 2026-02-30: February 2026 has 28 days"),
        ("2026-13-01", "invalid diagnosis_date: 2026-13-01: there is no month 13"),
        ("12/01/2026", "invalid diagnosis_date: 12/01/2026: write dates as YYYY-MM-DD"),
    ] {
        let err = cb.fail(&["patient", "set", "diagnosis_date", date]);
        assert!(err.contains(expected), "{date}: {err}");
        assert_eq!(cb.status(&["patient", "set", "diagnosis_date", date]), 2);
    }
    let err = cb.fail(&["task", "add", "Call", "--due", "2024-04-31"]);
    assert!(err.contains("2024-04-31: April 2024 has 30 days"), "{err}");

    // Empty or blank names are refused wherever a name is entered (exit 2, invalid_input).
    let blank = "  \u{200b} ";
    for args in [
        vec!["caregiver", "add", blank],
        vec!["specialist", "add", ""],
        vec!["medication", "add", blank],
        vec!["history", "add", "mother", " "],
        vec!["request", "add", "--custodian", blank, "--item", "pathology_report"],
        vec!["task", "add", "\t"],
        vec!["document", "add", " "],
        vec!["question", "add", blank],
        vec!["patient", "set", "display_name", blank],
    ] {
        let err = cb.fail(&args);
        assert!(err.contains("must not be empty"), "{args:?}: {err}");
        let (code, v) = cb.fail_json(&args);
        assert_eq!((code, v["error"]["code"].as_str()), (2, Some("invalid_input")), "{args:?}");
    }
    assert_eq!(cb.state(), before, "refused input changes nothing");
    let other = Cb::new();
    let err = other.fail(&["case", "create", "--patient", " ", "--me", "Ana"]);
    assert!(err.contains("invalid patient: must not be empty"), "{err}");
    assert!(other.fail(&["case", "create", "--patient", "Mum", "--me", ""]).contains("must not be empty"));
    assert_eq!(other.json(&["case", "list"]), serde_json::json!([]), "no half-made case");
}

#[test]
fn json_errors_have_a_stable_code_and_exit_statuses_tell_failures_apart() {
    let (cb, _, _) = Cb::with_case();
    let req = cb.add(&["request", "add", "--custodian", "Lab", "--item", "pathology_report"]);
    cb.ok(&["request", "retract", &req]);
    for (args, status, code) in [
        // Usage: clap's refusals and the CLI's own.
        (vec!["frobnicate"], 2, "usage"),
        (vec!["request", "add", "--item", "pathology_report"], 2, "usage"),
        (vec!["request", "add", "--custodian", "Lab", "--item", "slides"], 2, "usage"),
        (vec!["case", "delete"], 2, "usage"),
        (vec!["prefs", "set"], 2, "usage"),
        // Invalid input and impossible dates.
        (vec!["patient", "set", "age", "200"], 2, "invalid_input"),
        (vec!["patient", "set", "diagnosis_date", "2024-02-30"], 2, "invalid_input"),
        (vec!["question", "move", "x", "0"], 2, "invalid_input"),
        (
            vec!["request", "add", "--custodian", "Lab", "--item", "pathology_report", "--return-by", "x"],
            2,
            "invalid_input",
        ),
        (vec!["decision", "record", "Surgery", "--date", "2024-03-05"], 2, "impossible_date"),
        // Not found: items, caregivers, files.
        (vec!["specialist", "remove", "0000nope"], 3, "not_found"),
        (vec!["request", "show", "0000nope"], 3, "not_found"),
        (vec!["appointment", "show", "0000nope"], 3, "not_found"),
        (vec!["--as", "Nobody", "question", "add", "Why?"], 3, "not_found"),
        (vec!["import", "missing.cbx"], 3, "not_found"),
        // State: a retracted request.
        (vec!["request", "show", &req], 4, "retracted"),
        // The relay cannot be reached (nothing listens on port 9 of this host).
        (vec!["account", "create", "--server", "http://127.0.0.1:9", "--name", "Ana"], 5, "network"),
    ] {
        let (got, v) = cb.fail_json(&args);
        assert_eq!((got, v["error"]["code"].as_str()), (status, Some(code)), "{args:?}: {v}");
        // The same status in text mode, with the message on stderr.
        let out = cb.run(&args);
        assert_eq!(out.status.code(), Some(status), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(!message.starts_with("error:") && !message.is_empty(), "{message}");
        if status != 2 || code != "usage" {
            assert!(err.contains(message), "{args:?}: the same message: {err} / {message}");
        }
    }
    let (_, v) = cb.fail_json(&["specialist", "remove", "0000nope"]);
    assert_eq!(v["error"]["message"], "no specialist with id 0000nope in this case");
    // Help and version still succeed, with or without --json; the help documents the exit statuses.
    let help = cb.ok(&["--json", "--help"]);
    assert!(help.contains("Exit status") && help.contains("not_found"), "{help}");
    assert!(cb.ok(&["--version"]).starts_with("casebook "));
    assert_eq!(cb.status(&["task", "--help"]), 0);
}

#[test]
fn hostile_text_from_another_device_never_reaches_the_terminal_raw() {
    // A sibling's device (or a modified client) writes names and texts full of control characters…
    let (a, _, _) = Cb::with_case();
    let name = "Eve\nFAKE: case deleted\r\u{1b}[2J\u{1b}]0;owned\u{7}\u{8}\u{9b}31m \u{202e}gnp.exe\u{2066}";
    let eve = a.add(&["caregiver", "add", name]);
    let sp = a.add(&["specialist", "add", "Dr. \u{1b}[31mRed\u{1b}[0m\nInjected"]);
    a.add(&["task", "add", "Call\u{1b}]8;;http://evil\u{7}lab\u{1b}]8;;\u{7}", "--assignee", &eve]);
    let appt = a.add(&["appointment", "add", "--kind", "second_opinion", "--specialist", &sp, "--place", "Room\r\n9"]);
    a.ok(&["--as", &eve, "notes", "append", &appt, "line one\r\nline \u{1b}[1Atwo\u{7}\nthree"]);
    a.add(&["request", "add", "--custodian", "Lab\u{1b}[8m hidden", "--item", "pathology_report"]);
    let file = a.path("hostile.cbx");
    a.ok(&["export", "--out", &file]);

    // …and this device imports them and prints every list.
    let b = Cb::new();
    b.ok(&["import", &file]);
    b.ok(&["caregiver", "add", "Ben"]);
    b.ok(&["me", "set", "Ben"]);
    let raw = |c: char| {
        c.is_control() && c != '\n' || ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    let reads: Vec<Vec<&str>> = vec![
        vec!["caregiver", "list"],
        vec!["specialist", "list"],
        vec!["task", "list"],
        vec!["appointment", "list"],
        vec!["appointment", "show", &appt],
        vec!["notes", "show", &appt],
        vec!["request", "list"],
        vec!["case", "show"],
    ];
    for args in &reads {
        let out = b.ok(args);
        assert!(!out.chars().any(raw), "{args:?} printed a raw control character:\n{out:?}");
        for line in out.lines() {
            assert!(
                !line.trim_start().starts_with("FAKE") && !line.starts_with("Injected"),
                "{args:?}: forged line {line:?}"
            );
        }
    }
    let team = b.ok(&["caregiver", "list"]);
    assert!(
        team.contains(
            "Eve FAKE: case deleted \\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{8}\\u{9b}31m \\u{202e}gnp.exe\\u{2066}"
        ),
        "{team}"
    );
    let notes = b.ok(&["notes", "show", &appt]);
    assert!(
        notes.contains("  line one\n  line \\u{1b}[1Atwo\\u{7}\n  three"),
        "multi-line text keeps its lines: {notes}"
    );
    assert!(b.ok(&["task", "list"]).contains("Eve FAKE"), "the assignee by name");

    // --json stays exact.
    let team = b.json(&["caregiver", "list"]);
    let listed = team.as_array().unwrap().iter().find(|c| c["id"] == eve.as_str()).unwrap();
    assert_eq!(listed["name"], name);
    let raw_json = b.ok(&["--json", "caregiver", "list"]);
    assert!(!raw_json.chars().any(raw), "JSON escapes every control: {raw_json:?}");
    let notes = b.json(&["notes", "show", &appt]);
    assert_eq!(notes["by_author"][0]["text"], "line one\r\nline \u{1b}[1Atwo\u{7}\nthree");
}

#[test]
fn long_texts_are_read_from_standard_input() {
    let (cb, _, _) = Cb::with_case();
    let appt = cb.add(&["appointment", "add", "--kind", "second_opinion", "--start", "2024-02-28T10:30"]);
    let notes = "Dr. Okafor:\n- agrees with the staging\n- wants a PET scan 😀\n";
    let out = cb.run_stdin(&["notes", "set", &appt, "-"], notes.as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cb.json(&["notes", "show", &appt])["by_author"][0]["text"], notes.trim_end());
    assert!(cb.run_stdin(&["symptoms", "append", "-"], b"tired\r\n").status.success());
    assert!(cb.run_stdin(&["symptoms", "append", "-"], b"short of breath").status.success());
    assert_eq!(cb.json(&["symptoms", "show"])["symptoms"], "tired\nshort of breath");
    let out = cb.run_stdin(&["--json", "question", "add", "-", "--category", "treatment"], b"Is surgery an option?\n");
    let q: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = cb.json(&["question", "list"]);
    let added = listed.as_array().unwrap().iter().find(|x| x["id"] == q["id"]).unwrap();
    assert_eq!(added["text"], "Is surgery an option?");
    assert!(cb.run_stdin(&["decision", "record", "-"], b"Surgery, then chemotherapy").status.success());
    assert_eq!(cb.json(&["decision", "show"])["decided"]["text"], "Surgery, then chemotherapy");

    // Only one value per command from standard input; more than 1 MiB, or not UTF-8, is refused.
    let before = cb.state();
    let out = cb.run_stdin(&["--json", "opinion", "add", "--rank", "1", "--diagnosis", "-", "--treatment", "-"], b"x");
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "usage");
    let big = vec![b'a'; (1 << 20) + 1];
    let out = cb.run_stdin(&["--json", "symptoms", "append", "-"], &big);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), v["error"]["code"].as_str()), (Some(2), Some("invalid_input")));
    assert!(v["error"]["message"].as_str().unwrap().contains("more than 1 MiB"), "{v}");
    let out = cb.run_stdin(&["symptoms", "append", "-"], &[0xff, 0xfe, 0x00]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
    assert_eq!(cb.state(), before, "nothing is written when the text is refused");
}

#[test]
fn plausibility_warnings_follow_the_write_that_raised_them() {
    let (cb, _, _) = Cb::with_case();
    // A diagnosis after today (2024-03-01): saved, with a warning on stderr.
    let out = cb.run(&["patient", "set", "diagnosis_date", "2024-03-10"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Set diagnosis_date.\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "warning: the diagnosis date 2024-03-10 is after today (2024-03-01): check it\n"
    );
    // Reported once: a later, unrelated write does not repeat it; the overview keeps showing it.
    let out = cb.run(&["patient", "set", "stage", "IIIA"]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(cb.ok(&["case", "show"]).contains("Worth checking:\n  - the diagnosis date 2024-03-10 is after today"));
    assert_eq!(cb.json(&["case", "show"])["warnings"][0]["kind"], "diagnosis_in_future");

    // With --json the warnings are in the answer.
    let v = cb.json(&["patient", "set", "diagnosis_date", "2024-02-10"]);
    assert_eq!(v, serde_json::json!({"ok": true, "warnings": []}));
    let v = cb.json(&["appointment", "add", "--kind", "second_opinion", "--start", "2024-02-01T09:00"]);
    assert_eq!(v["warnings"][0]["kind"], "appointment_before_diagnosis");
    assert_eq!(v["warnings"][0]["item"], v["id"]);
    assert_eq!(
        v["warnings"][0]["message"],
        "a second-opinion appointment on 2024-02-01 is before the diagnosis date (2024-02-10)"
    );
    let v = cb.json(&["decision", "set", "2024-01-15"]);
    assert_eq!(v["warnings"][0]["kind"], "decision_date_before_diagnosis");
}

#[test]
fn listings_name_what_they_refer_to_in_a_meaningful_order() {
    let (cb, _, _) = Cb::with_case();
    let luis = cb.add(&["caregiver", "add", "Luis"]);
    let sp = cb.add(&["specialist", "add", "Dr. Okafor"]);
    cb.add(&["specialist", "add", "Dr. Adams"]);
    let appt =
        cb.add(&["appointment", "add", "--kind", "second_opinion", "--start", "2024-02-28T10:30", "--specialist", &sp]);
    cb.add(&["appointment", "add", "--kind", "tests", "--start", "2024-02-20T08:00"]);
    let q = cb.json(&["question", "list"])[0]["id"].as_str().unwrap().to_string();
    cb.ok(&["--as", "Luis", "question", "answer", &q, "--appointment", &appt, "Yes, stage IIIA"]);
    let questions = cb.ok(&["question", "list"]);
    assert!(
        questions.contains("→ Luis, second-opinion appointment of 2024-02-28 10:30: Yes, stage IIIA"),
        "{questions}"
    );
    assert!(!questions.contains(&appt), "no raw appointment id: {questions}");
    cb.add(&["task", "add", "Later", "--due", "2024-03-20", "--assignee", &luis]);
    cb.add(&["task", "add", "Sooner", "--due", "2024-03-05", "--assignee", "Ana"]);
    let tasks = cb.ok(&["task", "list"]);
    assert!(tasks.find("Sooner").unwrap() < tasks.find("Later").unwrap(), "{tasks}");
    assert!(tasks.contains("Luis") && !tasks.contains(&luis), "{tasks}");

    // Lists in order: specialists by name, appointments by start.
    let specialists = cb.ok(&["specialist", "list"]);
    assert!(specialists.find("Dr. Adams").unwrap() < specialists.find("Dr. Okafor").unwrap());
    let appointments = cb.json(&["appointment", "list"]);
    assert_eq!(appointments[1]["id"], appt.as_str());

    // A retracted item leaves no raw id behind: it is named, marked retracted.
    cb.ok(&["specialist", "remove", &sp]);
    let listed = cb.ok(&["appointment", "list"]);
    assert!(listed.contains("with Dr. Okafor (retracted)") && !listed.contains(&sp), "{listed}");
    cb.ok(&["appointment", "remove", &appt]);
    let questions = cb.ok(&["question", "list"]);
    assert!(
        questions.contains("→ Luis, second-opinion appointment of 2024-02-28T10:30 (retracted): Yes, stage IIIA"),
        "{questions}"
    );
    assert!(!questions.contains(&appt), "no raw appointment id: {questions}");
}

#[test]
fn retracting_an_item_keeps_it_listed_as_retracted_with_who_when_and_why() {
    let (cb, _case, ana) = Cb::with_case();
    cb.add(&["caregiver", "add", "Luis"]);
    assert_eq!(cb.ok(&["retracted"]), "Nothing was retracted.\n");
    assert_eq!(cb.json(&["retracted"]), serde_json::json!([]));
    let task = cb.add(&["task", "add", "Call the lab", "--due", "2024-03-05"]);
    let o1 = cb.add(&["opinion", "add", "--rank", "1", "--stage", "IIIA"]);
    let o2 = cb.add(&["opinion", "add", "--rank", "2", "--stage", "IV"]);
    assert!(cb.ok(&["agenda"]).contains("Call the lab"));
    assert_eq!(cb.json(&["opinion", "compare"])["suggest_third_opinion"], true);

    // `remove` retracts: the message says so, with the author of --as and the reason.
    let out = cb.ok(&["--as", "Luis", "task", "remove", &task[..6], "--reason", "done by phone"]);
    assert!(out.starts_with(&format!("Retracted task {task}")), "{out}");
    let v = cb.json(&["opinion", "retract", &o2, "--reason", "wrong patient"]);
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["id"].as_str().is_some_and(|id| !id.is_empty()), "the retraction's id: {v}");

    // Gone from the lists and the derived views.
    assert_eq!(cb.json(&["task", "list"]), serde_json::json!([]));
    assert!(!cb.ok(&["agenda"]).contains("Call the lab"));
    let ids: Vec<_> = cb.json(&["opinion", "list"]).as_array().unwrap().iter().map(|o| o["id"].clone()).collect();
    assert_eq!(ids, vec![serde_json::json!(o1)]);
    assert_eq!(cb.json(&["opinion", "compare"])["suggest_third_opinion"], false);

    // Listed as retracted: by whom, when, why.
    let listed = cb.ok(&["retracted"]);
    assert!(listed.contains("task  Call the lab"), "{listed}");
    assert!(listed.contains("retracted on 2024-03-01 by Luis: done by phone"), "{listed}");
    assert!(listed.contains("opinion 2") && listed.contains("by Ana: wrong patient"), "{listed}");
    let v = cb.json(&["retracted"]);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    let t = list.iter().find(|r| r["id"] == task.as_str()).unwrap();
    assert_eq!(t["kind"], "task");
    assert_eq!(t["name"], "Call the lab");
    assert_eq!(t["retractions"][0]["on"], "2024-03-01");
    assert_eq!(t["retractions"][0]["reason"], "done by phone");
    let o = list.iter().find(|r| r["id"] == o2.as_str()).unwrap();
    assert_eq!(o["kind"], "opinion");
    assert_eq!(o["retractions"][0]["by"], ana.as_str());

    // A retracted item can no longer be changed: exit status 4, code `retracted`.
    let (status, v) = cb.fail_json(&["task", "done", &task]);
    assert_eq!((status, v["error"]["code"].as_str()), (4, Some("retracted")), "{v}");
    let (status, v) = cb.fail_json(&["cost", "remove", "0000nope"]);
    assert_eq!((status, v["error"]["code"].as_str()), (3, Some("not_found")), "{v}");
}

/// The guide's seven steps through the terminal client, on two devices that swap exchange files, with
/// mistakes corrected offline on both: a wrong dose edited, an event logged in error retracted and logged
/// again, a specialist entered twice retracted. Nothing is lost, both devices end identical, every step is
/// done.
#[test]
fn the_seven_steps_with_mistakes_corrected_on_two_devices_offline() {
    let (ana, _case, ana_id) = Cb::with_case();
    let swap = |from: &Cb, to: &Cb, name: &str| {
        let f = from.path(name);
        from.ok(&["export", "--out", &f]);
        to.ok(&["import", &f]);
    };
    // 1. The conversation.
    ana.ok(&["prefs", "set", "--agreed", "yes"]);
    ana.ok(&["patient", "set", "diagnosis_date", "2024-02-10"]);
    // 2. Specialists.
    let okafor = ana.add(&["specialist", "add", "Dr. Okafor", "--subspecialty", "thoracic oncology"]);
    ana.ok(&["specialist", "set", &okafor, "status", "contacted"]);
    // 3. Records: the patient's own written request (the 30-day clock).
    let req = ana.add(&[
        "request",
        "add",
        "--custodian",
        "General Hospital",
        "--item",
        "pathology_report",
        "--channel",
        "patient_request",
    ]);
    ana.ok(&["request", "event", &req, "requested_in_writing", "--date", "2024-02-12"]);
    // 4. Documentation, with a mistake: the dose typed with one zero too many.
    ana.add(&["document", "add", "Biopsy", "--kind", "pathology_report", "--date", "2024-02-05"]);
    let med = ana.add(&["medication", "add", "Metformin", "--dose", "5000 mg twice daily"]);
    ana.add(&["history", "add", "mother", "breast", "--age", "52"]);
    ana.ok(&["symptoms", "append", "Cough for 3 months"]);
    // 5. Questions.
    ana.add(&["question", "add", "Is surgery an option at this stage?"]);

    // Ben gets the case from Ana's file and joins the care team.
    let ben = Cb::new();
    swap(&ana, &ben, "to-ben.cbx");
    let ben_id = ben.add(&["caregiver", "add", "Ben", "--relationship", "son"]);
    ben.ok(&["me", "set", &ben_id]);

    // Offline on both phones.
    // Ana: the dose corrected; a "received" logged on the wrong request date retracted and logged again.
    ana.ok(&["medication", "edit", &med, "--dose", "500 mg twice daily"]);
    let wrong = ana.add(&["request", "event", &req, "received", "--date", "2024-02-13"]);
    ana.ok(&["request", "retract-event", &req, &wrong, "--reason", "that was the acknowledgement"]);
    ana.ok(&["request", "event", &req, "received", "--date", "2024-02-26"]);
    // Ben: a specialist he entered twice, retracted; 6. the consultation (yesterday 10:30, summary asked).
    let dup = ben.add(&["specialist", "add", "Dr. Okafor (again)"]);
    ben.ok(&["specialist", "remove", &dup, "--reason", "entered twice"]);
    let appt = ben.add(&["appointment", "add", "--kind", "second_opinion", "--start", "2024-02-29T10:30"]);
    ben.ok(&["appointment", "set", &appt, "summary_requested", "2024-02-29"]);
    let o2 = ben.add(&["opinion", "add", "--rank", "2", "--stage", "Stage IIIA", "--treatment", "Chemoradiation"]);

    // Back online: files both ways.
    swap(&ana, &ben, "a.cbx");
    swap(&ben, &ana, "b.cbx");
    assert_eq!(ana.state(), ben.state(), "both devices hold the same case");

    // 7. Decided together (on Ana's phone), then synced.
    ana.ok(&["decision", "record", "Chemoradiation", "--date", "2024-03-01", "--opinion", &o2, "--with", "Ben"]);
    swap(&ana, &ben, "c.cbx");
    assert_eq!(ana.state(), ben.state());

    for cb in [&ana, &ben] {
        let p = cb.json(&["progress"]);
        let open: Vec<&Value> = p["steps"].as_array().unwrap().iter().filter(|s| s["done"] != true).collect();
        assert!(open.is_empty(), "every step done: {open:?}");
        // The corrections, on both devices, and nothing lost.
        let meds = cb.json(&["medication", "list"]);
        assert_eq!((meds.as_array().unwrap().len(), meds[0]["dose"].as_str()), (1, Some("500 mg twice daily")));
        let r = cb.json(&["request", "show", &req]);
        assert_eq!(r["request"]["status"], "received");
        assert_eq!(r["request"]["answered_on"], "2024-02-26", "the retracted event does not count: {r}");
        let specialists = cb.json(&["specialist", "list"]);
        assert_eq!(specialists.as_array().unwrap().len(), 1, "{specialists}");
        let retracted = cb.json(&["retracted"]);
        let entry = retracted.as_array().unwrap().iter().find(|i| i["id"] == dup.as_str()).expect("listed");
        assert_eq!(entry["retractions"][0]["by"], ben_id.as_str());
        assert_eq!(entry["retractions"][0]["reason"], "entered twice");
        let decided = cb.json(&["decision", "show"]);
        assert_eq!(decided["decided"]["recorded_by"], ana_id.as_str());
    }
}

/// Every file of a store directory, read whole (to look for what must never be at rest).
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.extend(std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// No family locked out, through the terminal client: the invite as a link (and a QR code), a co-owner,
/// the last owner leaving only by naming a successor, last seen, and Ana's lost laptop replaced: the
/// recovery code (read from standard input) restores her account and case on a new store, as her caregiver,
/// and the lost store's token is refused.
#[test]
fn co_owners_recovery_and_last_seen_from_the_cli() {
    let relay = InProcessRelay::start();
    let (ana, case, ana_me) = Cb::with_case();
    let ben = Cb::new();
    let created = ana.json(&["account", "create", "--server", &relay.url(), "--name", "Ana"]);
    let recovery = created["recovery_code"].as_str().expect("a recovery code at account creation").to_string();
    assert!(recovery.len() >= 28, "{recovery}");
    ben.ok(&["init"]);
    ben.ok(&["account", "create", "--server", &relay.url(), "--name", "Ben"]);

    // The invite as a link; a QR code in the human output.
    let shared = ana.json(&["case", "share"]);
    let link = shared["link"].as_str().unwrap().to_string();
    assert!(link.starts_with("casebook://invite/") && link.contains("relay=http"), "{link}");
    let human = ana.ok(&["invite", "create"]);
    assert!(human.contains("casebook://invite/") && human.contains('█'), "a link and a QR code:\n{human}");
    assert!(!ana.ok(&["invite", "create", "--no-qr"]).contains('█'));
    let joined = ben.json(&["invite", "accept", &link, "--relationship", "son"]);
    assert_eq!(joined["case_id"], case.as_str());
    let ana_account = ana.json(&["account", "show"])["account_id"].as_str().unwrap().to_string();
    let ben_account = ben.json(&["account", "show"])["account_id"].as_str().unwrap().to_string();

    // Co-owners: Ana makes Ben an owner; Ben invites; Ben steps down; the last owner cannot leave.
    assert_eq!(ana.json(&["set-role", &ben_account, "owner"])["role"], "owner");
    assert!(
        ben.json(&["invite", "create"])["invite"]["code"].is_string(),
        "an owner's operation works for every owner"
    );
    assert_eq!(ben.json(&["set-role", &ben_account, "editor"])["role"], "editor");
    let (status, err) = ana.fail_json(&["remove-member", &ana_account]);
    assert_eq!((status, err["error"]["code"].as_str().unwrap()), (4, "conflict"), "{err}");

    // Last seen: after Ben syncs, Ana sees his time; a stranger learns nothing.
    ben.ok(&["sync"]);
    let members = ana.json(&["members"]);
    let ben_row = members.as_array().unwrap().iter().find(|m| m["account_id"] == ben_account.as_str()).unwrap();
    assert!(ben_row["last_synced_at"].as_u64().is_some(), "{members}");
    let synced = ana.json(&["sync"]);
    assert!(synced["others"].as_array().unwrap().iter().any(|o| o["display_name"] == "Ben"), "{synced}");
    assert!(ana.ok(&["sync"]).contains("Ben"), "the sync status names Ben's last sync");

    // The recovery code is nowhere in Ana's store.
    assert!(!store_bytes(&ana.store).windows(recovery.len()).any(|w| w == recovery.as_bytes()));
    let plain: String = recovery.chars().filter(|c| *c != '-').collect();
    assert!(!store_bytes(&ana.store).windows(plain.len()).any(|w| w == plain.as_bytes()));

    // Ana's laptop is lost: on a new store, the recovery code (from standard input) brings back her account
    // and her case, as her caregiver; the lost store's token is refused.
    let new = Cb::new();
    new.ok(&["init"]);
    let out = new.run_stdin(
        &["--json", "account", "recover", "--server", &relay.url(), "-", "--revoke-other-devices"],
        format!("{recovery}\n").as_bytes(),
    );
    assert!(out.status.success(), "recover: {}", String::from_utf8_lossy(&out.stderr));
    let recovered: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(recovered["account_id"], ana_account.as_str());
    assert_eq!(recovered["cases"], serde_json::json!([case]));
    assert_ne!(recovered["recovery_code"], recovery.as_str(), "a new recovery code");
    assert_eq!(new.json(&["me", "show"])["me"]["id"], ana_me.as_str(), "the new store writes as Ana");
    let (status, err) = ana.fail_json(&["sync", "--timeout", "5"]);
    assert_eq!(err["error"]["code"], "unauthorized", "the lost store is signed out ({status}): {err}");
    // The used code is spent.
    let again = Cb::new();
    again.ok(&["init"]);
    let out =
        again.run_stdin(&["account", "recover", "--server", &relay.url(), "-"], format!("{recovery}\n").as_bytes());
    assert!(!out.status.success());

    // The last owner leaves by naming a successor.
    new.ok(&["remove-member", &ana_account, "--successor", &ben_account]);
    let members = ben.json(&["members"]);
    assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
    assert_eq!(members[0]["role"], "owner");
}

#[test]
fn who_did_what_names_the_caregiver_of_each_device() {
    let (a, b, ana, ben) = siblings_set_the_stage_offline("Ben");

    // The field's history: every value with who set it and when, the same on both devices.
    let log = a.json(&["log", "patient/stage"]);
    assert_eq!(log, b.json(&["log", "patient/stage"]));
    let mut rows: Vec<(&str, &str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["value"].as_str().unwrap(), e["caregiver"].as_str().unwrap(), e["caregiver_id"].as_str().unwrap()))
        .collect();
    rows.sort();
    assert_eq!(rows, [("IIIA", "Ana", ana.as_str()), ("IIIB", "Ben", ben.as_str())]);
    assert!(log.as_array().unwrap().iter().all(|e| e["at"].is_i64() && e["current"] == true), "{log}");
    let text = a.ok(&["--tz", "UTC", "log", "patient/stage"]);
    assert!(text.contains("Ana: set to IIIA (current)") && text.contains("Ben: set to IIIB (current)"), "{text}");

    // The conflict names who set each value.
    let conflicts = a.json(&["conflicts"]);
    let mut by: Vec<&str> =
        conflicts[0]["set_by"].as_array().unwrap().iter().map(|b| b["caregiver"].as_str().unwrap()).collect();
    by.sort();
    assert_eq!(by, ["Ana", "Ben"]);
    let text = a.ok(&["conflicts"]);
    assert!(text.contains("(by Ana, ") && text.contains("(by Ben, "), "{text}");

    // An item's history: every field change under it; the case's creation is Ana's.
    let text = b.ok(&["log", "patient"]);
    assert!(text.contains("Ana: display_name set to Maria"), "{text}");
    assert!(text.contains("Ben: stage set to IIIB"), "{text}");
    let err = a.fail(&["log", "nope/field"]);
    assert!(err.contains("nope/field"), "{err}");
}

/// Python's `icalendar` package, for the calendar test: installed with pip if missing (the install line CI
/// runs too); a failed install fails the test, it never passes silently.
fn ensure_icalendar() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let present = || {
            Command::new("python3")
                .args(["-c", "import icalendar"])
                .output()
                .unwrap_or_else(|e| panic!("the iCalendar check needs python3, which cannot be run: {e}"))
                .status
                .success()
        };
        if present() {
            return;
        }
        let install = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "icalendar"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run `python3 -m pip install --quiet icalendar`: {e}"));
        assert!(
            install.status.success() && present(),
            "the iCalendar check needs Python's icalendar package, and `python3 -m pip install --quiet icalendar` \
             failed ({}):\n{}",
            install.status,
            String::from_utf8_lossy(&install.stderr)
        );
    });
}

/// Parse calendar files with `tests/scripts/check_ics.py` (Python's icalendar): RFC 5545 form, and from each
/// file to the next, no UID lost and a higher SEQUENCE for every event that changed. The events of each file,
/// by UID.
fn check_ics(files: &[&str]) -> Vec<Value> {
    ensure_icalendar();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join("check_ics.py");
    let out = Command::new("python3").arg(&script).args(files).output().expect("run python3 check_ics.py");
    assert!(
        out.status.success(),
        "check_ics.py {files:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("check_ics.py prints JSON");
    v.as_array().expect("one object per file").clone()
}

#[test]
fn calendar_export_parses_with_icalendar_and_a_later_export_updates_it() {
    let (cb, case, _me) = Cb::with_case();
    cb.ok(&["patient", "set", "diagnosis_date", "2024-02-20"]);
    cb.ok(&["patient", "set", "cancer_type", "Zebracarcinoma"]);
    let spec = cb.add(&["specialist", "add", "Dr Wombatson, MD; 🩺 \\ thoracic"]);
    let appt = cb.add(&[
        "appointment",
        "add",
        "--kind",
        "second_opinion",
        "--specialist",
        &spec,
        "--start",
        "2024-03-05T09:30",
        "--zone",
        "America/New_York",
        "--place",
        "Pangolin Tower, floor 3",
    ]);
    let req = cb.add(&[
        "request",
        "add",
        "--custodian",
        "Mercy Okapi",
        "--item",
        "pathology_report,pathology_slides",
        "--return-by",
        "2024-04-15",
    ]);
    cb.ok(&["request", "event", &req, "requested_in_writing", "--date", "2024-02-25"]);
    let task = cb.add(&["task", "add", "Call Axolotl about the slides", "--due", "2024-03-04"]);
    let uid = |kind: &str, id: &str| format!("{kind}-{id}@{case}.casebook");

    let first = cb.path("first.ics");
    let v = cb.json(&["calendar", "--out", &first]);
    assert_eq!(
        (v["events"].as_u64(), v["cancelled"].as_u64(), v["details"].as_bool()),
        (Some(5), Some(0), Some(false))
    );
    let text = cb.ok(&["calendar", "--out", &first]);
    assert!(text.starts_with("Wrote 5 events to "), "{text}");

    // A sibling moves the consultation and retracts the task; the next export updates the calendar.
    cb.ok(&["appointment", "set", &appt, "start", "2024-03-06T10:00"]);
    cb.ok(&["task", "remove", &task, "--reason", "entered twice"]);
    let second = cb.path("second.ics");
    let v = cb.json(&["calendar", "--out", &second]);
    assert_eq!((v["events"].as_u64(), v["cancelled"].as_u64()), (Some(5), Some(1)));

    let parsed = check_ics(&[&first, &second]);
    let (a, b) = (&parsed[0], &parsed[1]);
    let expected = [
        uid("appointment", &appt),
        uid("records-due", &req),
        uid("return-material", &req),
        uid("task", &task),
        format!("decision-date@{case}.casebook"),
    ];
    let mut uids: Vec<&String> = a.as_object().unwrap().keys().collect();
    uids.sort();
    let mut want: Vec<&String> = expected.iter().collect();
    want.sort();
    assert_eq!(uids, want, "{a}");
    let consult = uid("appointment", &appt);
    assert_eq!(a[&consult]["start"], "2024-03-05T14:30:00+00:00"); // 09:30 in New York
    assert_eq!(a[&consult]["end"], "2024-03-05T15:30:00+00:00");
    assert_eq!(b[&consult]["start"], "2024-03-06T15:00:00+00:00");
    assert!(b[&consult]["sequence"].as_u64() > a[&consult]["sequence"].as_u64());
    assert_eq!(a[&expected[1]]["start"], "2024-03-26"); // sent 02-25 + 30 days, all day
    assert_eq!(a[&expected[4]]["start"], "2024-03-19"); // diagnosis + 28 days
    let task_uid = uid("task", &task);
    assert_eq!(
        (a[&task_uid]["status"].as_str(), b[&task_uid]["status"].as_str()),
        (Some("CONFIRMED"), Some("CANCELLED"))
    );
    // Generic titles; nothing from the diagnosis, no name, no place.
    let titles: Vec<&str> = a.as_object().unwrap().values().map(|e| e["summary"].as_str().unwrap()).collect();
    for t in &titles {
        assert!(
            ["Medical appointment", "Records request due", "Return pathology material", "Task due", "Decision date"]
                .contains(t),
            "{t}"
        );
    }
    let all = a.to_string();
    for secret in ["Zebracarcinoma", "Wombatson", "Mercy Okapi", "Pangolin", "Axolotl", "Maria", "Ana"] {
        assert!(!all.contains(secret), "{secret} in the default calendar: {all}");
    }

    // With --details: names and places, escaped and folded so that icalendar reads them back exactly.
    let detailed = cb.path("details.ics");
    let run = cb.run(&["calendar", "--details", "--out", &detailed]);
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("names specialists"), "a note on stderr");
    let d = &check_ics(&[&detailed])[0];
    assert_eq!(d[&consult]["summary"], "Second-opinion consultation with Dr Wombatson, MD; 🩺 \\ thoracic");
    assert_eq!(d[&consult]["location"], "Pangolin Tower, floor 3");
    assert_eq!(d[&expected[1]]["summary"], "Records due from Mercy Okapi (legal deadline, counted from the day sent)");
    assert_eq!(d[&consult]["sequence"], b[&consult]["sequence"], "details do not change a SEQUENCE");

    // `--out -` (the default): the calendar itself on standard output, CRLF line endings.
    let out = cb.run(&["calendar"]);
    assert!(out.status.success());
    let ics = String::from_utf8(out.stdout).unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"), "{ics}");
    assert!(ics.replace("\r\n ", "").contains(&format!("UID:{consult}\r\n")));

    // The request letter, printed or written.
    let letter = cb.ok(&["letter", &req[..6]]);
    assert!(letter.contains("Mercy Okapi") && letter.contains("Patient: Maria"), "{letter}");
    assert!(letter.contains("45 CFR 164.524(b)(2)") && letter.contains("Signature of patient:"));
    let flat = letter.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("as a loan") && flat.contains("returned to you by April 15, 2024"), "{letter}");
    let file = cb.path("letter.txt");
    let v = cb.json(&["letter", &req, "--format", "portal", "--out", &file]);
    assert_eq!(v["request"], req.as_str());
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(v["letter"], written.as_str());
    assert!(written.split_whitespace().collect::<Vec<_>>().join(" ").contains("through the patient portal"));
    let err = cb.fail(&["letter", &req, "--format", "fax"]);
    assert!(err.contains("disc") && err.contains("portal") && err.contains("paper"), "{err}");
    let (_, e) = cb.fail_json(&["letter", "0000000000000000"]);
    assert!(e.to_string().contains("record request"), "{e}");
}
