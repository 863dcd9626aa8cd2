//! People: the residents who write, the officers who answer and who covers for whom. Shared by
//! the config (which names them), the rules (which assign them) and the mails (which greet them).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A mailbox address with its display name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The display name, decoded, with control characters removed.
    pub name: Option<String>,
    /// The address, lower-cased.
    pub email: String,
}

impl Person {
    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.email
            .rsplit_once('@')
            .map_or(self.email.as_str(), |(l, _)| l)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.email.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// A person with a name and an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The name, as residents read it.
    pub name: String,
    /// The address, lower-cased.
    pub email: String,
}

/// A period an officer is away, and who covers (hänvisning).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absence {
    /// First day away.
    pub from: NaiveDate,
    /// Last day away.
    pub to: NaiveDate,
    /// Who takes the officer's cases meanwhile.
    pub substitute: String,
}

impl Absence {
    /// Whether the officer is away on `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.to
    }
}

/// A case officer (handläggare).
#[derive(Clone, Debug, PartialEq)]
pub struct Officer {
    /// Name and address.
    pub contact: Contact,
    /// Planned absences from the config.
    pub absent: Vec<Absence>,
}
