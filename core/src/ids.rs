//! Identifiers: cases and documents (automerge-repo document ids) and items inside a case.

use std::fmt;
use std::str::FromStr;

use samod::DocumentId;

use crate::error::{Error, Result};

/// Identifies an Automerge document in the store: the automerge-repo document id (base58check of 16 bytes),
/// so that a case can be synced with any automerge-repo peer.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(String);

impl DocId {
    /// A fresh random document id.
    pub fn random() -> Self {
        let id = DocumentId::try_from(random_bytes().to_vec()).expect("16 random bytes are a valid document id");
        DocId(id.to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The automerge-repo document id.
    pub fn to_document_id(&self) -> DocumentId {
        DocumentId::from_str(&self.0).expect("DocId is validated on construction")
    }
}

impl FromStr for DocId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let id = DocumentId::from_str(s.trim())
            .map_err(|_| Error::InvalidInput { field: "document id", reason: "not an automerge document id".into() })?;
        Ok(DocId(id.to_string()))
    }
}

impl From<DocumentId> for DocId {
    fn from(id: DocumentId) -> Self {
        DocId(id.to_string())
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0)
    }
}

/// A case is identified by the id of its main (overview) document.
pub type CaseId = DocId;

/// A fresh id for an item inside a case (specialist, request, question …): 16 hex digits.
pub fn new_item_id() -> String {
    random_bytes()[..8].iter().map(|x| format!("{x:02x}")).collect()
}

/// A fresh Automerge actor id for a document this device edits.
pub(crate) fn fresh_actor() -> automerge::ActorId {
    automerge::ActorId::from(random_bytes().to_vec())
}

#[cfg(feature = "sim")]
thread_local! {
    /// The deterministic simulation's generator for this thread, when one runs.
    static SEEDED: std::cell::RefCell<Option<rand::rngs::StdRng>> = const { std::cell::RefCell::new(None) };
}

/// Make this thread's ids (documents, items, actors) come from a generator seeded with `seed`, or from the
/// OS again with `None`. For the deterministic simulation only: ids must be unique across devices.
#[cfg(feature = "sim")]
pub(crate) fn seed_thread(seed: Option<u64>) {
    use rand::SeedableRng;
    SEEDED.with(|s| *s.borrow_mut() = seed.map(rand::rngs::StdRng::seed_from_u64));
}

/// 16 random bytes: from the OS, or from the simulation's seeded generator while one runs on this thread.
fn random_bytes() -> [u8; 16] {
    #[cfg(feature = "sim")]
    {
        use rand::RngCore;
        if let Some(b) = SEEDED.with(|s| {
            s.borrow_mut().as_mut().map(|r| {
                let mut b = [0u8; 16];
                r.fill_bytes(&mut b);
                b
            })
        }) {
            return b;
        }
    }
    *uuid::Uuid::new_v4().as_bytes()
}

impl serde::Serialize for DocId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
