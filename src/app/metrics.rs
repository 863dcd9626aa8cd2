//! What kvittens counts, for Prometheus: messages seen, receipts and other mail sent, what was
//! ignored and why, open and overdue cases, the state of the IMAP and SMTP connections, and how
//! long a resident waits for a receipt.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Every value of the `problem` label, so a gauge can set the others to 0.
pub const PROBLEM_KINDS: [&str; 9] = [
    "unreachable",
    "timeout",
    "tls",
    "login_refused",
    "unavailable",
    "folder_missing",
    "token",
    "open_files",
    "other",
];

/// A mail server problem as it is counted and shown: its label value (one of
/// [`PROBLEM_KINDS`]) and, through `Display`, its plain words for `/healthz`. The adapters'
/// `net::diagnose::Problem` is the implementation; the trait keeps the counts from importing
/// the adapters that report to them.
pub trait Trouble: std::fmt::Display {
    /// The `problem` label value.
    fn kind(&self) -> &'static str;
}

/// A department label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Dept {
    /// The department id.
    pub department: String,
}

/// Why a message got no receipt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Ignored {
    /// The department id.
    pub department: String,
    /// The reason code (`automatic`, `internal`, …).
    pub reason: String,
}

/// What kind of mail.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailKind {
    /// `receipt`, `reminder`, `escalation`, …
    pub kind: String,
}

/// One watched folder.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Folder {
    /// The department id.
    pub department: String,
    /// `inbox` or `sent`.
    pub folder: String,
}

/// One watched folder and what is wrong with it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FolderProblem {
    /// The department id.
    pub department: String,
    /// `inbox` or `sent`.
    pub folder: String,
    /// One of [`PROBLEM_KINDS`]: `login_refused`, `unreachable`, `tls`, …
    pub problem: String,
}

/// What is known of each server, for `/healthz` and READY: per folder (department, `inbox` or
/// `sent`) the problem in plain words, or none once it is watched; absent until first tried.
#[derive(Debug, Default)]
pub struct Connections {
    folders: std::sync::Mutex<std::collections::HashMap<(String, String), Option<String>>>,
    smtp: std::sync::Mutex<Option<Option<String>>>,
}

/// Every metric.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Messages read from department mailboxes.
    pub messages_seen: Family<Dept, Counter>,
    /// Cases opened.
    pub cases_opened: Family<Dept, Counter>,
    /// Messages that got no receipt, by reason.
    pub ignored: Family<Ignored, Counter>,
    /// Mail accepted by the SMTP server, by kind.
    pub mail_sent: Family<MailKind, Counter>,
    /// Mail refused for good by the SMTP server, by kind.
    pub mail_refused: Family<MailKind, Counter>,
    /// 1 while a folder is watched, 0 while its server is unreachable.
    pub imap_connected: Family<Folder, Gauge>,
    /// IMAP connection failures.
    pub imap_errors: Family<Dept, Counter>,
    /// 1 while the SMTP server takes mail, 0 while it does not.
    pub smtp_up: Gauge,
    /// SMTP failures.
    pub smtp_errors: Counter,
    /// From the resident's mail reaching the mailbox to the receipt accepted by SMTP.
    pub receipt_latency: Histogram,
    /// Open cases, as of the last scrape.
    pub cases_open: Family<Dept, Gauge>,
    /// Open cases past their reply deadline, as of the last scrape.
    pub cases_overdue: Family<Dept, Gauge>,
    /// Mail waiting in the outbox, as of the last scrape.
    pub outbox: Gauge,
    /// Mail handed to the SMTP server whose answer is not recorded, as of the last scrape:
    /// a moment's worth normally; after a crash, mail waiting for its copy.
    pub in_flight: Gauge,
    /// 1 for the problem a folder has now (by kind), 0 for the others.
    pub mailbox_problem: Family<FolderProblem, Gauge>,
    /// 1 while the SMTP server is down for a reason of this kind.
    pub smtp_problem: Family<Problem, Gauge>,
    /// The state of each connection in words.
    pub connections: Connections,
    /// Seconds the outbox waits for the SMTP account's send limit (`[smtp] max_per_minute`,
    /// `max_per_day`); 0 when it does not.
    pub send_budget_wait: Gauge,
    /// Mails queued while the send limit holds the outbox back; 0 when it does not.
    pub send_budget_queue: Gauge,
    /// Recipients sent to in the last 24 hours, against `max_per_day`.
    pub send_budget_day: Gauge,
    /// 1 for each lease this instance holds, 0 for each it waits for (another instance has
    /// it); with sled every lease is always held.
    pub lease_held: Family<Lease, Gauge>,
    /// 1, labelled with this run's holder id, so that a scrape says which instance it is.
    pub instance: Family<Instance, Gauge>,
}

/// One lease (a watched folder as the store names it, `sender`, `scheduler`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Lease {
    /// The lease's name.
    pub lease: String,
}

/// This run's holder id (host/pid/random), as the leases name it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Instance {
    /// The holder id.
    pub holder: String,
}

/// A problem label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Problem {
    /// One of [`PROBLEM_KINDS`].
    pub problem: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kvittens");
        let m = Metrics {
            messages_seen: Family::default(),
            cases_opened: Family::default(),
            ignored: Family::default(),
            mail_sent: Family::default(),
            mail_refused: Family::default(),
            imap_connected: Family::default(),
            imap_errors: Family::default(),
            smtp_up: Gauge::default(),
            smtp_errors: Counter::default(),
            receipt_latency: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            cases_open: Family::default(),
            cases_overdue: Family::default(),
            outbox: Gauge::default(),
            in_flight: Gauge::default(),
            mailbox_problem: Family::default(),
            smtp_problem: Family::default(),
            connections: Connections::default(),
            send_budget_wait: Gauge::default(),
            send_budget_queue: Gauge::default(),
            send_budget_day: Gauge::default(),
            lease_held: Family::default(),
            instance: Family::default(),
            registry: Registry::default(),
        };
        m.register_mail(&mut registry);
        m.register_connections(&mut registry);
        Metrics { registry, ..m }
    }

    /// The counts of mail and cases, registered under their names.
    fn register_mail(&self, registry: &mut Registry) {
        registry.register(
            "messages_seen",
            "Messages read from department mailboxes",
            self.messages_seen.clone(),
        );
        registry.register("cases_opened", "Cases opened", self.cases_opened.clone());
        registry.register(
            "ignored",
            "Messages that got no receipt, by reason",
            self.ignored.clone(),
        );
        registry.register(
            "mail_sent",
            "Mail accepted by the SMTP server, by kind",
            self.mail_sent.clone(),
        );
        registry.register(
            "mail_refused",
            "Mail refused for good by the SMTP server, by kind",
            self.mail_refused.clone(),
        );
        registry.register(
            "receipt_latency_seconds",
            "Mail reaching the mailbox to its receipt accepted by SMTP",
            self.receipt_latency.clone(),
        );
        registry.register("cases_open", "Open cases", self.cases_open.clone());
        registry.register(
            "cases_overdue",
            "Open cases past their reply deadline",
            self.cases_overdue.clone(),
        );
        registry.register("outbox", "Mail waiting to be sent", self.outbox.clone());
        registry.register(
            "in_flight",
            "Mail handed to the SMTP server whose answer is not recorded yet",
            self.in_flight.clone(),
        );
    }

    /// The state of the connections and the sending budget, registered under their names.
    fn register_connections(&self, registry: &mut Registry) {
        registry.register(
            "imap_connected",
            "1 while a folder is watched",
            self.imap_connected.clone(),
        );
        registry.register(
            "imap_errors",
            "IMAP connection failures",
            self.imap_errors.clone(),
        );
        registry.register(
            "smtp_up",
            "1 while the SMTP server takes mail",
            self.smtp_up.clone(),
        );
        registry.register("smtp_errors", "SMTP failures", self.smtp_errors.clone());
        registry.register(
            "mailbox_problem",
            "1 for what keeps a folder from being watched, by kind",
            self.mailbox_problem.clone(),
        );
        registry.register(
            "smtp_problem",
            "1 for what keeps the SMTP server from taking mail, by kind",
            self.smtp_problem.clone(),
        );
        registry.register(
            "send_budget_wait_seconds",
            "Seconds the outbox waits for the SMTP account's send limit",
            self.send_budget_wait.clone(),
        );
        registry.register(
            "send_budget_queue",
            "Mails queued while the send limit holds the outbox back",
            self.send_budget_queue.clone(),
        );
        registry.register(
            "lease_held",
            "1 for each lease this instance holds, 0 for each another instance holds",
            self.lease_held.clone(),
        );
        registry.register(
            "instance",
            "1, labelled with this run's holder id",
            self.instance.clone(),
        );
        registry.register(
            "send_budget_day_recipients",
            "Recipients sent to in the last 24 hours",
            self.send_budget_day.clone(),
        );
    }

    /// Counts a case opened in `department`, however it came (a message, or a person opening
    /// it from the ignored list).
    pub fn case_opened(&self, department: &str) {
        let label = Dept {
            department: department.to_string(),
        };
        self.cases_opened.get_or_create(&label).inc();
    }

    /// The Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Marks a watched folder up or down.
    pub fn folder_state(&self, department: &str, sent: bool, up: bool) {
        let label = Folder {
            department: department.to_string(),
            folder: if sent { "sent" } else { "inbox" }.to_string(),
        };
        self.imap_connected.get_or_create(&label).set(i64::from(up));
    }

    /// Records what a folder's last try found: `None` when it is watched. Sets the
    /// `mailbox_problem` gauges (1 for this kind, 0 for the others) and `imap_connected`.
    pub fn folder_problem(&self, department: &str, sent: bool, problem: Option<&dyn Trouble>) {
        let folder = if sent { "sent" } else { "inbox" };
        for kind in PROBLEM_KINDS {
            let label = FolderProblem {
                department: department.to_string(),
                folder: folder.to_string(),
                problem: kind.to_string(),
            };
            let on = problem.is_some_and(|p| p.kind() == kind);
            self.mailbox_problem
                .get_or_create(&label)
                .set(i64::from(on));
        }
        self.folder_state(department, sent, problem.is_none());
        if let Ok(mut map) = self.connections.folders.lock() {
            map.insert(
                (department.to_string(), folder.to_string()),
                problem.map(|p| p.to_string()),
            );
        }
    }

    /// Records that another instance watches a folder (it holds the folder's lease): watched
    /// as far as READY and `/healthz` go, no problem, but not connected here.
    pub fn folder_elsewhere(&self, department: &str, sent: bool) {
        self.folder_problem(department, sent, None);
        self.folder_state(department, sent, false);
    }

    /// Whether the last try of a folder found its login refused.
    pub fn login_refused(&self, department: &str, sent: bool) -> bool {
        let label = FolderProblem {
            department: department.to_string(),
            folder: if sent { "sent" } else { "inbox" }.to_string(),
            problem: "login_refused".to_string(),
        };
        self.mailbox_problem.get_or_create(&label).get() == 1
    }

    /// A folder's state in words: `None` until first tried, `Some(None)` while watched,
    /// `Some(Some(problem))` while not.
    pub fn folder_status(&self, department: &str, sent: bool) -> Option<Option<String>> {
        let folder = if sent { "sent" } else { "inbox" };
        self.connections.folders.lock().ok().and_then(|map| {
            map.get(&(department.to_string(), folder.to_string()))
                .cloned()
        })
    }

    /// Records what the last SMTP try found (`None`: it took the connection and login).
    pub fn smtp_state(&self, problem: Option<&dyn Trouble>) {
        for kind in PROBLEM_KINDS {
            let on = problem.is_some_and(|p| p.kind() == kind);
            self.smtp_problem
                .get_or_create(&Problem {
                    problem: kind.to_string(),
                })
                .set(i64::from(on));
        }
        self.smtp_up.set(i64::from(problem.is_none()));
        if let Ok(mut s) = self.connections.smtp.lock() {
            *s = Some(problem.map(|p| p.to_string()));
        }
    }

    /// The SMTP server's state in words: `None` until tried, `Some(None)` when it works.
    pub fn smtp_status(&self) -> Option<Option<String>> {
        self.connections.smtp.lock().ok().and_then(|s| s.clone())
    }

    /// Whether the department's inbox is watched.
    pub fn inbox_up(&self, department: &str) -> bool {
        let label = Folder {
            department: department.to_string(),
            folder: "inbox".to_string(),
        };
        self.imap_connected.get_or_create(&label).get() == 1
    }
}
