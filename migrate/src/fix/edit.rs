//! Line edits gathered per file, applied at once: append words to a line (before its
//! comment), insert a line after another, replace a line, append to a file. Files are read
//! through the root, so an edit can never name a file outside it.

use super::{FileChange, PlanError};
use crate::config::ConfigFacts;
use crate::finding::Origin;
use crate::root::Root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One edit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// Add words at the end of a line's content.
    AppendWords(usize, String),
    /// Insert a whole line after line N (0: at the top).
    InsertAfter(usize, String),
    /// Replace line N's content.
    Replace(usize, String),
    /// Append text at the end of the file.
    Append(String),
}

/// One file being edited.
#[derive(Debug)]
struct FileEdit {
    /// Host path.
    host: PathBuf,
    /// Content when read.
    original: Option<String>,
    /// The edits, in the order asked.
    ops: Vec<Op>,
}

/// The edits of one plan.
#[derive(Debug)]
pub struct Editor<'r> {
    /// Where files are.
    root: &'r Root,
    /// In-root name → edits.
    files: BTreeMap<String, FileEdit>,
}

impl<'r> Editor<'r> {
    /// No edits yet.
    pub fn new(root: &'r Root) -> Self {
        Editor {
            root,
            files: BTreeMap::new(),
        }
    }

    /// Adds an edit of `file`, reading it on first use.
    fn push(&mut self, file: &str, op: Op) -> Result<(), PlanError> {
        if !self.files.contains_key(file) {
            let host = self.root.resolve(Path::new(file))?;
            let original = match std::fs::read(&host) {
                Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => {
                    return Err(PlanError::Unreadable {
                        path: file.to_string(),
                        error,
                    })
                }
            };
            self.files.insert(
                file.to_string(),
                FileEdit {
                    host,
                    original,
                    ops: Vec::new(),
                },
            );
        }
        let edit = self.files.get_mut(file).expect("inserted above");
        if !edit.ops.contains(&op) {
            edit.ops.push(op);
        }
        Ok(())
    }

    /// Appends `expose-fd listeners` to the stats socket line at `at`.
    pub fn expose_fd(&mut self, at: &Origin) -> Result<(), PlanError> {
        self.push(
            &at.file,
            Op::AppendWords(at.line, "expose-fd listeners".into()),
        )
    }

    /// Adds a `stats socket PATH ... expose-fd listeners` line to `global` (a `global`
    /// section first when there is none).
    pub fn add_socket(&mut self, config: &ConfigFacts, path: &str) -> Result<(), PlanError> {
        let line = format!("stats socket {path} mode 660 level admin expose-fd listeners");
        match &config.global_line {
            Some(g) => self.push(&g.file, Op::InsertAfter(g.line, format!("    {line}"))),
            None => {
                let file = config
                    .files
                    .keys()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| config.path.clone());
                self.push(&file, Op::InsertAfter(0, format!("global\n    {line}\n")))
            }
        }
    }

    /// Replaces line `at` of its file by `text`.
    pub fn replace_line(&mut self, at: &Origin, text: &str) -> Result<(), PlanError> {
        self.push(&at.file, Op::Replace(at.line, text.to_string()))
    }

    /// Appends `text` (whole lines) to `file`, creating it if needed.
    pub fn append(&mut self, file: &str, text: &str) -> Result<(), PlanError> {
        self.push(file, Op::Append(text.to_string()))
    }

    /// The resulting changes (files whose content really changes).
    pub fn finish(self) -> Result<Vec<FileChange>, PlanError> {
        let mut out = Vec::new();
        for (shown, edit) in self.files {
            let new = apply_ops(edit.original.as_deref().unwrap_or(""), &edit.ops);
            if edit.original.as_deref() == Some(new.as_str()) {
                continue;
            }
            out.push(FileChange {
                shown,
                host: edit.host,
                original: edit.original.map(String::into_bytes),
                new: new.into_bytes(),
            });
        }
        Ok(out)
    }
}

/// Applies the edits to `text`.
fn apply_ops(text: &str, ops: &[Op]) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let mut inserts: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut appended = String::new();
    for op in ops {
        match op {
            Op::AppendWords(n, words) => {
                if let Some(line) = lines.get_mut(n - 1) {
                    *line = append_words(line, words);
                }
            }
            Op::Replace(n, new) => {
                if let Some(line) = lines.get_mut(n - 1) {
                    let ending = &line[line.trim_end_matches(['\r', '\n']).len()..];
                    *line = format!("{new}{ending}");
                }
            }
            Op::InsertAfter(n, new) => inserts.entry(*n).or_default().push(new.clone()),
            Op::Append(t) => appended.push_str(t),
        }
    }
    let mut out = String::new();
    for (i, line) in std::iter::once(None)
        .chain(lines.iter().map(Some))
        .enumerate()
    {
        if let Some(line) = line {
            out.push_str(line);
            if !line.ends_with('\n') && inserts.contains_key(&i) {
                out.push('\n');
            }
        }
        for new in inserts.get(&i).into_iter().flatten() {
            out.push_str(new);
            if !new.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    if !appended.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&appended);
    }
    out
}

/// `line` with `words` added after its last word and before any `#` comment.
fn append_words(line: &str, words: &str) -> String {
    let content_end = line.trim_end_matches(['\r', '\n']).len();
    let (content, ending) = line.split_at(content_end);
    let comment = comment_start(content).unwrap_or(content.len());
    let (code, rest) = content.split_at(comment);
    let code = code.trim_end();
    if rest.is_empty() {
        format!("{code} {words}{ending}")
    } else {
        format!("{code} {words} {rest}{ending}")
    }
}

/// Where a haproxy.cfg comment starts on a line (a `#` outside quotes, not escaped).
fn comment_start(line: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (escaped, quote, c) {
            (true, _, _) => escaped = false,
            (false, _, '\\') => escaped = true,
            (false, None, '"' | '\'') => quote = Some(c),
            (false, Some(q), c) if c == q => quote = None,
            (false, None, '#') => return Some(i),
            _ => {}
        }
    }
    None
}

/// A value as an environment file line holds it (double-quoted when needed).
pub fn env_file_value(value: &str) -> String {
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-@:+,=".contains(c))
    {
        value.to_string()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A word quoted for a unit file (`%` doubled, as specifiers would expand it).
pub fn unit_quote(word: &str) -> String {
    format!(
        "\"{}\"",
        word.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_go_before_the_comment() {
        assert_eq!(
            append_words(
                "  stats socket /run/a.sock mode 660 # admin \"x#\"\r\n",
                "expose-fd listeners"
            ),
            "  stats socket /run/a.sock mode 660 expose-fd listeners # admin \"x#\"\r\n"
        );
        assert_eq!(
            append_words("stats socket \"/a#b\"", "e"),
            "stats socket \"/a#b\" e"
        );
    }

    #[test]
    fn ops() {
        let text = "global\n    daemon\ndefaults\n";
        let out = apply_ops(
            text,
            &[
                Op::InsertAfter(1, "    stats socket /x".into()),
                Op::Replace(2, "    nbthread 2".into()),
                Op::Append("# end\n".into()),
            ],
        );
        assert_eq!(
            out,
            "global\n    stats socket /x\n    nbthread 2\ndefaults\n# end\n"
        );
        assert_eq!(apply_ops("a", &[Op::Append("B=1\n".into())]), "a\nB=1\n");
        assert_eq!(
            apply_ops("x\n", &[Op::InsertAfter(0, "global\n".into())]),
            "global\nx\n"
        );
        assert_eq!(env_file_value("/run/a b"), "\"/run/a b\"");
        assert_eq!(unit_quote("A=100%"), "\"A=100%%\"");
    }
}
