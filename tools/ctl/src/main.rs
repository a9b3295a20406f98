//! faroctl: the station operator's command line. It talks to farod over the control socket
//! (HTTP/JSON on a Unix socket, DESIGN.md §7); the socket and the operator commands arrive with
//! the incident queue. Until then it only identifies itself.

use clap::Parser;

/// Faro operator console (talks to farod's control socket).
#[derive(Debug, Parser)]
#[command(name = "faroctl", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!(
        "faroctl: farod has no control socket yet; use `farod probe RADIO` to inspect a radio"
    );
    std::process::exit(69); // EX_UNAVAILABLE
}
