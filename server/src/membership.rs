//! Membership rules: who may do what in a case, and what a role means on the wire. Pure functions.
//!
//! - Every member (owner, editor, viewer) lists members and reads the case.
//! - Editors and owners register documents of the case (its appointments' notes).
//! - Only the owner invites, removes others and changes roles; invites grant editor or viewer, never owner.
//! - Anyone but the owner may leave; the owner's role cannot be changed (ownership is not transferable).
//! - On the wire: owner and editor read-write, viewer read-only, everyone else nothing. A case over its
//!   storage quota is read-only for everyone.

use casebook_core::relay_api::Role;
use samod::ShareConfig;

use crate::error::{Error, Result};

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
        return Err(Error::Forbidden("only the case owner can invite"));
    }
    if granted == Role::Owner {
        return Err(Error::InvalidInput("an invite grants editor or viewer, not owner".into()));
    }
    Ok(())
}

/// May `actor` (with `actor_role`) remove `target` (with `target_role`) from the case? Removing oneself
/// is leaving.
pub(crate) fn check_remove(actor: &str, actor_role: Role, target: &str, target_role: Role) -> Result<()> {
    if actor == target {
        if actor_role == Role::Owner {
            return Err(Error::Conflict("the owner cannot leave the case"));
        }
        return Ok(());
    }
    if actor_role != Role::Owner {
        return Err(Error::Forbidden("only the case owner can remove other members"));
    }
    if target_role == Role::Owner {
        return Err(Error::Conflict("the owner cannot be removed"));
    }
    Ok(())
}

/// May `actor` change `target`'s role to `new_role`?
pub(crate) fn check_change_role(actor: &str, actor_role: Role, target: &str, new_role: Role) -> Result<()> {
    if actor_role != Role::Owner {
        return Err(Error::Forbidden("only the case owner can change roles"));
    }
    if new_role == Role::Owner {
        return Err(Error::InvalidInput("ownership is not transferable; choose editor or viewer".into()));
    }
    if actor == target {
        return Err(Error::Conflict("the owner's role cannot be changed"));
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
    fn only_owner_invites_and_never_to_owner() {
        assert!(check_invite(Role::Owner, Role::Editor).is_ok());
        assert!(check_invite(Role::Owner, Role::Viewer).is_ok());
        assert!(matches!(check_invite(Role::Owner, Role::Owner), Err(Error::InvalidInput(_))));
        assert!(matches!(check_invite(Role::Editor, Role::Viewer), Err(Error::Forbidden(_))));
        assert!(matches!(check_invite(Role::Viewer, Role::Viewer), Err(Error::Forbidden(_))));
    }

    #[test]
    fn removal_and_leaving() {
        assert!(check_remove("o", Role::Owner, "e", Role::Editor).is_ok());
        assert!(check_remove("e", Role::Editor, "e", Role::Editor).is_ok());
        assert!(check_remove("v", Role::Viewer, "v", Role::Viewer).is_ok());
        assert!(matches!(check_remove("o", Role::Owner, "o", Role::Owner), Err(Error::Conflict(_))));
        assert!(matches!(check_remove("e", Role::Editor, "v", Role::Viewer), Err(Error::Forbidden(_))));
        assert!(matches!(check_remove("e", Role::Editor, "o", Role::Owner), Err(Error::Forbidden(_))));
    }

    #[test]
    fn role_changes() {
        assert!(check_change_role("o", Role::Owner, "e", Role::Viewer).is_ok());
        assert!(matches!(check_change_role("o", Role::Owner, "e", Role::Owner), Err(Error::InvalidInput(_))));
        assert!(matches!(check_change_role("o", Role::Owner, "o", Role::Editor), Err(Error::Conflict(_))));
        assert!(matches!(check_change_role("e", Role::Editor, "v", Role::Editor), Err(Error::Forbidden(_))));
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
