#![no_main]
//! libFuzzer entry of the `log-stream` target (see the eventstore-fuzz crate).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    eventstore_fuzz::run_one("log-stream", data);
});
