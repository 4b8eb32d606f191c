//! Every fuzz target's committed seeds (`fuzz/seeds/TARGET/`) replayed
//! through the target's own body (`mailaccess::fuzz::run`) in `make test`:
//! each seed whole, every truncation, and a flipped bit at every octet
//! (at evenly spaced octets for seeds over 4 KiB). Nothing may panic; a
//! crash a fuzzer once found, committed as a seed, stays fixed. Every
//! target must have seeds, and every seed directory a target.

use std::fs;
use std::path::Path;

use mailaccess::fuzz::{run, TARGETS};

/// At most this many cut points and flips per seed.
const STEPS: usize = 4096;

fn variants(seed: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let step = seed.len().div_ceil(STEPS).max(1);
    let cuts = (0..seed.len()).step_by(step).map(|n| seed[..n].to_vec());
    let flips = (0..seed.len()).step_by(step).map(move |i| {
        let mut v = seed.to_vec();
        v[i] ^= 1 << (i % 8);
        v
    });
    std::iter::once(seed.to_vec()).chain(cuts).chain(flips)
}

#[test]
fn every_seed_of_every_target_replays_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for t in TARGETS {
        let dir = root.join(t);
        let seeds: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .collect();
        assert!(!seeds.is_empty(), "{t}: no seeds");
        for s in seeds {
            let data = fs::read(&s).expect("seed");
            for v in variants(&data) {
                let r = std::panic::catch_unwind(|| run(t, &v));
                assert!(
                    r.is_ok(),
                    "{t}: {} (a variant of {} octets) panics",
                    s.display(),
                    v.len()
                );
            }
        }
    }
    for e in fs::read_dir(&root).expect("seeds") {
        let name = e.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS.contains(&&*name),
            "fuzz/seeds/{name} belongs to no target"
        );
    }
}

/// The targets are the fuzz crate's binaries, one for one.
#[test]
fn the_fuzz_crate_builds_every_target() {
    let manifest =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "mailaccess-fuzz")
        .collect();
    let mut want: Vec<&str> = TARGETS.to_vec();
    let mut got = bins.clone();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want);
}
