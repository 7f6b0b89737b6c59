//! Arbitrary bytes through the in-memory reader and the whole analysis (connection tracking,
//! Zeek state, RST classification): no panic, and a self-consistent result
//! (`rstlab_trace::fuzzing::read_and_track` holds the body and its assertions).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rstlab_trace::fuzzing::read_and_track(data);
});
