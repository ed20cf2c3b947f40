//! Golden files for tests: `testdata/<stage>/<case>.expected`, compared as text and
//! rewritten instead when `SONDE_UPDATE_GOLDEN=1` (after an intended change; review the
//! diff before committing it).

use std::path::{Path, PathBuf};

/// The folder of a stage's golden files.
pub(crate) fn dir(stage: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(stage)
}

/// Compares `got` with the case's expected file (or rewrites it); a failure message when
/// they differ.
pub(crate) fn check(stage: &str, case: &str, got: &str) -> Option<String> {
    let path = dir(stage).join(format!("{case}.expected"));
    if std::env::var_os("SONDE_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        return std::fs::write(&path, got)
            .err()
            .map(|e| format!("{case}: cannot write {}: {e}", path.display()));
    }
    match std::fs::read_to_string(&path) {
        Ok(want) if want == got => None,
        Ok(want) => Some(format!("{case}:\n--- expected\n{want}+++ got\n{got}")),
        Err(e) => Some(format!("{case}: cannot read {}: {e}", path.display())),
    }
}

/// Panics with every failure, and how to accept an intended change.
pub(crate) fn assert_all(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} golden case(s) differ (SONDE_UPDATE_GOLDEN=1 rewrites them after an intended change):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
