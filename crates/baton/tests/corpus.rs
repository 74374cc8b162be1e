//! The 30 real-world configurations of `shared/corpus/haproxy-cfg`, checked by `baton -c` and,
//! side by side, by Debian's `haproxy -c`.
//!
//! What must hold: baton never crashes (exit 0, 1 or 2 only); a file haproxy accepts is accepted
//! by baton unless baton names a keyword it does not support; a file haproxy rejects is never
//! accepted by baton; and the complete output is a reviewed snapshot
//! (`tests/snapshots/corpus.txt`), so any change of behaviour shows up in review. Regenerate the
//! snapshot with `BATON_BLESS=1 cargo test -p baton --test corpus` and read the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the corpus lives: `$BATON_CORPUS`, or `shared/` beside the repository.
fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("BATON_CORPUS") {
        return dir.into();
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    repo.join("../shared/corpus/haproxy-cfg")
}

/// Runs a checker with a fixed, minimal environment; returns (exit code, stderr+stdout).
fn run(program: &str, files: &[PathBuf], dir: &Path) -> (i32, String) {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/bin")
        .current_dir(dir)
        .arg("-c");
    for f in files {
        cmd.arg("-f").arg(f.file_name().unwrap());
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{program} was killed by a signal"));
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    (code, text)
}

/// Drops the parts of a message that change between runs (pid, executable path).
fn stable(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.contains("version is") && !l.contains("path to executable"))
        .map(|l| match l.find(") : ") {
            Some(at) if l.starts_with('[') => {
                let tag = l[..l.find(']').map_or(0, |e| e + 1)].to_string();
                format!("{tag} {}", &l[at + 4..])
            }
            _ => l.to_string(),
        })
        .collect()
}

#[test]
fn corpus_verdicts_and_snapshot() {
    let dir = corpus_dir();
    assert!(
        dir.is_dir(),
        "corpus not found at {} (set BATON_CORPUS)",
        dir.display()
    );
    let haproxy = which("haproxy")
        .expect("Debian's haproxy is needed for this test: apt-get install haproxy");
    let mut cases: Vec<Vec<PathBuf>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .map(|p| vec![p])
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 30, "the corpus has 30 files");
    // 21 and 22 are two halves of one configuration.
    let pair: Vec<PathBuf> = cases
        .iter()
        .flatten()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("21-") || n.starts_with("22-")
        })
        .cloned()
        .collect();
    cases.push(pair);

    let mut snapshot = String::new();
    let mut failures = Vec::new();
    for files in &cases {
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let (baton_rc, baton_out) = run(env!("CARGO_BIN_EXE_baton"), files, &dir);
        let (haproxy_rc, _) = run(&haproxy, files, &dir);
        assert!(
            matches!(baton_rc, 0..=2),
            "{names:?}: baton exited {baton_rc}:\n{baton_out}"
        );
        let refuses_unsupported = baton_out.contains("not supported by baton");
        // The keyword table covers every keyword the corpus uses.
        if baton_out.contains("unknown keyword") {
            failures.push(format!(
                "{names:?}: a keyword is missing from keywords.toml:\n{baton_out}"
            ));
        }
        if haproxy_rc != 1 && baton_rc != haproxy_rc && !refuses_unsupported {
            failures.push(format!("{names:?}: haproxy rc {haproxy_rc}, baton rc {baton_rc} without naming an unsupported keyword"));
        }
        if haproxy_rc == 1 && baton_rc != 1 {
            failures.push(format!(
                "{names:?}: haproxy rejects it but baton exits {baton_rc}"
            ));
        }
        snapshot.push_str(&format!(
            "## {} — haproxy rc {haproxy_rc}, baton rc {baton_rc}\n",
            names.join(" + ")
        ));
        for line in stable(&baton_out) {
            snapshot.push_str(&line);
            snapshot.push('\n');
        }
        snapshot.push('\n');
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/corpus.txt");
    if std::env::var_os("BATON_BLESS").is_some() {
        std::fs::write(&path, &snapshot).unwrap();
    } else {
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != snapshot {
            let fresh = path.with_extension("txt.new");
            std::fs::write(&fresh, &snapshot).unwrap();
            failures.push(format!(
                "output differs from the reviewed snapshot: diff {} {} (BATON_BLESS=1 to accept)",
                path.display(),
                fresh.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Finds a program on the usual paths.
fn which(program: &str) -> Option<String> {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ]
    .iter()
    .map(|d| format!("{d}/{program}"))
    .find(|p| Path::new(p).exists())
}
