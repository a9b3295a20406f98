//! End-to-end tests: farod's radio link against faro-sim, one module per transport.
//! Duplex tests run under paused tokio time (deterministic, instant); TCP and PTY tests use
//! real sockets and pseudo-terminals with every wait bounded.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod e2e {
    mod ambulance;
    mod duplex;
    mod incidents;
    mod locate;
    mod pty;
    mod tcp;
    mod teams;
    mod trust;
    mod understand;
}
