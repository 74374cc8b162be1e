//! Differential test of the line tokenizer against Debian's HAProxy 2.6 (`haproxy -c`).
//!
//! HAProxy 2.6 tokenizes every line, even inside a disabled `.if 0` block, but interprets no
//! keyword there (except the `.if`/`.elif`/`.else`/`.endif` directives themselves). So for a
//! batch of lines wrapped in one `.if 0` ... `.endif`, `haproxy -c -f FILE` prints one
//! `[ALERT] ... parsing [FILE:N]: <message> at position P:` per line that does not tokenize
//! and nothing for the others. HAProxy stops after 50 fatal errors ("too many fatal errors"),
//! so batches hold at most [`MAX_PREDICTED_REJECTS`] lines that baton rejects, and whatever
//! follows an early stop is checked again in a new batch.
//!
//! For lines that tokenize to exactly one word, `.notice LINE` makes HAProxy print
//! `[NOTICE] ... parsing [FILE:N]: '<word>'.`, which checks the word's value too.
//!
//! Both sides see the same variables: HAProxy runs with a cleared environment plus [`ENV`],
//! and baton's lookups answer from [`ENV`] plus the pseudo-variables `.LINE` and `.FILE`.
//!
//! Lines left out of the comparison (see [`comparable`]):
//! - `${NAME-default}`: baton accepts it on purpose (the default applies when NAME is unset, a
//!   later HAProxy syntax the configuration issue asks for) while 2.6.12 rejects it with
//!   "unmatched brace in environment variable name".
//! - lines whose first non-blank character is `[`: HAProxy reads them as a scope declaration
//!   (`[name]`) before tokenizing, which is the loader's business, not the tokenizer's.
//! - lines whose first word is a conditional directive, which would change the `.if` nesting.
//! - NUL and CR, which never reach the tokenizer (the loader cuts lines first).
//!
//! Word values are not compared when `\x80`-`\xff` escapes are involved: HAProxy emits the raw
//! byte, baton the Unicode scalar of the same value.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use baton_config::tokenizer::{tokenize, Line, TokenizeError};

/// The environment both HAProxy and baton see.
const ENV: &[(&str, &str)] = &[
    ("HOME", "/home/baton"),
    ("SPL", " one  two\tthree "),
    ("EMPTY", ""),
    ("ACCENT", "é"),
    ("LANG", "C"),
];

/// How many lines baton rejects, at most, in one batch file (HAProxy stops at 50 errors).
const MAX_PREDICTED_REJECTS: usize = 40;
/// How many lines one batch file holds, at most.
const MAX_BATCH: usize = 400;
/// Number of generated lines on top of the fixed list.
const GENERATED: usize = 4000;

fn haproxy() -> PathBuf {
    let candidates = [
        std::env::var_os("HAPROXY").map(PathBuf::from),
        Some("/usr/sbin/haproxy".into()),
    ];
    for c in candidates.into_iter().flatten() {
        if c.is_file() {
            return c;
        }
    }
    panic!(
        "haproxy not found at /usr/sbin/haproxy (or $HAPROXY): the tokenizer differential test \
         needs Debian's HAProxy 2.6; install it with `apt-get install haproxy`"
    );
}

/// Baton's variable lookups for a line at `line_no` of `file`.
fn baton_env(file: &Path, line_no: usize) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| match name {
        ".LINE" => Some(line_no.to_string()),
        ".FILE" => Some(file.display().to_string()),
        ".SECTION" => None,
        _ => ENV
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string()),
    }
}

/// Runs `haproxy -c -f file` with the controlled environment; returns (exit code, stderr).
fn run_haproxy(bin: &Path, file: &Path) -> (i32, Vec<u8>) {
    let out = Command::new(bin)
        .arg("-c")
        .arg("-f")
        .arg(file)
        .env_clear()
        .envs(ENV.iter().copied())
        .output()
        .expect("haproxy runs");
    (out.status.code().unwrap_or(-1), out.stderr)
}

/// One report line of HAProxy: `[LEVEL] (pid) : config : parsing [FILE:N]: rest`, where rest
/// runs up to the next report (it may span lines: echoed lines, words holding newlines).
fn reports<'a>(stderr: &'a [u8], file: &Path, level: &str) -> Vec<(usize, &'a [u8])> {
    let marker = format!("parsing [{}:", file.display());
    let head = format!("[{level}]");
    let mut starts: Vec<usize> = Vec::new();
    for (i, _) in stderr.iter().enumerate() {
        if (i == 0 || stderr[i - 1] == b'\n') && stderr[i] == b'[' {
            starts.push(i);
        }
    }
    starts.push(stderr.len());
    let mut out = Vec::new();
    for w in starts.windows(2) {
        let chunk = &stderr[w[0]..w[1]];
        if !chunk.starts_with(head.as_bytes()) {
            continue;
        }
        let Some(at) = find(chunk, marker.as_bytes()) else {
            continue;
        };
        let rest = &chunk[at + marker.len()..];
        let Some(close) = find(rest, b"]: ") else {
            continue;
        };
        let Ok(n) = std::str::from_utf8(&rest[..close])
            .unwrap_or("x")
            .parse::<usize>()
        else {
            continue;
        };
        out.push((n, &rest[close + 3..]));
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// HAProxy's verdict text for a rejected line: (message, position).
fn parse_alert(rest: &[u8]) -> (String, Option<usize>) {
    let first = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(first).into_owned();
    const TOO_MANY: &str = "too many words, truncating after word 64, position ";
    if let Some(tail) = text.strip_prefix(TOO_MANY) {
        let pos = tail.split(':').next().and_then(|p| p.parse().ok());
        return ("too many words, truncating after word 64".into(), pos);
    }
    if let Some(i) = text.rfind(" at position ") {
        let pos = text[i + 13..].trim_end_matches(':').parse().ok();
        return (text[..i].to_string(), pos);
    }
    (text, None)
}

/// Whether a line takes part in the comparison (see the module documentation).
fn comparable(line: &str, baton: &Result<Line, TokenizeError>) -> bool {
    if line.contains(['\0', '\r', '\n']) {
        return false;
    }
    if line
        .trim_start_matches([' ', '\t', '\x0b', '\x0c'])
        .starts_with('[')
    {
        return false;
    }
    if has_default_syntax(line) {
        return false;
    }
    if let Ok(l) = baton {
        if l.words
            .first()
            .is_some_and(|w| [".if", ".elif", ".else", ".endif"].contains(&w.as_str()))
        {
            return false;
        }
    }
    true
}

/// `${NAME-`: the default-value syntax 2.6.12 lacks.
fn has_default_syntax(line: &str) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    while let Some(off) = find(&b[i..], b"${") {
        let mut j = i + off + 2;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
            j += 1;
        }
        if j < b.len() && b[j] == b'-' {
            return true;
        }
        i = i + off + 2;
    }
    false
}

/// Whether the line uses a `\x` escape of a non-ASCII byte.
fn has_high_hex(line: &str) -> bool {
    let b = line.as_bytes();
    b.windows(3).any(|w| {
        w[0] == b'\\' && w[1] == b'x' && matches!(w[2], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
    })
}

/// Deterministic SplitMix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    " ",
    " ",
    "  ",
    "\t",
    "\x0b",
    "\x0c",
    "#",
    "\"",
    "\"",
    "'",
    "'",
    "\\",
    "\\\\",
    "\\x41",
    "\\xZ",
    "\\x4",
    "\\x00",
    "\\xe9",
    "\\n",
    "\\t",
    "\\r",
    "\\ ",
    "\\#",
    "\\\"",
    "\\'",
    "\\$",
    "$",
    "${",
    "}",
    "[*]",
    "[",
    "]",
    "$HOME",
    "${HOME}",
    "${NOPE}",
    "$NOPE",
    "${SPL[*]}",
    "${SPL[x]}",
    "${EMPTY}",
    "$EMPTY",
    "${HOME",
    "$.LINE",
    "${.FILE}",
    "$.X",
    "${.}",
    "$1",
    "${1}",
    "$_",
    "a",
    "b",
    "z",
    "Q",
    "0",
    "7",
    "_",
    ".",
    "-",
    "é",
    "€",
    "x.y",
    ":80",
    "bind",
    "-",
    "=",
];

fn generate() -> Vec<String> {
    let w64 = (1..=64)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let w63 = (1..=63)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut lines: Vec<String> = [
        "",
        " ",
        "\t",
        "bind :80",
        "  bind\t:80 \x0b x\x0cy  ",
        "global#comment",
        "a # b c",
        "# only",
        "\"a#b\" 'c#d' e\\#f",
        "a\\ b",
        "\\x41\\t",
        "\\\"a \\'b \\\\c",
        "\\z ab\\",
        "\\n\\r",
        "\\xZZ",
        "\\x4",
        "'a\\x41 $HOME'",
        "''",
        "'' x",
        "x ''",
        "x '' ",
        "\"\"",
        "\"\" x",
        "'a\\'b'",
        "\"$HOME:x\" \"${HOME}y\" \"\\$x\" \"a\\\"b\"",
        "\"$NOPE\"",
        "\"$A-x\" \"$EMPTY\"",
        "$HOME ${HOME}",
        "\"${.LINE}\"",
        "\"$.LINE\"",
        "\"${.FILE}\"",
        "\"${.SECTION}x\"",
        "\"${.FOO}\"",
        "\"$.\"",
        "\"$HOME.x\"",
        "\"${HOME.x}\"",
        "\"${SPL[*]}\"",
        "\"x${SPL[*]}y\"",
        "\"${SPL[*]}\" x",
        "\"${EMPTY[*]}\"",
        "\"${EMPTY[*]}\" x",
        "\"${SPL[x]}\"",
        "\"${SPL[*x\"",
        "\"${SPL[*]x\"",
        "\"${SPL[\"",
        "\"a\"'b'c\\ d",
        "\"a b\"x 'c'",
        "\"$1\"",
        "\"${1}\"",
        "\"${\"",
        "\"${}\"",
        "\"${NOPE\"",
        "\"$\"",
        "\"unterminated",
        "'unterminated",
        "\\$x \"\\$x\" '\\$x'",
        "a\\x00b c",
        "\"\\xe9\"",
        "é",
        "\"é$ACCENT\"",
        "\\",
        "x\\",
        "\"\\",
        "'\\'",
        "\"'\"",
        "'\"'",
        "a#",
        "#",
        "\\#",
        "\"#\"",
        "$",
        "\"$$\"",
        "\"${HOME}${HOME}\"",
        "\"$HOME$HOME\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Around the word limit.
    for tail in [
        "",
        " ",
        "#c",
        " #c",
        " x",
        " ''",
        " '' ",
        " \"${SPL[*]}\"",
        " \"${EMPTY[*]}\" ",
        " \\xZ",
        " \"",
    ] {
        lines.push(format!("{w64}{tail}"));
        lines.push(format!("{w63}{tail}"));
        lines.push(format!(" {w63}{tail}"));
    }
    lines.push(format!("'a''bc' {w64}"));
    lines.push(format!("\"${{SPL[*]}}\" {w63}"));
    lines.push(["w"; 200].join(" "));

    let mut rng = Rng(0x00C0_FFEE_BA70_0001);
    for i in 0..GENERATED {
        let n = 1 + rng.below(14);
        let mut s = String::new();
        if i % 97 == 0 {
            // Long lines around the limit.
            let words = 60 + rng.below(8);
            s.push_str(&vec!["w"; words].join(" "));
            s.push(' ');
        }
        for _ in 0..n {
            s.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
        }
        lines.push(s);
    }
    lines
}

/// A line under test with its index in the generated list.
#[derive(Clone)]
struct Case {
    idx: usize,
    text: String,
}

/// Splits cases into batch files, keeping predicted rejects per file under HAProxy's limit.
fn batches(cases: &[Case], dir: &Path) -> Vec<Vec<Case>> {
    let mut out = Vec::new();
    let mut cur: Vec<Case> = Vec::new();
    let mut rejects = 0;
    let dummy = dir.join("dummy");
    for c in cases {
        let rejected = tokenize(&c.text, baton_env(&dummy, 0)).is_err();
        if cur.len() >= MAX_BATCH || (rejected && rejects >= MAX_PREDICTED_REJECTS) {
            out.push(std::mem::take(&mut cur));
            rejects = 0;
        }
        rejects += usize::from(rejected);
        cur.push(c.clone());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Checks the accept/reject verdict of a batch; returns the cases to run again (after an early
/// stop) and pushes disagreements into `failures`.
fn verdict_batch(bin: &Path, file: &Path, batch: &[Case], failures: &mut Vec<String>) -> Vec<Case> {
    let mut text = String::from(".if 0\n");
    for c in batch {
        text.push_str(&c.text);
        text.push('\n');
    }
    text.push_str(".endif\n");
    std::fs::write(file, &text).unwrap();
    let (code, stderr) = run_haproxy(bin, file);
    let mut alerts: BTreeMap<usize, (String, Option<usize>)> = BTreeMap::new();
    let mut stopped_at = None;
    for (n, rest) in reports(&stderr, file, "ALERT") {
        if rest.starts_with(b"too many fatal errors") {
            stopped_at = Some(n);
        } else {
            alerts.insert(n, parse_alert(rest));
        }
    }
    if alerts.is_empty() && stopped_at.is_none() && code != 2 {
        failures.push(format!(
            "batch {}: haproxy exit code {code} without line alerts:\n{}",
            file.display(),
            String::from_utf8_lossy(&stderr)
        ));
    }
    let mut again = Vec::new();
    for (i, c) in batch.iter().enumerate() {
        let line_no = i + 2;
        if stopped_at.is_some_and(|s| line_no >= s) {
            again.push(c.clone());
            continue;
        }
        let ours = tokenize(&c.text, baton_env(file, line_no));
        let theirs = alerts.get(&line_no);
        let mismatch = match (&ours, theirs) {
            (Ok(_), None) => None,
            (Err(e), Some((msg, pos))) if e.kind.to_string() == *msg && Some(e.column) == *pos => {
                None
            }
            (Ok(l), Some((msg, pos))) => Some(format!(
                "baton accepts {:?}, haproxy: {msg} at {pos:?}",
                l.words
            )),
            (Err(e), None) => Some(format!("baton rejects ({e}), haproxy accepts")),
            (Err(e), Some((msg, pos))) => {
                Some(format!("baton: {e}; haproxy: {msg} at position {pos:?}"))
            }
        };
        if let Some(m) = mismatch {
            failures.push(format!("line #{} {:?}: {m}", c.idx, c.text));
        }
    }
    again
}

/// Checks the value of single-word lines with `.notice`.
fn value_batch(bin: &Path, file: &Path, batch: &[Case], failures: &mut Vec<String>) {
    let mut text = String::new();
    for c in batch {
        text.push_str(".notice ");
        text.push_str(&c.text);
        text.push('\n');
    }
    std::fs::write(file, &text).unwrap();
    let (_, stderr) = run_haproxy(bin, file);
    let notices: BTreeMap<usize, &[u8]> = reports(&stderr, file, "NOTICE").into_iter().collect();
    for (i, c) in batch.iter().enumerate() {
        let line_no = i + 1;
        let ours = match tokenize(&format!(".notice {}", c.text), baton_env(file, line_no)) {
            Ok(l) if l.words.len() <= 2 => l.words.get(1).cloned().unwrap_or_default(),
            other => {
                failures.push(format!(
                    "line #{} {:?}: .notice form tokenizes to {other:?}",
                    c.idx, c.text
                ));
                continue;
            }
        };
        let theirs = notices.get(&line_no).and_then(|rest| {
            let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
            rest.strip_prefix(b"'").and_then(|r| r.strip_suffix(b"'."))
        });
        if theirs != Some(ours.as_bytes()) {
            failures.push(format!(
                "line #{} {:?}: baton word {ours:?}, haproxy {:?}",
                c.idx,
                c.text,
                theirs.map(String::from_utf8_lossy)
            ));
        }
    }
}

/// Runs `work` over the batches on a few threads; collects failures.
fn parallel<F>(batches: Vec<Vec<Case>>, work: F) -> Vec<String>
where
    F: Fn(usize, &[Case], &mut Vec<String>) -> Vec<Case> + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .clamp(2, 16);
    let queue = std::sync::Mutex::new(batches.into_iter().collect::<VecDeque<_>>());
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some(batch) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let id = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut local = Vec::new();
                let again = work(id, &batch, &mut local);
                failures.lock().unwrap().extend(local);
                if !again.is_empty() {
                    queue.lock().unwrap().push_back(again);
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

#[test]
fn tokenizer_matches_haproxy_2_6() {
    let bin = haproxy();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let dummy = dir.path().join("dummy");
    let cases: Vec<Case> = generate()
        .into_iter()
        .enumerate()
        .map(|(idx, text)| Case { idx, text })
        .filter(|c| comparable(&c.text, &tokenize(&c.text, baton_env(&dummy, 0))))
        .collect();
    assert!(cases.len() > 3000, "only {} comparable lines", cases.len());
    let rejected = cases
        .iter()
        .filter(|c| tokenize(&c.text, baton_env(&dummy, 0)).is_err())
        .count();

    let mut failures = parallel(batches(&cases, dir.path()), |id, batch, f| {
        verdict_batch(&bin, &dir.path().join(format!("v{id}.cfg")), batch, f)
    });

    // Values of single-word lines. Leading blanks and comments are fine after ".notice ".
    let single: Vec<Case> = cases
        .iter()
        .filter(|c| !has_high_hex(&c.text))
        .filter(|c| tokenize(&c.text, baton_env(&dummy, 0)).is_ok_and(|l| l.words.len() == 1))
        .cloned()
        .collect();
    let n_single = single.len();
    let value_batches: Vec<Vec<Case>> = single.chunks(MAX_BATCH).map(<[Case]>::to_vec).collect();
    failures.extend(parallel(value_batches, |id, batch, f| {
        value_batch(&bin, &dir.path().join(format!("n{id}.cfg")), batch, f);
        Vec::new()
    }));

    eprintln!(
        "compared {} lines ({} rejected by baton), {} single-word values, in {:?}",
        cases.len(),
        rejected,
        n_single,
        started.elapsed()
    );
    assert!(n_single > 300, "only {n_single} single-word lines");
    assert!(rejected > 300, "only {rejected} rejected lines");
    if !failures.is_empty() {
        failures.sort();
        panic!(
            "{} disagreements with haproxy 2.6:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
