//! The audit trail: who opened which case page and who did what, for a data protection officer
//! (GDPR art. 5.2 and 30: accountability for the processing of personal data). Each is one
//! structured log line to the target `kvittens::audit`, so that it can be routed on its own
//! (`KVITTENS_LOG=info,kvittens::audit=info`, journald or a log shipper with its own retention)
//! and never mixes with what a mail did.
//!
//! Views are not kept in the store: the store holds the cases and is purged with them after
//! `retention`, while an access log has its own retention, set by whoever keeps the logs, and
//! must outlive a purge of the case it names. What a person *changed* is in the store as well,
//! in the case's timeline with their address (`Event.by`), where the case's readers see it.

/// A page with personal data seen by `user`: `page` names it (`case`, `cases`, `ignored`,
/// `absences`, `overview`), `what` the case number or filter.
pub fn viewed(user: &str, page: &str, what: &str) {
    tracing::info!(target: "kvittens::audit", user, page, what, "viewed");
}

/// An action done by `user`: `action` on `what` (a case number or an officer's address).
pub fn acted(user: &str, action: &str, what: &str, detail: &str) {
    tracing::info!(target: "kvittens::audit", user, action, what, detail, "acted");
}

/// An action refused: not permitted, a bad token or origin, or refused by the application.
pub fn refused(user: &str, action: &str, what: &str, why: &str) {
    tracing::warn!(target: "kvittens::audit", user, action, what, why, "refused");
}
