//! imapd: one IMAP connection on stdin/stdout. See `imapd --help`.

use mailaccess::cli::{self, Start};
use mailaccess::config::Service;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::start(Service::Imap, "imapd", &args) {
        Start::Report(text, code) => {
            print!("{text}");
            std::process::exit(code);
        }
        Start::Exit(text, code) => cli::exit(Service::Imap, "imapd", &text, code),
        Start::Serve(config, opts, args) => {
            std::process::exit(mailaccess::imap::serve(&config, &opts, &args))
        }
    }
}
