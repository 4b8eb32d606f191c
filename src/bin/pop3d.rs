//! pop3d: one POP3 connection on stdin/stdout. The POP3 protocol arrives
//! in its own step; until then it refuses politely (RFC 1939 -ERR greeting).

use std::io::Write;

use mailaccess::cli::{self, Start};
use mailaccess::config::Service;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::start(Service::Pop3, "pop3d", &args) {
        Start::Exit(text, code) => {
            if code == 0 {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            std::process::exit(code);
        }
        Start::Serve(..) => {
            cli::silence_stderr();
            let mut out = std::io::stdout();
            let _ = out.write_all(b"-ERR [SYS/PERM] POP3 service is not available yet.\r\n");
            let _ = out.flush();
            std::process::exit(1);
        }
    }
}
