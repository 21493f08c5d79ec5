//! Who did what: every change of a case is attributed to a caregiver, and a field's or an item's history
//! (every value it took, by whom and when) can be read.
//!
//! **Attribution.** A device opens each document of a case with a fresh Automerge actor, one per session
//! (the notes documents it opens share the overview's actor). The first change the session makes while
//! the device knows its caregiver (the store's "me" for the case) also writes the binding
//! `actors/<actor hex> = {caregiver, at}` into the overview document; a session that only typed text binds
//! in the change its save makes. A binding covers every change of that actor, earlier ones included (a
//! case's creation is bound once its first caregiver exists). Each actor is bound by the one device that
//! owns it, so concurrent bindings never collide. A change whose actor has no binding (a device that does
//! not know its caregiver) is shown as from an unknown device. Attribution is what devices declare about
//! themselves: a device can claim to be anyone.
//!
//! **Time.** Every local change carries its time in Automerge's change `time`: Unix seconds, from the
//! wall clock (the simulation's virtual clock under the `sim` feature). A time of 0 means none (changes
//! made before this existed, and the deterministic first changes of notes documents); a time that can
//! only be milliseconds (another client's) is read as milliseconds.
//!
//! **History.** Read on request from the document's changes (every change is decoded: fine for one field
//! or item when a user asks, not for every screen), in an order that is the same on every replica: causal
//! (a change after the changes it saw), then by time, then by change hash. Values that were overwritten,
//! concurrent values and clearings are all listed; text is listed as one "edited" entry per change, with
//! the characters it typed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};

use super::all_items;
use crate::am;
use crate::case::Case;
use crate::error::{Error, Result};
use crate::schema::ACTORS;

/// Who made a change, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attribution {
    /// The caregiver's id; `None` for a change from a device that is bound to no caregiver (an unknown
    /// device).
    pub caregiver_id: Option<String>,
    /// The caregiver's name as the care team has it now (retracted caregivers included); `None` for an
    /// unknown device, or a caregiver not (yet) in this replica's care team.
    pub caregiver: Option<String>,
    /// When, in Unix seconds (the change's time); `None` when the change carries no time.
    pub at: Option<i64>,
}

keyed_enum! {
    /// What a change did to a field.
    HistoryAction {
        /// Set a value.
        Set => "set",
        /// Cleared the field (deleted the value).
        Cleared => "cleared",
        /// Created an object: a text, a list, a map (an item, a section).
        Created => "created",
        /// Edited a text or a list.
        Edited => "edited",
        /// Resolved a conflict by keeping one of the concurrent values (the others were removed); the value
        /// kept.
        Kept => "kept",
    }
}

/// One change of one field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    /// The field, e.g. `appointments/<id>/start` (for an item's history, each field under the item).
    pub path: String,
    /// What the change did.
    pub action: HistoryAction,
    /// The value set; for a text, the characters the change typed into it (in the order typed; `None`
    /// when it only deleted); `None` when cleared, and for a map or a list.
    pub value: Option<String>,
    /// Who and when.
    #[serde(flatten)]
    pub by: Attribution,
    /// Whether this value is what the field holds now (one of its values, if they conflict). Always
    /// `false` for text edits, clearings and resolutions.
    pub current: bool,
    /// The Automerge change (hex hash), the same on every replica.
    pub change: String,
}

/// Read a change's time: Unix seconds; 0 (or less) is no time; milliseconds are recognised by their size
/// (more than 10^11, after the year 5000 in seconds).
fn time_of(t: i64) -> Option<i64> {
    match t {
        t if t <= 0 => None,
        t if t > 100_000_000_000 => Some(t / 1000),
        t => Some(t),
    }
}

/// The `actors` maps of the overview (normally one; two devices upgrading an older case offline make two).
fn actor_maps(doc: &AutoCommit) -> Vec<ObjId> {
    doc.get_all(&ROOT, ACTORS)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(v, id)| matches!(v, automerge::Value::Object(ObjType::Map)).then_some(id))
        .collect()
}

/// The caregiver an actor is bound to.
fn bound_caregiver(doc: &AutoCommit, maps: &[ObjId], actor: &str) -> Option<String> {
    maps.iter().find_map(|m| am::get_obj(doc, m, actor).and_then(|b| am::get_str(doc, &b, "caregiver")))
}

/// Bind the document's current actor to `caregiver` (first seen at `at`, Unix seconds), in its open
/// transaction; nothing if it is bound already.
pub(crate) fn bind_actor(doc: &mut AutoCommit, caregiver: &str, at: i64) -> Result<()> {
    let actor = doc.get_actor().to_hex_string();
    let maps = actor_maps(doc);
    if maps.iter().any(|m| am::get_obj(doc, m, &actor).is_some()) {
        return Ok(());
    }
    let map = match am::get_obj(doc, &ROOT, ACTORS) {
        Some(m) => m,
        None => doc.put_object(ROOT, ACTORS, ObjType::Map)?,
    };
    let binding = doc.put_object(&map, actor.as_str(), ObjType::Map)?;
    doc.put(&binding, "caregiver", caregiver)?;
    doc.put(&binding, "at", at)?;
    Ok(())
}

/// Attributes actors to caregivers through the overview's bindings (cached per actor).
pub(crate) struct Attributor<'a> {
    doc: &'a AutoCommit,
    maps: Vec<ObjId>,
    names: Option<HashMap<String, String>>,
    seen: HashMap<ActorId, Option<String>>,
    times: HashMap<ChangeHash, i64>,
}

impl<'a> Attributor<'a> {
    /// Over the overview document `doc`.
    pub(crate) fn new(doc: &'a AutoCommit) -> Self {
        Self { doc, maps: actor_maps(doc), names: None, seen: HashMap::new(), times: HashMap::new() }
    }

    /// Who wrote with `actor`, at change time `time`.
    pub(crate) fn of(&mut self, actor: &ActorId, time: i64) -> Attribution {
        let (doc, maps) = (self.doc, &self.maps);
        let caregiver_id = self
            .seen
            .entry(actor.clone())
            .or_insert_with(|| bound_caregiver(doc, maps, &actor.to_hex_string()))
            .clone();
        let caregiver = caregiver_id.as_ref().and_then(|id| {
            let names = self.names.get_or_insert_with(|| {
                all_items(doc, "care_team")
                    .into_iter()
                    .filter_map(|(id, o)| am::get_str(doc, &o, "name").map(|n| (id, n)))
                    .collect()
            });
            names.get(id).cloned()
        });
        Attribution { caregiver_id, caregiver, at: time_of(time) }
    }

    /// Who wrote the operation `op` of the overview (a value as `get_all` returns it), and when.
    pub(crate) fn of_op(&mut self, op: &ObjId) -> Attribution {
        let ObjId::Id(_, actor, _) = op else {
            return Attribution { caregiver_id: None, caregiver: None, at: None };
        };
        let doc = self.doc;
        let time = doc.hash_for_opid(op).map_or(0, |h| {
            *self.times.entry(h).or_insert_with(|| doc.get_change_by_hash(&h).map_or(0, |c| c.timestamp()))
        });
        let actor = actor.clone();
        self.of(&actor, time)
    }
}

/// An object as changes name it: the root, or the id of the operation that made it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ObjKey {
    Root,
    Id(u64, ActorId),
}

impl ObjKey {
    fn of(id: &ObjId) -> Self {
        match id {
            ObjId::Root => ObjKey::Root,
            ObjId::Id(counter, actor, _) => ObjKey::Id(*counter, actor.clone()),
        }
    }

    fn of_legacy(id: &automerge::legacy::ObjectId) -> Self {
        match id {
            automerge::legacy::ObjectId::Root => ObjKey::Root,
            automerge::legacy::ObjectId::Id(op) => ObjKey::Id(op.counter(), op.actor().clone()),
        }
    }
}

/// A map whose keys are followed.
struct WatchedMap {
    /// Its id in the document now, if it is still reachable (to tell current values).
    id: Option<ObjId>,
    /// Path of the map (`""` for the root).
    path: String,
    /// Only this key (a field's history), or every key (an item's).
    only: Option<String>,
    /// Follow the maps created under it too (an item's history).
    deep: bool,
}

/// A text or list whose edits are followed.
struct WatchedSeq {
    path: String,
    is_text: bool,
}

/// What to follow through the changes of one document.
struct Scan {
    maps: HashMap<ObjKey, WatchedMap>,
    seqs: HashMap<ObjKey, WatchedSeq>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}/{key}") }
}

/// The values a map key holds now, by operation.
fn current_ops(doc: &AutoCommit, map: &ObjId, key: &str) -> Vec<(ObjKey, ObjId)> {
    doc.get_all(map, key).unwrap_or_default().into_iter().map(|(_, id)| (ObjKey::of(&id), id)).collect()
}

/// A scalar as text (`None` for null).
fn scalar_text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Str(s) => Some(s.to_string()),
        ScalarValue::Null => None,
        other => Some(other.to_string()),
    }
}

/// Every change of `doc`, in an order every replica agrees on: causal, then by time, then by hash.
fn ordered_changes(doc: &mut AutoCommit) -> Vec<Change> {
    let changes = doc.get_changes(&[]);
    let index: HashMap<ChangeHash, usize> = changes.iter().enumerate().map(|(i, c)| (c.hash(), i)).collect();
    let mut waiting = vec![0usize; changes.len()];
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (i, c) in changes.iter().enumerate() {
        for d in c.deps() {
            if let Some(&j) = index.get(d) {
                waiting[i] += 1;
                after[j].push(i);
            }
        }
    }
    let key = |i: usize| Reverse((changes[i].timestamp(), changes[i].hash(), i));
    let mut ready: BinaryHeap<_> = (0..changes.len()).filter(|&i| waiting[i] == 0).map(key).collect();
    let mut order = Vec::with_capacity(changes.len());
    while let Some(Reverse((_, _, i))) = ready.pop() {
        order.push(i);
        for &k in &after[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.push(key(k));
            }
        }
    }
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

impl Scan {
    /// Follow `key` of the map `parent` (at `parent_path`), or every key of it (`None`, deep).
    fn new(parent: ObjId, parent_path: &str, only: Option<&str>) -> Self {
        let mut maps = HashMap::new();
        maps.insert(
            ObjKey::of(&parent),
            WatchedMap {
                id: Some(parent),
                path: parent_path.to_string(),
                only: only.map(str::to_string),
                deep: only.is_none(),
            },
        );
        Scan { maps, seqs: HashMap::new() }
    }

    /// Walk `changes` (of `doc`, from [`ordered_changes`]) and list what they did to the followed fields.
    /// `who` attributes actors; changes of actors for which `structural` holds (deterministic changes
    /// every replica makes) are followed but not listed. `Err` names a change that does not decode.
    fn run(
        mut self,
        doc: &AutoCommit,
        changes: Vec<Change>,
        who: &mut Attributor<'_>,
        structural: impl Fn(&ActorId) -> bool,
    ) -> std::result::Result<Vec<HistoryEntry>, String> {
        let mut out: Vec<HistoryEntry> = Vec::new();
        // (path, change) → entry: one entry per field and change.
        let mut at: HashMap<(String, ChangeHash), usize> = HashMap::new();
        let mut current: HashMap<(ObjKey, String), HashSet<ObjKey>> = HashMap::new();
        for change in changes {
            let expanded = crate::guard::catch(|| change.decode())?;
            let listed = !structural(change.actor_id());
            let hash = change.hash();
            let actor = change.actor_id().clone();
            let start = expanded.start_op.get();
            let mut by: Option<Attribution> = None;
            for (i, op) in expanded.operations.iter().enumerate() {
                let obj = ObjKey::of_legacy(&op.obj);
                let op_id = ObjKey::Id(start + i as u64, actor.clone());
                // An edit of a followed text or list: one entry per change, with the characters it typed.
                if let Some(seq) = self.seqs.get(&obj) {
                    if !listed {
                        continue;
                    }
                    let i = *at.entry((seq.path.clone(), hash)).or_insert_with(|| {
                        out.push(HistoryEntry {
                            path: seq.path.clone(),
                            action: HistoryAction::Edited,
                            value: None,
                            by: by.get_or_insert_with(|| who.of(&actor, change.timestamp())).clone(),
                            current: false,
                            change: hash.to_string(),
                        });
                        out.len() - 1
                    });
                    if let (true, true, automerge::legacy::OpType::Put(ScalarValue::Str(c))) =
                        (seq.is_text, op.insert, &op.action)
                    {
                        out[i].value.get_or_insert_with(String::new).push_str(c);
                    }
                    continue;
                }
                let Some(map) = self.maps.get(&obj) else { continue };
                let automerge::legacy::Key::Map(key) = &op.key else { continue };
                let key = key.to_string();
                if map.only.as_ref().is_some_and(|k| *k != key) {
                    continue;
                }
                let path = join(&map.path, &key);
                let map_id = map.id.clone();
                let deep = map.deep;
                // The map this operation made, as reachable now (to tell which of its values are current).
                let now_id = || {
                    map_id.as_ref().and_then(|m| {
                        current_ops(doc, m, &key).into_iter().find(|(k, _)| *k == op_id).map(|(_, id)| id)
                    })
                };
                let (action, value) = match &op.action {
                    automerge::legacy::OpType::Put(v) => match scalar_text(v) {
                        Some(v) => (HistoryAction::Set, Some(v)),
                        None => (HistoryAction::Cleared, None),
                    },
                    automerge::legacy::OpType::Increment(n) => (HistoryAction::Set, Some(format!("{n:+}"))),
                    automerge::legacy::OpType::Delete => {
                        // Removing some of concurrent values keeps the others: a resolved conflict.
                        let kept = map_id.as_ref().and_then(|m| {
                            let left = doc.get_all_at(m, key.as_str(), &[hash]).ok()?;
                            let (v, id) = left.last()?;
                            Some(am::value_to_string(doc, v, id).unwrap_or_default())
                        });
                        match kept {
                            Some(v) => (HistoryAction::Kept, Some(v)),
                            None => (HistoryAction::Cleared, None),
                        }
                    }
                    automerge::legacy::OpType::Make(kind) => {
                        match kind {
                            ObjType::Text | ObjType::List => {
                                let is_text = *kind == ObjType::Text;
                                self.seqs.insert(op_id.clone(), WatchedSeq { path: path.clone(), is_text });
                            }
                            ObjType::Map | ObjType::Table if deep => {
                                let id = now_id();
                                self.maps.insert(
                                    op_id.clone(),
                                    WatchedMap { id, path: path.clone(), only: None, deep: true },
                                );
                            }
                            ObjType::Map | ObjType::Table => {}
                        }
                        (HistoryAction::Created, None)
                    }
                    automerge::legacy::OpType::MarkBegin(..) | automerge::legacy::OpType::MarkEnd(_) => continue,
                };
                if !listed {
                    continue;
                }
                let is_current = !matches!(action, HistoryAction::Cleared | HistoryAction::Kept)
                    && map_id.as_ref().is_some_and(|m| {
                        current
                            .entry((obj.clone(), key.clone()))
                            .or_insert_with(|| current_ops(doc, m, &key).into_iter().map(|(k, _)| k).collect())
                            .contains(&op_id)
                    });
                let by = by.get_or_insert_with(|| who.of(&actor, change.timestamp())).clone();
                let entry = HistoryEntry {
                    path: path.clone(),
                    action,
                    value,
                    by,
                    current: is_current,
                    change: hash.to_string(),
                };
                // A later operation of the same change on the same field is what the change left there.
                match at.get(&(path.clone(), hash)) {
                    Some(&i) => out[i] = entry,
                    None => {
                        at.insert((path, hash), out.len());
                        out.push(entry);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A path split into its keys; empty keys are refused.
fn parts(path: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = path.trim().trim_matches('/').split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::InvalidInput { field: "path", reason: "expected a path such as patient/stage".into() });
    }
    Ok(parts)
}

/// The map at `keys` of the overview, from the root.
fn walk(doc: &AutoCommit, keys: &[&str], path: &str) -> Result<ObjId> {
    let mut obj = ROOT;
    for k in keys {
        obj = am::get_obj(doc, &obj, k).ok_or_else(|| Error::UnknownId { kind: "field", id: path.to_string() })?;
    }
    Ok(obj)
}

impl Case {
    /// Every value a field took, oldest first (in the same order on every replica), with who set it and
    /// when: overwritten values, concurrent ones and clearings included; a text field as one `edited` entry
    /// per change, with the characters it typed. `path` as [`Case::conflicts`] names fields: `patient/stage`,
    /// `decision/date`, `appointments/<id>/start`, `symptoms`, … and, in an appointment's notes document,
    /// `appointments/<id>/notes/<caregiver id>` and `appointments/<id>/summary`. A field never set has an
    /// empty history; a path through a map that does not exist is an unknown id.
    ///
    /// Pending edits are committed first (as a save would, without writing them). Reads every change of
    /// the document holding the field: meant for one field on request, not for every render.
    pub fn history(&mut self, path: &str) -> Result<Vec<HistoryEntry>> {
        let keys = parts(path)?;
        self.commit_all()?;
        if let Some((appointment, notes_key)) = notes_path(&self.main.doc, &keys) {
            return self.notes_history(path, &appointment, notes_key);
        }
        let (field, parents) = keys.split_last().expect("parts are never empty");
        let parent = walk(&self.main.doc, parents, path)?;
        let scan = Scan::new(parent, &parents.join("/"), Some(field));
        self.scan_main(scan)
    }

    /// Every change of every field under an item (or any map of the case: `appointments/<id>`,
    /// `patient`, `decision`, `critical/<situation>`), oldest first, one entry per field and change, maps
    /// under it included: see [`Case::history`]. An appointment's notes are not part of it (see
    /// [`Case::history`] for them).
    pub fn item_history(&mut self, path: &str) -> Result<Vec<HistoryEntry>> {
        let keys = parts(path)?;
        self.commit_all()?;
        let (last, parents) = keys.split_last().expect("parts are never empty");
        let parent = walk(&self.main.doc, parents, path)?;
        let obj = match self.main.doc.get(&parent, *last) {
            Ok(Some((automerge::Value::Object(ObjType::Map | ObjType::Table), obj))) => obj,
            Ok(Some(_)) => {
                return Err(Error::InvalidInput {
                    field: "path",
                    reason: "not an item (a map of fields): use the history of a field".into(),
                });
            }
            _ => return Err(Error::UnknownId { kind: "field", id: path.to_string() }),
        };
        let scan = Scan::new(obj, &keys.join("/"), None);
        self.scan_main(scan)
    }

    /// Whether `path` names a map of fields (an item, a section) of the overview document: what
    /// [`Case::item_history`] reads, rather than [`Case::history`].
    pub fn is_item(&self, path: &str) -> bool {
        let Ok(keys) = parts(path) else { return false };
        let doc = &self.main.doc;
        let (last, parents) = keys.split_last().expect("parts are never empty");
        walk(doc, parents, path).is_ok_and(|parent| {
            matches!(doc.get(&parent, *last), Ok(Some((automerge::Value::Object(ObjType::Map | ObjType::Table), _))))
        })
    }

    /// Run a scan over the overview document.
    fn scan_main(&mut self, scan: Scan) -> Result<Vec<HistoryEntry>> {
        let changes = ordered_changes(&mut self.main.doc);
        let doc = &self.main.doc;
        let mut who = Attributor::new(doc);
        scan.run(doc, changes, &mut who, |_| false).map_err(|reason| self.undecodable(&reason))
    }

    fn undecodable(&self, reason: &str) -> Error {
        Error::Corrupt { case: self.id().clone(), detail: format!("a change does not decode: {reason}") }
    }

    /// The history of a text of an appointment's notes document.
    fn notes_history(&mut self, path: &str, appointment: &str, notes_key: NotesKey) -> Result<Vec<HistoryEntry>> {
        let notes_doc = self.notes_doc(appointment)?.id.clone();
        self.commit_all()?;
        let prefix = notes_doc.to_document_id().as_bytes().to_vec();
        let notes = self.notes.get_mut(appointment).expect("opened above");
        let (parent, field) = match &notes_key {
            NotesKey::Summary => (ROOT, "summary".to_string()),
            NotesKey::Author(author) => (
                am::get_obj(&notes.doc, &ROOT, "notes")
                    .ok_or_else(|| Error::UnknownId { kind: "field", id: path.to_string() })?,
                author.clone(),
            ),
        };
        let parent_path = path.trim().trim_matches('/').rsplit_once('/').map_or("", |(p, _)| p).to_string();
        let scan = Scan::new(parent, &parent_path, Some(&field));
        let changes = ordered_changes(&mut notes.doc);
        let mut who = Attributor::new(&self.main.doc);
        // The notes document's first change, and each author's text in it, are made identically by every
        // replica (actors derived from the document id): structure, not anyone's edit.
        let listed = scan.run(&notes.doc, changes, &mut who, |actor| actor.to_bytes().starts_with(&prefix));
        listed.map_err(|reason| self.undecodable(&reason))
    }
}

/// A text of an appointment's notes document.
enum NotesKey {
    Summary,
    Author(String),
}

/// `appointments/<id>/notes/<author>` or `appointments/<id>/summary` of an appointment that has no field of
/// that name itself: the appointment, and the text in its notes document.
fn notes_path(doc: &AutoCommit, keys: &[&str]) -> Option<(String, NotesKey)> {
    let (appointment, key) = match keys {
        ["appointments", a, "summary"] => (*a, NotesKey::Summary),
        ["appointments", a, "notes", author] => (*a, NotesKey::Author(author.to_string())),
        _ => return None,
    };
    let appt = am::get_obj(doc, &am::get_obj(doc, &ROOT, "appointments")?, appointment)?;
    let own = match key {
        NotesKey::Summary => "summary",
        NotesKey::Author(_) => "notes",
    };
    doc.get(&appt, own).ok().flatten().is_none().then(|| (appointment.to_string(), key))
}
