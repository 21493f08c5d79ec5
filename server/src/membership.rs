//! Membership rules: who may do what in a case, and what a role means on the wire. Pure functions.
//!
//! - Every member (owner, editor, viewer) lists members and reads the case.
//! - Editors and owners register documents of the case (its appointments' notes).
//! - A case has one or more owners. Every owner invites, removes others (owners included) and changes roles
//!   (owner included: making a member a co-owner, stepping down, demoting another owner). Invites grant
//!   editor or viewer, never owner.
//! - Anyone may leave, and an owner may step down, as long as another owner remains: the last owner can
//!   neither leave, step down nor be removed ([`LAST_OWNER_LEAVES`]). It may leave naming a successor,
//!   who becomes owner in the same write ([`check_leave_naming`]).
//! - On the wire: owner and editor read-write, viewer read-only, everyone else nothing. A case over its
//!   storage quota is read-only for everyone.

use casebook_core::relay_api::Role;
use samod::ShareConfig;

use crate::error::{Error, Result};

/// Why the last owner cannot leave (or be removed).
pub(crate) const LAST_OWNER_LEAVES: &str =
    "the last owner cannot leave; make another member an owner first, or name a successor";
/// Why the last owner cannot step down.
pub(crate) const LAST_OWNER_STEPS_DOWN: &str = "the last owner cannot step down; make another member an owner first";

/// May this role register another document of the case?
pub(crate) fn check_register_document(role: Role) -> Result<()> {
    match role {
        Role::Owner | Role::Editor => Ok(()),
        Role::Viewer => Err(Error::Forbidden("viewers cannot add documents to a case")),
    }
}

/// May this role create an invite granting `granted`?
pub(crate) fn check_invite(role: Role, granted: Role) -> Result<()> {
    if role != Role::Owner {
        return Err(Error::Forbidden("only a case owner can invite"));
    }
    if granted == Role::Owner {
        return Err(Error::InvalidInput(
            "an invite grants editor or viewer, not owner; make a member an owner once they have joined".into(),
        ));
    }
    Ok(())
}

/// May `actor` (with `actor_role`) remove `target` (with `target_role`) from a case that has `owners`
/// owners? Removing oneself is leaving.
pub(crate) fn check_remove(
    actor: &str,
    actor_role: Role,
    target: &str,
    target_role: Role,
    owners: usize,
) -> Result<()> {
    if actor != target && actor_role != Role::Owner {
        return Err(Error::Forbidden("only a case owner can remove other members"));
    }
    if target_role == Role::Owner && owners <= 1 {
        return Err(Error::Conflict(LAST_OWNER_LEAVES));
    }
    Ok(())
}

/// May `actor` (with `actor_role`) change `target`'s role (`target_role`) to `new_role` in a case that has
/// `owners` owners?
pub(crate) fn check_change_role(
    actor: &str,
    actor_role: Role,
    target: &str,
    target_role: Role,
    new_role: Role,
    owners: usize,
) -> Result<()> {
    if actor_role != Role::Owner {
        return Err(Error::Forbidden("only a case owner can change roles"));
    }
    if target_role == Role::Owner && new_role != Role::Owner && owners <= 1 {
        // Only the actor itself can be the last owner here.
        debug_assert_eq!(actor, target);
        return Err(Error::Conflict(LAST_OWNER_STEPS_DOWN));
    }
    Ok(())
}

/// May `actor` (with `actor_role`) leave naming `successor` (a member with `successor_role`, `None` if
/// not a member), who becomes an owner in the same write?
pub(crate) fn check_leave_naming(
    actor: &str,
    actor_role: Role,
    successor: &str,
    successor_role: Option<Role>,
) -> Result<()> {
    if actor_role != Role::Owner {
        return Err(Error::Forbidden("only a case owner can name a successor"));
    }
    if actor == successor {
        return Err(Error::InvalidInput("the successor must be another member".into()));
    }
    if successor_role.is_none() {
        return Err(Error::NotFound("no such member"));
    }
    Ok(())
}

/// How a document is shared with a device whose account has `role` in the document's case.
pub(crate) fn share_config(role: Option<Role>, case_over_quota: bool) -> ShareConfig {
    match role {
        None => ShareConfig::none(),
        Some(Role::Viewer) => ShareConfig::read_only(),
        Some(Role::Owner | Role::Editor) if case_over_quota => ShareConfig::read_only(),
        Some(Role::Owner | Role::Editor) => ShareConfig::read_write(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samod::ShareAccess;

    #[test]
    fn documents_by_editors_and_owners() {
        assert!(check_register_document(Role::Owner).is_ok());
        assert!(check_register_document(Role::Editor).is_ok());
        assert!(matches!(check_register_document(Role::Viewer), Err(Error::Forbidden(_))));
    }

    #[test]
    fn only_owners_invite_and_never_to_owner() {
        assert!(check_invite(Role::Owner, Role::Editor).is_ok());
        assert!(check_invite(Role::Owner, Role::Viewer).is_ok());
        assert!(matches!(check_invite(Role::Owner, Role::Owner), Err(Error::InvalidInput(_))));
        assert!(matches!(check_invite(Role::Editor, Role::Viewer), Err(Error::Forbidden(_))));
        assert!(matches!(check_invite(Role::Viewer, Role::Viewer), Err(Error::Forbidden(_))));
    }

    #[test]
    fn removal_and_leaving() {
        assert!(check_remove("o", Role::Owner, "e", Role::Editor, 1).is_ok());
        assert!(check_remove("e", Role::Editor, "e", Role::Editor, 1).is_ok());
        assert!(check_remove("v", Role::Viewer, "v", Role::Viewer, 1).is_ok());
        assert!(matches!(check_remove("e", Role::Editor, "v", Role::Viewer, 1), Err(Error::Forbidden(_))));
        assert!(matches!(check_remove("e", Role::Editor, "o", Role::Owner, 1), Err(Error::Forbidden(_))));
        assert!(matches!(check_remove("e", Role::Editor, "o", Role::Owner, 2), Err(Error::Forbidden(_))));
        // The last owner cannot leave; one of two can, and an owner may remove another owner.
        assert!(matches!(check_remove("o", Role::Owner, "o", Role::Owner, 1), Err(Error::Conflict(LAST_OWNER_LEAVES))));
        assert!(check_remove("o", Role::Owner, "o", Role::Owner, 2).is_ok());
        assert!(check_remove("o", Role::Owner, "p", Role::Owner, 2).is_ok());
    }

    #[test]
    fn role_changes() {
        assert!(check_change_role("o", Role::Owner, "e", Role::Editor, Role::Viewer, 1).is_ok());
        assert!(check_change_role("o", Role::Owner, "e", Role::Editor, Role::Owner, 1).is_ok(), "co-owner");
        assert!(matches!(
            check_change_role("e", Role::Editor, "v", Role::Viewer, Role::Editor, 1),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_change_role("e", Role::Editor, "e", Role::Editor, Role::Owner, 1),
            Err(Error::Forbidden(_))
        ));
        // Stepping down: not as the last owner.
        assert!(matches!(
            check_change_role("o", Role::Owner, "o", Role::Owner, Role::Editor, 1),
            Err(Error::Conflict(LAST_OWNER_STEPS_DOWN))
        ));
        assert!(check_change_role("o", Role::Owner, "o", Role::Owner, Role::Viewer, 2).is_ok());
        assert!(check_change_role("o", Role::Owner, "o", Role::Owner, Role::Owner, 1).is_ok(), "no change");
        // Demoting another owner.
        assert!(check_change_role("o", Role::Owner, "p", Role::Owner, Role::Editor, 2).is_ok());
    }

    #[test]
    fn leaving_with_a_successor() {
        assert!(check_leave_naming("o", Role::Owner, "e", Some(Role::Editor)).is_ok());
        assert!(check_leave_naming("o", Role::Owner, "p", Some(Role::Owner)).is_ok());
        assert!(matches!(check_leave_naming("o", Role::Owner, "o", Some(Role::Owner)), Err(Error::InvalidInput(_))));
        assert!(matches!(check_leave_naming("o", Role::Owner, "x", None), Err(Error::NotFound(_))));
        assert!(matches!(check_leave_naming("e", Role::Editor, "v", Some(Role::Viewer)), Err(Error::Forbidden(_))));
    }

    #[test]
    fn wire_access_follows_role_and_quota() {
        assert_eq!(share_config(None, false).access, ShareAccess::None);
        assert_eq!(share_config(Some(Role::Viewer), false).access, ShareAccess::ReadOnly);
        assert_eq!(share_config(Some(Role::Editor), false).access, ShareAccess::ReadWrite);
        assert_eq!(share_config(Some(Role::Owner), false).access, ShareAccess::ReadWrite);
        assert_eq!(share_config(Some(Role::Owner), true).access, ShareAccess::ReadOnly);
        assert_eq!(share_config(Some(Role::Editor), true).access, ShareAccess::ReadOnly);
        assert!(!share_config(None, true).announce);
    }
}
