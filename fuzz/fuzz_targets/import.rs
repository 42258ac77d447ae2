#![no_main]
//! libFuzzer entry of the `import` target (see the eventstore-fuzz crate).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    eventstore_fuzz::run_one("import", data);
});
