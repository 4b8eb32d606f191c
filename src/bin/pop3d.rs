//! pop3d: one POP3 connection on stdin/stdout. See `pop3d --help`.

use mailaccess::cli::{self, Start};
use mailaccess::config::Service;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::start(Service::Pop3, "pop3d", &args) {
        Start::Report(text, code) => {
            print!("{text}");
            std::process::exit(code);
        }
        Start::Exit(text, code) => cli::exit(Service::Pop3, "pop3d", &text, code),
        Start::Serve(config, opts, args) => {
            std::process::exit(mailaccess::pop3::serve(&config, &opts, &args))
        }
    }
}
