//! The signals that stop a run, all handled alike: SIGINT (Ctrl-C), SIGTERM (`docker
//! stop`, systemd, Kubernetes) and SIGHUP (a closed terminal or SSH session).

use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Listens for the stopping signals from the moment it is made: once installed, the
/// default action (ending the process at once) no longer applies.
pub struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal's name.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}
