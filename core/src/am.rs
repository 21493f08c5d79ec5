//! Small typed helpers over a raw Automerge document: read and write scalars, find child objects, and
//! convert text positions. Everything that touches automerge's untyped API for the model goes through here.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value};

use crate::error::{Error, Result};

/// The text unit of the public API and of every document we open: UTF-16 code units, as Kotlin, Swift and
/// JavaScript count them.
pub(crate) const TEXT_ENCODING: automerge::TextEncoding = automerge::TextEncoding::Utf16CodeUnit;

/// A string value, whether stored as a scalar string or as a Text object (JS clients write Text).
pub(crate) fn value_to_string(doc: &AutoCommit, v: &Value<'_>, id: &ObjId) -> Option<String> {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            ScalarValue::Int(i) => Some(i.to_string()),
            ScalarValue::Uint(i) => Some(i.to_string()),
            ScalarValue::F64(f) => Some(f.to_string()),
            ScalarValue::Boolean(b) => Some(b.to_string()),
            ScalarValue::Null => None,
            other => Some(other.to_string()),
        },
        Value::Object(ObjType::Text) => doc.text(id).ok(),
        Value::Object(_) => None,
    }
}

/// The winning string at `obj[key]`.
pub(crate) fn get_str(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key) {
        Ok(Some((v, id))) => value_to_string(doc, &v, &id),
        _ => None,
    }
}

/// The winning unsigned integer at `obj[key]`.
pub(crate) fn get_u64(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<u64> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Uint(u) => Some(*u),
            ScalarValue::Int(i) if *i >= 0 => Some(*i as u64),
            ScalarValue::F64(f) if *f >= 0.0 => Some(*f as u64),
            _ => None,
        },
        _ => None,
    }
}

/// The winning boolean at `obj[key]` (absent is `false`).
pub(crate) fn get_bool(doc: &AutoCommit, obj: &ObjId, key: &str) -> bool {
    matches!(doc.get(obj, key), Ok(Some((Value::Scalar(s), _))) if matches!(s.as_ref(), ScalarValue::Boolean(true)))
}

/// The winning boolean at `obj[key]`, or `None` when absent or not a boolean.
pub(crate) fn get_opt_bool(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<bool> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Boolean(b) => Some(*b),
            _ => None,
        },
        _ => None,
    }
}

/// The child object at `obj[key]`, if it is an object.
pub(crate) fn get_obj(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(_), id))) => Some(id),
        _ => None,
    }
}

/// The child object at `obj[key]`, or a typed "unknown id" error.
pub(crate) fn child(doc: &AutoCommit, obj: &ObjId, key: &str, kind: &'static str) -> Result<ObjId> {
    get_obj(doc, obj, key).ok_or_else(|| Error::UnknownId { kind, id: key.to_string() })
}

/// A map object at the document root, created at case creation.
pub(crate) fn root_map(doc: &AutoCommit, key: &str) -> Result<ObjId> {
    get_obj(doc, &automerge::ROOT, key)
        .ok_or_else(|| Error::InvalidInput { field: "document", reason: format!("missing section {key}") })
}

/// Put a string, or delete the key when `value` is `None`.
pub(crate) fn put_opt_str(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: Option<&str>) -> Result<()> {
    match value {
        Some(v) => doc.put(obj, key, v)?,
        None => {
            if doc.get(obj, key)?.is_some() {
                doc.delete(obj, key)?
            }
        }
    }
    Ok(())
}

/// Keys of a map object, sorted.
pub(crate) fn keys(doc: &AutoCommit, obj: &ObjId) -> Vec<String> {
    doc.keys(obj).collect()
}

/// Checks a splice of `delete` units at `index` against a text object and returns the text length.
/// Refuses positions past the end and positions between the two halves of a surrogate pair.
pub(crate) fn check_splice(doc: &AutoCommit, text: &ObjId, index: usize, delete: usize) -> Result<usize> {
    let len = doc.length(text);
    let err = |reason| Error::TextIndex { index, delete, len, reason };
    let end = index.checked_add(delete).ok_or_else(|| err("overflow"))?;
    if end > len {
        return Err(err("past the end of the text"));
    }
    let ends = if end == index { &[index][..] } else { &[index, end][..] };
    for &pos in ends {
        if pos > 0 && pos < len {
            let before = doc.get(text, pos - 1)?;
            // The unit before `pos` is a whole character: `pos` starts the next one (one lookup, not two).
            if let Some((Value::Scalar(s), _)) = &before
                && let ScalarValue::Str(c) = s.as_ref()
                && c.encode_utf16().count() == 1
            {
                continue;
            }
            let before = before.map(|(_, id)| id);
            let at = doc.get(text, pos)?.map(|(_, id)| id);
            if before.is_some() && before == at {
                return Err(err("inside a character (between two UTF-16 surrogates)"));
            }
        }
    }
    Ok(len)
}

/// Create a Text object at `obj[key]` holding `initial`.
pub(crate) fn put_text(doc: &mut AutoCommit, obj: &ObjId, key: &str, initial: &str) -> Result<ObjId> {
    let t = doc.put_object(obj, key, ObjType::Text)?;
    if !initial.is_empty() {
        doc.splice_text(&t, 0, 0, initial)?;
    }
    Ok(t)
}

/// Read a text field, tolerating a plain string written by another client.
pub(crate) fn get_text(doc: &AutoCommit, obj: &ObjId, key: &str) -> String {
    get_str(doc, obj, key).unwrap_or_default()
}

/// The string at index `i` of a list.
pub(crate) fn value_at(doc: &AutoCommit, list: &ObjId, i: usize) -> Option<String> {
    match doc.get(list, i) {
        Ok(Some((v, id))) => value_to_string(doc, &v, &id),
        _ => None,
    }
}
