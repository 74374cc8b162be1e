//! Stable-Rust smoke run of the `fuzz/` target: pseudo-random byte strings (biased towards the
//! tokenizer's special characters) through the same `fuzz_line` function cargo-fuzz calls.

use baton_config::fuzzing::fuzz_line;

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
