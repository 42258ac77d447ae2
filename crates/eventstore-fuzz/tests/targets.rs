//! Every fuzz target on its kept regressions and a bounded number of
//! mutations of its real seeds (`scripts/fuzz.sh` runs them for longer,
//! and coverage-guided under libFuzzer).

fn run(target: &str, inputs: u64) {
    let tried = eventstore_fuzz::run(target, inputs);
    let needs_real_data = matches!(target, "book-snapshot" | "import" | "compact-trades");
    if !needs_real_data || eventstore_testkit::market_data().is_some() {
        assert!(tried > 0, "{target}: no input was tried");
    }
}

#[test]
fn log_file() {
    run("log-file", 20_000);
}

#[test]
fn log_stream() {
    run("log-stream", 400);
}

#[test]
fn manifest() {
    run("manifest", 20_000);
}

#[test]
fn market_json() {
    run("market-json", 20_000);
}

#[test]
fn book_snapshot() {
    run("book-snapshot", 3_000);
}

#[test]
fn compact_trades() {
    run("compact-trades", 5_000);
}

#[test]
fn import() {
    run("import", 600);
}

#[test]
fn service() {
    run("service", 1_000);
}

#[test]
fn every_seed_of_every_target_passes() {
    for t in eventstore_fuzz::TARGETS {
        for s in eventstore_fuzz::seeds(t) {
            eventstore_fuzz::run_one(t, &s);
        }
    }
}
