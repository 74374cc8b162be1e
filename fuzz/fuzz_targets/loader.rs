//! Arbitrary bytes, as a whole haproxy.cfg, through the loader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_config::fuzzing::fuzz_config(data);
});
