//! Dropping privileges after the listeners are bound: `chroot`, then `group`/`gid`, then
//! `user`/`uid`, as HAProxy does. Names are looked up before the chroot hides /etc.

use baton_config::model::{Global, Identity};
use nix::unistd::{chdir, chroot, setgid, setgroups, setuid, Gid, Group, Uid, User};

/// Why privileges could not be dropped; fatal at start-up.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// The user does not exist.
    #[error("unknown user '{0}'")]
    UnknownUser(String),
    /// The group does not exist.
    #[error("unknown group '{0}'")]
    UnknownGroup(String),
    /// A system call failed (usually: not running as root).
    #[error("{what}: {source}")]
    Call {
        /// The step that failed.
        what: String,
        /// The system's error.
        #[source]
        source: nix::Error,
    },
}

/// Resolves a user to its uid (and primary gid, when given by name).
fn user_ids(user: &Identity) -> Result<(Uid, Option<Gid>), PrivilegeError> {
    match user {
        Identity::Id(id) => Ok((Uid::from_raw(*id), None)),
        Identity::Name(name) => match User::from_name(name) {
            Ok(Some(u)) => Ok((u.uid, Some(u.gid))),
            _ => Err(PrivilegeError::UnknownUser(name.clone())),
        },
    }
}

/// Resolves a group to its gid.
fn group_id(group: &Identity) -> Result<Gid, PrivilegeError> {
    match group {
        Identity::Id(id) => Ok(Gid::from_raw(*id)),
        Identity::Name(name) => match Group::from_name(name) {
            Ok(Some(g)) => Ok(g.gid),
            _ => Err(PrivilegeError::UnknownGroup(name.clone())),
        },
    }
}

/// Applies `chroot`, `group` and `user` from the global section. Does nothing when none is set.
pub fn drop_privileges(global: &Global) -> Result<(), PrivilegeError> {
    let call = |what: &str| {
        let what = what.to_string();
        move |source| PrivilegeError::Call { what, source }
    };
    let user = global.user.as_ref().map(user_ids).transpose()?;
    let group = global.group.as_ref().map(group_id).transpose()?;
    if let Some(dir) = &global.chroot {
        chroot(dir).map_err(call(&format!("cannot chroot to {}", dir.display())))?;
        chdir("/").map_err(call("cannot chdir to / after chroot"))?;
    }
    let gid = group.or(user.and_then(|(_, gid)| gid));
    if let Some(gid) = gid {
        setgroups(&[gid]).map_err(call("cannot set supplementary groups"))?;
        setgid(gid).map_err(call(&format!("cannot set gid {gid}")))?;
    }
    if let Some((uid, _)) = user {
        setuid(uid).map_err(call(&format!("cannot set uid {uid}")))?;
    }
    Ok(())
}
