//! Stable-Rust smoke run of the `fuzz/` target: pseudo-random byte strings (biased towards the
//! tokenizer's special characters) through the same `fuzz_line` function cargo-fuzz calls.

use baton_config::fuzzing::{fuzz_config, fuzz_line};

#[test]
fn fuzz_target_smoke() {
    const SPECIAL: &[&[u8]] = &[
        b" ",
        b"\t",
        b"\x0b",
        b"\x0c",
        b"#",
        b"\"",
        b"'",
        b"\\",
        b"\\x",
        b"\\x4",
        b"\\x41",
        b"$",
        b"${",
        b"}",
        b"[*]",
        b"[",
        b"$HOME",
        b"${SPL[*]}",
        b"${NOPE-d}",
        b"$.LINE",
        b"\0",
        b"\n",
        b"\xc3\xa9",
        b"\xff",
        b"w ",
    ];
    let mut state: u64 = 0x5EED_BA70_0000_0001;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for _ in 0..5000 {
        let mut data = Vec::new();
        let pieces = next() % 80;
        for _ in 0..pieces {
            let r = next();
            if r % 3 == 0 {
                data.push((r >> 8) as u8);
            } else {
                data.extend_from_slice(SPECIAL[(r >> 8) as usize % SPECIAL.len()]);
            }
        }
        fuzz_line(&data);
    }
    fuzz_line(&b"w ".repeat(5000));
}

/// The loader target on mutated corpus-like text: real keywords, broken in random places.
#[test]
fn loader_fuzz_target_smoke() {
    const WORDS: &[&str] = &[
        "global\n",
        "defaults\n",
        "frontend f\n",
        "backend b\n",
        "listen l\n",
        "peers p\n",
        "  bind :80\n",
        "  bind ",
        "  server s 127.0.0.1:1 check",
        "  mode http\n",
        "  timeout ",
        "client ",
        "10s\n",
        "  default_backend b\n",
        "  stats socket /s expose-fd listeners\n",
        ".if ",
        ".endif\n",
        ".else\n",
        "defined(HOME)\n",
        "  option ",
        "httpchk",
        "\"",
        "'",
        "\\",
        "#",
        "\n",
        "\0",
        " ",
        "\u{ff}",
        "maxconn",
        "  http-request return status 200\n",
    ];
    let mut state: u64 = 0xC0FF_EE00_1234_5678;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for _ in 0..3000 {
        let mut data = Vec::new();
        for _ in 0..next() % 60 {
            let r = next();
            if r % 7 == 0 {
                data.push((r >> 8) as u8);
            } else {
                data.extend_from_slice(WORDS[(r >> 8) as usize % WORDS.len()].as_bytes());
            }
        }
        fuzz_config(&data);
    }
}
