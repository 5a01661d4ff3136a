//! Where qmail-vmailuser(8) looks for a virtual user: the VMailMgr, the
//! vpopmail and the plain Unix (`.qmail-USER`) layouts under a home
//! directory, for the prepend `control/virtualdomains` gives the domain.

use std::path::{Path, PathBuf};

/// The layouts to look in (none chosen on the command line: all three).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layouts {
    pub vmailmgr: bool,
    pub vpopmail: bool,
    pub unix: bool,
}

impl Layouts {
    fn or_all(self) -> Layouts {
        if self == Layouts::default() {
            Layouts {
                vmailmgr: true,
                vpopmail: true,
                unix: true,
            }
        } else {
            self
        }
    }
}

/// The virtual user name of a local part: every `.` as `:` (so a name is
/// never `.` or `..`), lower case unless `case_sensitive`. `None` for a
/// name that cannot be a directory entry: empty, or with `/` or NUL.
pub fn vuser(local: &str, case_sensitive: bool) -> Option<String> {
    if local.is_empty() || local.contains(['/', '\0']) {
        return None;
    }
    let v = local.replace('.', ":");
    Some(if case_sensitive {
        v
    } else {
        v.to_ascii_lowercase()
    })
}

/// Whether `vuser` of the domain with `prepend` exists in one of the
/// layouts under `homedir`:
/// VMailMgr `homedir/PREPEND/users/VUSER/` (a directory),
/// vpopmail `homedir/vpopmail/domains/PREPEND/VUSER/` (a directory),
/// Unix `homedir/PREPEND/.qmail-VUSER` or, for `a-b-c`, the wildcards
/// `.qmail-a-b-default` and `.qmail-a-default` that qmail-local(8) would
/// use (never the catch-all `.qmail-default`).
pub fn exists(homedir: &Path, prepend: &str, vuser: &str, layouts: Layouts) -> bool {
    let l = layouts.or_all();
    let user_home = homedir.join(prepend);
    if l.vmailmgr && user_home.join("users").join(vuser).is_dir() {
        return true;
    }
    if l.vpopmail
        && homedir
            .join("vpopmail/domains")
            .join(prepend)
            .join(vuser)
            .is_dir()
    {
        return true;
    }
    l.unix && dot_qmail_names(vuser).any(|n| user_home.join(n).is_file())
}

/// `.qmail-a-b-c`, then `.qmail-a-b-default`, `.qmail-a-default`.
/// qmail-local looks extensions up in lower case.
fn dot_qmail_names(vuser: &str) -> impl Iterator<Item = PathBuf> + '_ {
    let ext = vuser.to_ascii_lowercase();
    let cuts: Vec<usize> = ext.match_indices('-').map(|(i, _)| i).rev().collect();
    std::iter::once(PathBuf::from(format!(".qmail-{ext}"))).chain(
        cuts.into_iter()
            .map(move |i| PathBuf::from(format!(".qmail-{}-default", &ext[..i]))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(vuser("John.Doe", false).as_deref(), Some("john:doe"));
        assert_eq!(vuser("John.Doe", true).as_deref(), Some("John:Doe"));
        assert_eq!(vuser("..", false).as_deref(), Some("::"));
        assert_eq!(vuser("", false), None);
        assert_eq!(vuser("a/../b", false), None);
        let n: Vec<PathBuf> = dot_qmail_names("List-Req-x").collect();
        assert_eq!(
            n,
            [
                ".qmail-list-req-x",
                ".qmail-list-req-default",
                ".qmail-list-default"
            ]
            .map(PathBuf::from)
        );
    }
}
