//! Write the seed inputs and kept regressions of every fuzz target (or of
//! those named) into `<dir>/<target>/`, one file per input: the starting
//! corpus of a cargo-fuzz run.
//!
//! `eventstore-fuzz-seeds <dir> [target...]`

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: eventstore-fuzz-seeds <dir> [target...]");
        return ExitCode::from(2);
    };
    let named: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    for target in eventstore_fuzz::TARGETS {
        if !named.is_empty() && !named.iter().any(|n| n == target) {
            continue;
        }
        let out = dir.join(target);
        if let Err(e) = std::fs::create_dir_all(&out) {
            eprintln!("cannot create {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
        let mut inputs = eventstore_fuzz::seeds(target);
        inputs.extend(eventstore_fuzz::regressions(target));
        for input in &inputs {
            let path = out.join(format!("seed-{:08x}", crc32c::crc32c(input)));
            if let Err(e) = std::fs::write(&path, input) {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        println!("{target}: {} inputs in {}", inputs.len(), out.display());
    }
    ExitCode::SUCCESS
}
