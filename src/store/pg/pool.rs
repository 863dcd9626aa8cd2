//! The engine's connections: a few kept open between calls, at most [`MAX_OPEN`] at once (a
//! backlog read by a thousand mailboxes waits its turn rather than exhaust the server's
//! `max_connections`, 100 by default, shared by every instance), a broken one dropped and
//! replaced on next use. Always used off the tokio runtime (see the module doc of `pg`).

use super::super::error::Cause;
use postgres::Client;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Connections kept open between calls.
const IDLE: usize = 4;

/// Connections open at once, idle or in use, per instance.
pub(super) const MAX_OPEN: usize = 16;

#[derive(Default)]
struct State {
    idle: Vec<Client>,
    /// Idle and in use.
    open: usize,
}

/// The pool.
#[derive(Default)]
pub(super) struct Pool {
    state: Mutex<State>,
    freed: Condvar,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection that still works, or a new one from `connect` when fewer than
    /// [`MAX_OPEN`] are open, else the next one given back.
    pub(super) fn take(
        &self,
        connect: impl FnOnce() -> Result<Client, Cause>,
    ) -> Result<Client, Cause> {
        let mut state = self.lock();
        loop {
            match state.idle.pop() {
                Some(client) if !client.is_closed() => return Ok(client),
                Some(broken) => {
                    state.open -= 1;
                    drop(broken);
                }
                None if state.open < MAX_OPEN => break,
                None => state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner()),
            }
        }
        state.open += 1;
        drop(state);
        connect().inspect_err(|_| self.forget())
    }

    /// Gives `client` back after a call: kept when it works and few are idle, else closed.
    pub(super) fn give_back(&self, client: Client) {
        let mut state = self.lock();
        if !client.is_closed() && state.idle.len() < IDLE {
            state.idle.push(client);
            drop(state);
        } else {
            state.open -= 1;
            drop(state);
            drop(client);
        }
        self.freed.notify_one();
    }

    /// Closes every idle connection: one was found broken, and a database that restarted
    /// broke them all (the client only notices on use), so the next call gets a new one
    /// instead of trying each dead one in turn.
    pub(super) fn discard_idle(&self) {
        let mut state = self.lock();
        let dead = std::mem::take(&mut state.idle);
        state.open -= dead.len();
        drop(state);
        self.freed.notify_all();
        drop(dead);
    }

    /// One open connection fewer (a connection attempt failed).
    fn forget(&self) {
        self.lock().open -= 1;
        self.freed.notify_one();
    }

    /// The idle connections, to be closed (at drop).
    pub(super) fn drain(&mut self) -> Vec<Client> {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        state.open -= state.idle.len();
        std::mem::take(&mut state.idle)
    }
}
