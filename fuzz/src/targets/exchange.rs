//! `exchange`: [`Store::import_changes`] against an in-memory store that holds a case. Invariants: no
//! panic; a refused file gives a typed error (`BadExchange` or `NewerSchema`) and leaves the store byte for
//! byte unchanged; an accepted file leaves every case it touched openable.

use std::sync::Arc;

use casebook_core::model::text::TextField;
use casebook_core::{CaseId, Error, Store};
use rand::Rng;
use rand::rngs::StdRng;

use super::{CopyStorage, sample_case};
use crate::{Target, mutate};

/// The target.
pub struct Exchange {
    template: CopyStorage,
    case: CaseId,
    seeds: Vec<Vec<u8>>,
}

impl Exchange {
    /// A store with a sample case, and exchange files of it as seeds.
    pub fn new() -> anyhow::Result<Self> {
        let template = CopyStorage::default();
        let store = Store::with_storage(Arc::new(template.clone()));
        let (mut case, me, appt) = sample_case(&store)?;
        let id = case.id().clone();
        let state_a = case.state()?;
        let full = store.export_changes(&id, None)?;
        // Ben imports, edits twice; files since Ana's state and since Ben's first edit.
        let ben = Store::with_storage(Arc::new(CopyStorage::default()));
        ben.import_changes(&full)?;
        let mut b = ben.open_case(&id)?;
        let notes = TextField::AppointmentNotes { appointment: appt, author: me };
        b.append_text(&notes, " Wants a PET scan.")?;
        b.save()?;
        let state_b1 = b.state()?;
        let since_a = ben.export_changes(&id, Some(&state_a))?;
        b.append_text(&notes, " And a biopsy.")?;
        b.save()?;
        let since_b1 = ben.export_changes(&id, Some(&state_b1))?;
        let empty = store.export_changes(&id, Some(&case.state()?))?;
        Ok(Exchange { template, case: id, seeds: vec![full, since_a, since_b1, empty] })
    }
}

/// An exchange file split into its header and its change blobs.
struct Parsed {
    header: serde_json::Value,
    blobs: Vec<Vec<u8>>,
}

fn parse(file: &[u8]) -> Option<Parsed> {
    if file.len() < 12 || &file[..8] != b"CBXCHG01" {
        return None;
    }
    let hlen = u32::from_le_bytes(file[8..12].try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(file.get(12..12 + hlen)?).ok()?;
    let mut offset = 12 + hlen;
    let mut blobs = Vec::new();
    for d in header.get("docs")?.as_array()? {
        for len in d.get("changes")?.as_array()? {
            let len = len.as_u64()? as usize;
            blobs.push(file.get(offset..offset + len)?.to_vec());
            offset += len;
        }
    }
    Some(Parsed { header, blobs })
}

/// Re-encode, fixing the header's change lengths to the blobs (in order) unless `keep_lengths`.
fn encode(mut p: Parsed, keep_lengths: bool) -> Vec<u8> {
    if !keep_lengths {
        let mut blobs = p.blobs.iter();
        if let Some(docs) = p.header.get_mut("docs").and_then(|d| d.as_array_mut()) {
            for d in docs {
                if let Some(changes) = d.get_mut("changes").and_then(|c| c.as_array_mut()) {
                    for c in changes.iter_mut() {
                        *c = blobs.next().map_or(0, Vec::len).into();
                    }
                }
            }
        }
    }
    let header = serde_json::to_vec(&p.header).unwrap_or_default();
    let mut out = b"CBXCHG01".to_vec();
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    for b in p.blobs {
        out.extend_from_slice(&b);
    }
    out
}

impl Target for Exchange {
    fn name(&self) -> &'static str {
        "exchange"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        self.seeds.clone()
    }

    fn mutate(&mut self, input: &[u8], corpus: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
        let Some(mut p) = parse(input) else {
            return mutate::bytes(input, corpus, rng);
        };
        match rng.random_range(0..5) {
            // A damaged change, lengths kept consistent so it reaches Automerge's decoder.
            0 | 1 if !p.blobs.is_empty() => {
                let i = rng.random_range(0..p.blobs.len());
                p.blobs[i] = mutate::bytes(&p.blobs[i], corpus, rng);
                encode(p, false)
            }
            // A hostile header.
            2 => {
                let h = serde_json::to_vec(&p.header).unwrap_or_default();
                p.header = serde_json::from_slice(&mutate::json(&h, &[], rng)).unwrap_or_default();
                encode(p, rng.random_ratio(1, 2))
            }
            // Changes dropped, duplicated or swapped with another file's.
            3 if !p.blobs.is_empty() => {
                let i = rng.random_range(0..p.blobs.len());
                match rng.random_range(0..3) {
                    0 => p.blobs[i].clear(),
                    1 => {
                        let j = rng.random_range(0..p.blobs.len());
                        p.blobs.swap(i, j);
                    }
                    _ => {
                        if let Some(other) = parse(&corpus[rng.random_range(0..corpus.len())])
                            && !other.blobs.is_empty()
                        {
                            p.blobs[i] = other.blobs[rng.random_range(0..other.blobs.len())].clone();
                        }
                    }
                }
                encode(p, false)
            }
            _ => mutate::bytes(input, corpus, rng),
        }
    }

    fn exec(&mut self, input: &[u8]) -> Result<(), String> {
        let storage = self.template.deep_copy();
        let before = storage.dump();
        let store = Store::with_storage(Arc::new(storage.clone()));
        match store.import_changes(input) {
            Ok(report) => {
                store.open_case(&report.case).map_err(|e| format!("an imported case does not open: {}", kind(&e)))?;
                store.open_case(&self.case).map_err(|e| format!("the existing case no longer opens: {}", kind(&e)))?;
                Ok(())
            }
            Err(e) => {
                if storage.dump() != before {
                    return Err(format!("a refused import ({}) changed the store", kind(&e)));
                }
                match e {
                    Error::BadExchange(_) | Error::NewerSchema { .. } => Ok(()),
                    other => Err(format!("untyped import error: {}", kind(&other))),
                }
            }
        }
    }
}

/// The error's variant (findings are deduplicated by message, so no details).
pub(crate) fn kind(e: &Error) -> &'static str {
    match e {
        Error::CaseNotFound(_) => "CaseNotFound",
        Error::UnknownId { .. } => "UnknownId",
        Error::InvalidInput { .. } => "InvalidInput",
        Error::ImpossibleDate { .. } => "ImpossibleDate",
        Error::Retracted { .. } => "Retracted",
        Error::TextIndex { .. } => "TextIndex",
        Error::NewerSchema { .. } => "NewerSchema",
        Error::Corrupt { .. } => "Corrupt",
        Error::BadExchange(_) => "BadExchange",
        Error::Storage(_) => "Storage",
        Error::Automerge(_) => "Automerge",
    }
}
