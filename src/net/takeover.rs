//! The sender's lease (several instances on one PostgreSQL store): only the instance that
//! holds it sends, and whoever takes it — at start, or from an instance that died — first
//! settles the mail that instance left in flight, as a start after a crash does.

use crate::app::lease::Held;
use crate::net::sender::Sender;
use crate::net::smtp::Submission;
use chrono::Utc;

impl<T: Submission> Sender<T> {
    /// Waits until this instance holds the sender's `lease`, then settles what was left in
    /// flight ([`crate::app::outbox::Outbox::take_over`]). `had` says whether it was held
    /// before (to log its loss once). False when the daemon stops first.
    pub(crate) async fn until_leased(&self, lease: &mut Held, had: bool) -> bool {
        if had {
            tracing::info!("the sender's lease went to another instance (or ran out): sending nothing here until it is back");
        }
        if !lease.now() {
            tokio::select! {
                _ = lease.until_held() => {}
                _ = self.shutdown.cancelled() => return false,
            }
            tracing::info!("the sender's lease is held here: sending");
        }
        match self.outbox.take_over(Utc::now()) {
            Ok(released) => {
                for mail in released {
                    tracing::warn!(case = %mail.about, kind = mail.kind.word(), to = %mail.to.join(","), mailbox = %mail.envelope_from, "this mail was being sent when kvittens stopped, and its copy went to a mailbox no longer watched; sending it again");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot settle the mail left in flight");
                self.store_failed.report(e.to_string());
            }
        }
        true
    }
}
