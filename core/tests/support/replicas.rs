//! Two replicas of one case on in-memory stores, exchanging everything through exchange files: what the
//! model tests use to merge offline edits in either order.

#![allow(dead_code, unreachable_pub)]

use casebook_core::{Case, Store};

/// A second replica of `case` (saved first), made from the changes of `store`.
pub fn replica_of(store: &Store, case: &mut Case) -> (Store, Case) {
    case.save().unwrap();
    let b = Store::in_memory();
    b.import_changes(&store.export_changes(case.id(), None).unwrap()).unwrap();
    let cb = b.open_case(case.id()).unwrap();
    (b, cb)
}

/// Send everything each replica has to the other (`a_first`: A's changes reach B first) and reopen both.
pub fn exchange(a: &Store, ca: &mut Case, b: &Store, cb: &mut Case, a_first: bool) {
    ca.save().unwrap();
    cb.save().unwrap();
    let id = ca.id().clone();
    let (fa, fb) = (a.export_changes(&id, None).unwrap(), b.export_changes(&id, None).unwrap());
    if a_first {
        b.import_changes(&fa).unwrap();
        a.import_changes(&fb).unwrap();
    } else {
        a.import_changes(&fb).unwrap();
        b.import_changes(&fa).unwrap();
    }
    *ca = a.open_case(&id).unwrap();
    *cb = b.open_case(&id).unwrap();
}
