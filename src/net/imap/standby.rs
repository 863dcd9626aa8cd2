//! A watcher whose folder's lease another instance holds (several instances on one
//! PostgreSQL store): it does not log in, and the folder counts as watched — elsewhere — for
//! READY and `/healthz`, with `kvittens_imap_connected` 0 here.

use super::mailbox::Connect;
use super::watcher::Watcher;
use crate::app::lease::Held;
use crate::config::Department;
use std::time::Duration;

impl<C: Connect> Watcher<C> {
    /// Returns true once this instance holds the folder's `lease` (at once when it does, and
    /// always with sled); false when the daemon stops first. Until the first round of
    /// renewals nothing is known, so the folder is not shown as watched elsewhere before.
    pub(super) async fn until_leased(&self, dept: &Department, lease: &mut Held) -> bool {
        if lease.now() {
            return true;
        }
        let mut told = false;
        loop {
            if !told && self.engine.leases().settled() && !lease.now() {
                tracing::debug!(department = %dept.id, folder = self.folder_word(), "another instance holds this folder's lease; waiting for it");
                self.engine.metrics().folder_elsewhere(&dept.id, self.sent);
                told = true;
            }
            tokio::select! {
                _ = lease.until_held() => break,
                _ = self.shutdown.cancelled() => return false,
                _ = tokio::time::sleep(Duration::from_millis(200)), if !told => {}
            }
        }
        tracing::debug!(department = %dept.id, folder = self.folder_word(), "this folder's lease is held here now: watching it");
        // The mark may be the last holder's, left by a crash on a message.
        self.engine.forget_reading(&self.place(dept));
        true
    }

    /// After the lease was lost mid-session (the session is dropped where it stood: every
    /// message handled so far is recorded, and the next holder reads on from the cursor,
    /// skipping what is marked handled).
    pub(super) fn lease_lost(&self, dept: &Department) {
        tracing::info!(department = %dept.id, mailbox = %dept.email, folder = self.folder_word(), "this folder's lease went to another instance (or ran out): stopped watching it here");
        self.engine.metrics().folder_elsewhere(&dept.id, self.sent);
    }
}
