#![no_main]
//! libFuzzer entry of the `log-file` target (see the eventstore-fuzz crate).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    eventstore_fuzz::run_one("log-file", data);
});
