//! The case a resident's first message opens, built as the engine builds it but without a
//! store or a server: for the tests that run many messages through `new_case` (decision,
//! fuzz, corpus), so that they build it one way.

use kvittens::app::engine::{new_case, Incoming};
use kvittens::config::{Config, Department};
use kvittens::mail::templates::Templates;
use kvittens::model::{Case, Category, Inbound, Language, Person};
use kvittens::rules::decide::Reason;
use kvittens::store::{Counters, Effects, MessageKey};

/// The case and effects that `raw` (parsed as `msg`) opens as message 1 of `dept`, read now:
/// the year's first case, the sender's first receipt today, with `who` and `withhold` as the
/// decision gave them.
pub fn first_case(
    cfg: &Config,
    templates: &Templates,
    dept: &Department,
    raw: &[u8],
    msg: &Inbound,
    who: (Category, Language, &Person),
    withhold: Option<&Reason>,
) -> (Case, Effects) {
    let incoming = Incoming {
        key: MessageKey {
            department: dept.id.clone(),
            uid_validity: 1,
            uid: 1,
        },
        received: chrono::Utc::now(),
        raw,
        sent_folder: false,
    };
    let counters = Counters {
        seq: 1,
        turn: 0,
        receipts_today: 0,
    };
    new_case(
        cfg,
        templates,
        dept,
        msg,
        &incoming,
        counters,
        who,
        &[],
        withhold,
    )
}
