//! CPython's email test corpus (python3's `test.test_email` data: odd
//! headers, encodings, MIME shapes), which several tests feed to both
//! servers. The Python `make test` uses (pyenv's 3.11, with its test
//! package) has it.

use std::path::PathBuf;
use std::process::Command;

/// The corpus directory, where python3 has one.
pub fn cpython_email_dir() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import test.test_email,os;print(os.path.dirname(test.test_email.__file__)+'/data')",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.is_dir().then_some(p)
}

/// The corpus's messages (`msg_*.txt`), sorted by name; panics where
/// python3 lacks the corpus.
#[allow(dead_code)]
pub fn cpython_email_corpus() -> Vec<(String, Vec<u8>)> {
    let dir = cpython_email_dir().expect("CPython's email corpus (python3 test.test_email data)");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
            n.is_some_and(|n| n.starts_with("msg_") && n.ends_with(".txt"))
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 40,
        "CPython's email corpus in {} is missing",
        dir.display()
    );
    names
        .into_iter()
        .map(|p| {
            let n = p.file_name().expect("name").to_string_lossy().into_owned();
            (n, std::fs::read(&p).expect("read"))
        })
        .collect()
}
