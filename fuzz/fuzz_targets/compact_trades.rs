#![no_main]
//! libFuzzer entry of the `compact-trades` target (see the eventstore-fuzz crate).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    eventstore_fuzz::run_one("compact-trades", data);
});
