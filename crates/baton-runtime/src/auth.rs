//! HTTP Basic authentication against `userlist` sections (`http_auth`, `http_auth_group`,
//! `http-request auth`).
//!
//! Passwords are either plain (`insecure-password`) or crypt(3) hashes checked with the
//! `pwhash` crate (MD5 `$1$`, SHA-256 `$5$`, SHA-512 `$6$`, bcrypt `$2a$`/`$2b$`/`$2y$`); the
//! loader refuses any other scheme, so every configured user can log in. Hash checks are slow
//! on purpose (as in HAProxy); prefer `insecure-password` behind TLS termination for busy paths.

use base64::Engine as _;
use baton_config::rules::{Password, Userlist};
use std::collections::HashMap;

/// The userlists of a configuration, by name.
#[derive(Debug, Default)]
pub struct Userlists {
    /// Name -> list.
    lists: HashMap<String, Userlist>,
}

impl Userlists {
    /// Indexes the configured lists.
    pub fn new(lists: &[Userlist]) -> Self {
        Userlists {
            lists: lists.iter().map(|l| (l.name.clone(), l.clone())).collect(),
        }
    }

    /// The groups of the user an `Authorization: Basic ...` value names, when its password
    /// is right (an empty slice for a user in no group); `None` otherwise.
    pub fn authenticate(&self, list: &str, authorization: &[u8]) -> Option<&[String]> {
        let list = self.lists.get(list)?;
        let (scheme, token) = split_scheme(authorization)?;
        if !scheme.eq_ignore_ascii_case(b"basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim_ascii())
            .ok()?;
        let text = std::str::from_utf8(&decoded).ok()?;
        let (user, pass) = text.split_once(':')?;
        let user = list.users.iter().find(|u| u.name == user)?;
        let ok = match &user.password {
            Password::Plain(p) => p == pass,
            Password::Hash(h) => pwhash::unix::verify(pass, h),
        };
        ok.then_some(user.groups.as_slice())
    }
}

/// `Basic dXNlcjpwYXNz` → (`Basic`, `dXNlcjpwYXNz`).
fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let value = value.trim_ascii();
    let sp = value.iter().position(|&b| b == b' ')?;
    Some((&value[..sp], &value[sp + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_config::diag::Location;
    use baton_config::rules::User;

    fn lists() -> Userlists {
        let file: std::sync::Arc<str> = "t.cfg".into();
        Userlists::new(&[Userlist {
            name: "L".into(),
            groups: vec!["g".into()],
            users: vec![
                User {
                    name: "plain".into(),
                    password: Password::Plain("pw".into()),
                    groups: vec!["g".into()],
                },
                User {
                    name: "hashed".into(),
                    // The corpus's SHA-512 hash of "hello" is not known; make one here.
                    password: Password::Hash(pwhash::sha512_crypt::hash("secret").unwrap()),
                    groups: vec![],
                },
            ],
            location: Location::new(&file, 1),
        }])
    }

    fn basic(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn plain_and_hashed_passwords() {
        let l = lists();
        assert_eq!(
            l.authenticate("L", &basic("plain:pw")),
            Some(&["g".to_string()][..])
        );
        assert!(l.authenticate("L", &basic("plain:nope")).is_none());
        assert!(l.authenticate("L", &basic("hashed:secret")).is_some());
        assert!(l.authenticate("L", &basic("hashed:Secret")).is_none());
        assert!(l.authenticate("other", &basic("plain:pw")).is_none());
        assert!(l.authenticate("L", b"Bearer abc").is_none());
        assert!(l.authenticate("L", b"Basic !!!").is_none());
    }
}
