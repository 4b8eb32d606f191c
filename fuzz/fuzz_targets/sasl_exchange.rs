//! A SASL exchange of every mechanism, driven by the client messages in
//! the input (split at NUL-NUL-NUL), answered with fixed verdicts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailaccess::auth::sasl::{Fresh, Mechanism, Step, Verdict};

fuzz_target!(|data: &[u8]| {
    for m in Mechanism::ALL {
        let fresh = Fresh { nonce: "fuzznonce".into(), salt: vec![7; 16], time: 1, pid: 1 };
        let mut ex = m.start("fuzz.example.org", fresh);
        let mut parts = data.split(|&c| c == 0xff);
        let mut step = ex.begin(parts.next());
        for _ in 0..8 {
            step = match step {
                Step::Challenge(_) => match parts.next() {
                    Some(p) => ex.step(p),
                    None => break,
                },
                Step::Verify(req) => ex.verdict(req.verify(b"pencil")),
                Step::Done(_) | Step::Fail(_) => break,
            };
        }
        let _ = Verdict::Reject;
    }
});
