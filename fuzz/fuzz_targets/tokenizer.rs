//! Arbitrary bytes, as one haproxy.cfg line, through the tokenizer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_config::fuzzing::fuzz_line(data);
});
