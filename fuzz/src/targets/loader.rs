//! `loader`: stored chunks under a case's keys → [`Store::open_case`], then every document of the case
//! read. Input: one selector byte, then a chunk's bytes. Below 0x80 the selector replaces the n-th existing
//! chunk (modulo their count); from 0x80 it adds a new snapshot (odd) or incremental (even) chunk to the
//! case document (bit 1 clear) or the notes document (bit 1 set). Invariants: no panic (opening, reading,
//! exporting); an error names the case.

use std::sync::Arc;

use casebook_core::model::text::TextField;
use casebook_core::{CaseId, Store};
use rand::Rng;
use rand::rngs::StdRng;

use super::exchange::kind;
use super::{CopyStorage, sample_case};
use crate::{Target, mutate};

/// The target.
pub struct Loader {
    template: CopyStorage,
    case: CaseId,
    notes_doc: String,
    appt: String,
    keys: Vec<String>,
}

impl Loader {
    /// A sample case with enough edits for a snapshot plus incremental chunks.
    pub fn new() -> anyhow::Result<Self> {
        let template = CopyStorage::default();
        let store = Store::with_storage(Arc::new(template.clone()));
        let (mut case, me, appt) = sample_case(&store)?;
        let notes = TextField::AppointmentNotes { appointment: appt.clone(), author: me };
        // Past the compaction threshold (256 chunks): a snapshot, then a few incremental chunks.
        for i in 0..300 {
            case.append_text(&notes, &format!(" {i}"))?;
            case.set_patient(casebook_core::model::patient::PatientField::Stage, Some("II"))?;
            case.save()?;
        }
        let case_id = case.id().clone();
        let keys: Vec<String> =
            template.dump().into_keys().filter(|k| k.contains("/incremental/") || k.contains("/snapshot/")).collect();
        let notes_doc = keys
            .iter()
            .map(|k| k.split('/').next().unwrap_or_default().to_string())
            .find(|d| d != case_id.as_str())
            .unwrap_or_default();
        Ok(Loader { template, case: case_id, notes_doc, appt, keys })
    }
}

impl Target for Loader {
    fn name(&self) -> &'static str {
        "loader"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let dump = self.template.dump();
        // Every snapshot, and a few incremental chunks of each document.
        let mut seeds = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            if k.contains("/snapshot/") || i % 40 == 0 {
                let mut s = vec![i as u8 & 0x7f];
                s.extend_from_slice(&dump[k]);
                seeds.push(s);
            }
        }
        seeds
    }

    fn mutate(&mut self, input: &[u8], corpus: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
        let Some((&sel, rest)) = input.split_first() else {
            return mutate::bytes(input, corpus, rng);
        };
        let sel = if rng.random_ratio(1, 4) { rng.random() } else { sel };
        let mut out = vec![sel];
        out.extend(mutate::bytes(rest, corpus, rng));
        out
    }

    fn exec(&mut self, input: &[u8]) -> Result<(), String> {
        let Some((&sel, chunk)) = input.split_first() else {
            return Ok(());
        };
        let storage = self.template.deep_copy();
        if sel < 0x80 {
            let k = &self.keys[sel as usize % self.keys.len()];
            storage.put_raw(k, chunk);
        } else {
            let doc = if sel & 2 == 0 { self.case.as_str() } else { self.notes_doc.as_str() };
            let kind = if sel & 1 == 1 { "snapshot" } else { "incremental" };
            storage.put_raw(&format!("{doc}/{kind}/fuzz"), chunk);
        }
        let store = Store::with_storage(Arc::new(storage));
        let names_case = |e: &casebook_core::Error, what: &str| {
            if e.to_string().contains(self.case.as_str()) {
                Ok(())
            } else {
                Err(format!("{what}: a {} error that does not name the case", kind(e)))
            }
        };
        let mut case = match store.open_case(&self.case) {
            Ok(c) => c,
            Err(e) => return names_case(&e, "open_case"),
        };
        if let Err(e) = case.state() {
            return names_case(&e, "state");
        }
        if let Err(e) = case.notes(&self.appt) {
            return names_case(&e, "notes");
        }
        // A document that loaded must also re-encode (export reads every change).
        if let Err(e) = store.export_changes(&self.case, None) {
            return names_case(&e, "export");
        }
        Ok(())
    }
}
