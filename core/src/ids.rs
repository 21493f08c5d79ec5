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
        let id = DocumentId::try_from(uuid::Uuid::new_v4().as_bytes().to_vec())
            .expect("16 random bytes are a valid document id");
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
    let u = uuid::Uuid::new_v4();
    let b = u.as_bytes();
    b[..8].iter().map(|x| format!("{x:02x}")).collect()
}

impl serde::Serialize for DocId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
