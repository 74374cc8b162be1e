//! Reading configuration files: the `-f` arguments into files, and files into lines.
//!
//! HAProxy accepts several `-f` arguments, each a file or a directory (whose `*.cfg` files are
//! read in lexical order). Lines end at "\n"; a "\r" ends the line's content (CRLF files work);
//! a NUL byte or a last line without its newline is an error, as in HAProxy 2.6. This is the
//! only module of the crate that touches the file system.

use crate::diag::{display_path, Diagnostic};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One configuration file's content.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name used in messages.
    pub name: Arc<str>,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

/// Expands `-f` arguments into files, reading each. Unreadable paths become alerts.
pub fn read_sources(paths: &[PathBuf]) -> (Vec<SourceFile>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => match list_cfg_files(path) {
                Ok(list) => {
                    for file in list {
                        read_one(&file, &mut files, &mut diagnostics);
                    }
                }
                Err(e) => diagnostics.push(cannot_open(path, &e)),
            },
            _ => read_one(path, &mut files, &mut diagnostics),
        }
    }
    (files, diagnostics)
}

/// The `*.cfg` files of a directory, sorted by name.
fn list_cfg_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut list = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cfg") && path.is_file() {
            list.push(path);
        }
    }
    list.sort();
    Ok(list)
}

/// Reads one file, or records why not.
fn read_one(path: &Path, files: &mut Vec<SourceFile>, diagnostics: &mut Vec<Diagnostic>) {
    match std::fs::read(path) {
        Ok(bytes) => files.push(SourceFile {
            name: display_path(path),
            bytes,
        }),
        Err(e) => diagnostics.push(cannot_open(path, &e)),
    }
}

/// HAProxy's alert for a configuration path it cannot read.
fn cannot_open(path: &Path, e: &std::io::Error) -> Diagnostic {
    let message = format!(
        "Cannot open configuration file/directory {} : {}",
        path.display(),
        describe(e)
    );
    Diagnostic::alert(None, message)
}

/// An I/O error in the words strerror() would use.
fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => {
            let text = e.to_string();
            text.split(" (os error").next().unwrap_or(&text).to_string()
        }
    }
}

/// One line of a file, ready for the tokenizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// 1-based line number.
    pub number: usize,
    /// The line's bytes, without "\n" and cut at the first "\r".
    pub bytes: &'a [u8],
    /// What is wrong with the line itself (NUL byte, missing final newline), if anything.
    pub problem: Option<String>,
}

/// Splits a file into lines.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = RawLine<'_>> {
    let mut offset = 0;
    let mut number = 0;
    std::iter::from_fn(move || {
        if offset >= bytes.len() {
            return None;
        }
        number += 1;
        let rest = &bytes[offset..];
        let (line, has_newline) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], true),
            None => (rest, false),
        };
        offset += line.len() + usize::from(has_newline);
        let mut problem = None;
        let mut content = line;
        if let Some(nul) = line.iter().position(|&b| b == 0) {
            problem = Some(format!(
                "NUL character at position {} is not permitted",
                nul + 1
            ));
            content = &line[..nul];
        } else if !has_newline {
            problem = Some(format!(
                "Missing LF on last line, file might have been truncated at position {}.",
                line.len() + 1
            ));
        }
        if let Some(cr) = content.iter().position(|&b| b == b'\r') {
            content = &content[..cr];
        }
        Some(RawLine {
            number,
            bytes: content,
            problem,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_cuts_cr() {
        let all: Vec<_> = lines(b"a\r\nb\rjunk\n\nc\n").collect();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].bytes, b"a");
        assert_eq!(all[1].bytes, b"b");
        assert_eq!(all[2].bytes, b"");
        assert!(all.iter().all(|l| l.problem.is_none()));
    }

    #[test]
    fn flags_nul_and_missing_newline() {
        let all: Vec<_> = lines(b"a\0b\nlast").collect();
        assert_eq!(all[0].bytes, b"a");
        assert!(all[0].problem.as_deref().unwrap().contains("NUL"));
        assert!(all[1].problem.as_deref().unwrap().contains("Missing LF"));
        assert_eq!(lines(b"").count(), 0);
    }

    #[test]
    fn directories_are_read_in_lexical_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.cfg", "a.cfg", "c.txt"] {
            std::fs::write(dir.path().join(name), "global\n").unwrap();
        }
        let (files, diags) = read_sources(&[dir.path().to_path_buf()]);
        assert!(diags.is_empty());
        let names: Vec<_> = files
            .iter()
            .map(|f| f.name.rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.cfg", "b.cfg"]);
        let (_, diags) = read_sources(&[dir.path().join("missing.cfg")]);
        assert!(diags[0].message.contains("No such file or directory"));
    }
}
