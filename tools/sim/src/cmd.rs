//! The simulation task's inbox: the commands sent to the task that owns the world ([`Cmd`]),
//! and the [`Link`] a connection task holds to send them.
//!
//! Both [`sim`](crate::sim) (which owns the task and drains its inbox) and
//! [`frontend`](crate::frontend) (whose connection tasks send into it) depend on this module;
//! it depends on neither.

use std::sync::Arc;

use faro_proto::mesh::ToRadio;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::device::ConnId;
use crate::scenario::Action;
use crate::world::{ConnOut, FrontKind};

/// What the simulation task is asked to do: attach, feed or detach a client connection, or run
/// an action for [`Sim::act`](crate::Sim::act).
#[derive(Debug)]
pub(crate) enum Cmd {
    Attach {
        station: u32,
        conn: ConnId,
        kind: FrontKind,
        out: mpsc::Sender<ConnOut>,
    },
    ToRadio {
        conn: ConnId,
        msg: ToRadio,
    },
    Detached {
        conn: ConnId,
    },
    Act {
        action: Action,
        done: oneshot::Sender<()>,
    },
}

/// Everything a connection task needs to talk to the simulation.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub cmd: mpsc::WeakSender<Cmd>,
    pub wake: Arc<Notify>,
}

impl Link {
    /// Queues `cmd`; false once the simulation has stopped.
    pub(crate) async fn send(&self, cmd: Cmd) -> bool {
        match self.cmd.upgrade() {
            Some(tx) => tx.send(cmd).await.is_ok(),
            None => false,
        }
    }
}
