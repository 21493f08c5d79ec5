//! Kill -9 durability: a writer process is killed right after acknowledged edits; the store reopens with
//! every acknowledged edit present. Kills per run: `CASEBOOK_KILLS` (default 5).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use casebook_core::Store;

const WRITER: &str = env!("CARGO_BIN_EXE_durable_writer");

fn kills() -> u64 {
    std::env::var("CASEBOOK_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(5)
}

#[test]
fn acknowledged_edits_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut ids: Option<(String, String, String)> = None;
    let mut next = 0u64;
    for round in 0..kills() {
        let mut cmd = Command::new(WRITER);
        cmd.arg(&store_dir);
        match &ids {
            None => cmd.arg("new"),
            Some((c, a, w)) => cmd.args([c, a, w, &next.to_string()]),
        };
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        if ids.is_none() {
            let line = lines.next().unwrap().unwrap();
            let parts: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(parts[0], "CASE");
            ids = Some((parts[1].into(), parts[2].into(), parts[3].into()));
        }
        // Let it write a varying number of edits, then kill it without warning right after an ack.
        let want = 5 + (round * 37) % 60;
        let mut last_ack = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            let n: u64 = line.strip_prefix("ACK ").unwrap().parse().unwrap();
            last_ack = Some(n);
            if n + 1 >= next + want {
                break;
            }
        }
        if round % 2 == 1 {
            std::thread::sleep(Duration::from_millis(3)); // sometimes mid-write of the next edit
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acks printed after our last read also count: drain what the pipe still holds.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("ACK ").and_then(|n| n.parse().ok()) {
                last_ack = Some(n);
            }
        }
        let last_ack = last_ack.expect("the writer acknowledged edits");

        let (case_id, appt, _) = ids.clone().unwrap();
        let store = Store::open(&store_dir).expect("the store opens after a kill");
        let mut case = store.open_case(&case_id.parse().unwrap()).expect("the case opens after a kill");
        let notes = case.notes(&appt).unwrap();
        let text = &notes.by_author[0].text;
        for i in 0..=last_ack {
            assert!(text.contains(&format!("[{i} é😀]")), "round {round}: acknowledged edit {i} lost");
        }
        // Everything present is whole: tokens are never torn.
        assert_eq!(text.matches('[').count(), text.matches(']').count());
        next = text.matches('[').count() as u64;
        assert!(next > last_ack);
    }
}
