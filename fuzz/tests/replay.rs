//! Replays the committed corpus (`fuzz/corpus/<target>/`) and every regression input
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own functions, on stable, without
//! fuzzing: `make test` runs this. A missing or empty corpus fails the test, since a replay of
//! nothing would pass silently.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Regular files under `dir`, sorted; an absent directory is empty.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, run) = certprop_fuzz::TARGETS
        .into_iter()
        .find(|(name, _)| *name == target)
        .expect("a target of that name");
    let corpus = files(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is missing or empty: nothing to replay (restore it from git, or rebuild it with `make fuzz-corpus`)"
    );
    let regressions = files(&fuzz_dir().join("regressions").join(target));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "target {target}: {} of {} inputs broke an invariant (panic messages above):\n  {}",
        failed.len(),
        corpus.len() + regressions.len(),
        failed.join("\n  ")
    );
    eprintln!("target {target}: replayed {} corpus and {} regression inputs", corpus.len(), regressions.len());
}

#[test]
fn replay_parse() {
    replay("parse");
}

#[test]
fn replay_config() {
    replay("config");
}

#[test]
fn replay_decide() {
    replay("decide");
}
