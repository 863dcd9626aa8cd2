//! The decision what to do with an incoming message: open a case and send a receipt, attach it
//! to a case that exists, or leave it alone. Pure code: what the store knows reaches it through
//! the [`Known`] trait, so it is tested with an in-memory fake.

use crate::config::FaultType;
use crate::model::kinds::has_word;
use crate::model::{ids, Category, CategoryWords, Inbound, Language, Person};
use crate::rules::machine::{list_or_system, machine, machine_sender, no_auto_reply, no_reply};
use std::fmt;

/// Why a message gets no receipt, in words an operator can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// A short stable code, for metrics and scripts: `automatic`, `internal`, `duplicate`,
    /// `follow_up`, `unreadable`; for a withheld receipt `no_address`, `unverified_sender`,
    /// `no_auto_reply`.
    pub code: &'static str,
    /// What exactly was seen.
    pub detail: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

fn reason(code: &'static str, detail: impl Into<String>) -> Reason {
    Reason {
        code,
        detail: detail.into(),
    }
}

/// What to do with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A new matter: open a case and send the resident a receipt.
    Acknowledge {
        /// The kind of matter.
        category: Category,
        /// The receipt's language.
        language: Language,
        /// Where the receipt goes.
        resident: Person,
        /// Why no receipt may go after all: no address to send it to (`no_address`, and
        /// `resident.email` is empty), a sender that failed authentication (the address may be
        /// forged, and a receipt would be backscatter), or a sender who asked for no automatic
        /// reply. The case is opened and flagged.
        withhold: Option<Reason>,
    },
    /// A delivery report about one of kvittens' own receipts: the resident cannot be reached.
    Undeliverable {
        /// The case whose receipt bounced.
        case: String,
        /// What was seen.
        reason: Reason,
    },
    /// More on a case that exists: record it there, send no receipt.
    Attach {
        /// The case number.
        case: String,
        /// How the case was recognised.
        reason: Reason,
    },
    /// Staff wrote in a case's thread: the resident has been answered. No receipt.
    Answer {
        /// The case number.
        case: String,
        /// Who answered.
        by: Person,
        /// How the case was recognised.
        reason: Reason,
    },
    /// A copy of a mail kvittens sent (mail to residents is copied to the department mailbox):
    /// proof that the SMTP server took it. No case, no receipt.
    Copy {
        /// The mail's Message-ID.
        id: String,
        /// What was seen.
        reason: Reason,
    },
    /// No case, no receipt.
    Ignore(Reason),
}

/// What the decision needs to know of a case that exists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseRef {
    /// The department the case belongs to (its id).
    pub department: String,
    /// The resident's address (lower-case; empty when the case has none).
    pub resident: String,
}

/// What the store knows, as far as the decision needs it.
pub trait Known {
    /// The case a message id belongs to (a resident's message or a mail kvittens sent).
    fn case_of_message(&self, message_id: &str) -> Option<String>;
    /// The case with this number, when it exists.
    fn case(&self, number: &str) -> Option<CaseRef>;
    /// Whether a case with this number exists.
    fn case_exists(&self, number: &str) -> bool {
        self.case(number).is_some()
    }
    /// Whether this very message (by Message-ID) was handled already, e.g. in another mailbox.
    fn message_handled(&self, message_id: &str) -> bool;
    /// Whether kvittens' own mail with this Message-ID is in flight (its final dot was about to
    /// go) or was sent: only then can a message with that id be its copy.
    fn own_mail_went(&self, message_id: &str) -> bool;
}

/// The department's side of the decision.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The department whose mailbox the message is in (its id): a case number in the subject
    /// joins another department's case only when that case's resident writes.
    pub department: &'a str,
    /// Domains whose senders are colleagues: no receipt, neither to them nor to a Reply-To
    /// among them.
    pub internal_domains: &'a [String],
    /// The municipality's own addresses named in the config (department mailboxes, officers,
    /// substitutes, managers, `escalate_to`, kvittens' sending address), lower-case: no
    /// receipt goes to them, whatever their domain.
    pub staff_addresses: &'a [String],
    /// The address kvittens sends from (`smtp.from`), lower-case: only mail from it can be a
    /// copy of kvittens' own.
    pub own_address: &'a str,
    /// The domain in the Message-IDs kvittens mints.
    pub own_id_domain: &'a str,
    /// The department's category when neither the subject nor the body's first lines name one.
    pub default_category: Category,
    /// The message is in the department's Sent folder: it can only be an answer.
    pub sent_folder: bool,
    /// Whose `Authentication-Results` count; empty: everybody's.
    pub trusted_authserv_ids: &'a [String],
    /// The words that name each category (`categories.<name>.words`).
    pub category_words: &'a CategoryWords,
    /// The department's fault catalogue (`[[department.fault_type]]`): a type's words make a
    /// mail a fault report.
    pub fault_types: &'a [FaultType],
}

/// Decides what to do with `msg`. Two questions are kept apart: *was it written by a machine?*
/// (then no case at all: bounces, auto-replies, lists, reports — RFC 3834 §2) and *may an
/// automatic reply go to it?* (when not, the case still opens and the officer is told; only the
/// receipt is withheld, and the case says why). A resident's matter never vanishes because of a
/// marker that only says "do not auto-reply".
pub fn decide(msg: &Inbound, ctx: &Context<'_>, known: &dyn Known) -> Decision {
    if !msg.parsed {
        return Decision::Ignore(reason(
            "unreadable",
            "not a mail message mail-parser can read",
        ));
    }
    if let Some(id) = msg
        .message_id
        .as_deref()
        .filter(|id| own_copy(msg, id, ctx, known))
    {
        return Decision::Copy {
            id: id.to_string(),
            reason: reason("copy", format!("a copy of kvittens' own mail <{id}>")),
        };
    }
    if let Some(id) = msg.message_id.as_deref().filter(|id| {
        own_id(id, ctx)
            && msg
                .from
                .as_ref()
                .is_some_and(|f| f.email.eq_ignore_ascii_case(ctx.own_address))
    }) {
        // Our id and our From, but no such mail went from this store: a copy an earlier store
        // (or `backfill` over old copies) left in the mailbox. It names its case, like a
        // bounce, but it is no bounce: nothing to flag, and it is listed as ignored.
        return Decision::Ignore(reason(
            "copy",
            format!("a copy of kvittens' own mail <{id}> that this store did not send"),
        ));
    }
    let relayed = relayed_for(msg, ctx.internal_domains);
    if let Some(why) = machine(msg, relayed.is_some()) {
        if let Some(case) = msg.mentioned_receipts.iter().find(|c| known.case_exists(c)) {
            let detail = format!("a delivery report about the receipt of {case} ({why})");
            return Decision::Undeliverable {
                case: case.clone(),
                reason: reason("receipt_bounced", detail),
            };
        }
        return Decision::Ignore(reason("automatic", why));
    }
    if ctx.sent_folder {
        return sent(msg, ctx, known);
    }
    if let Some(id) = &msg.message_id {
        if known.message_handled(id) {
            return Decision::Ignore(reason(
                "duplicate",
                format!("message <{id}> was handled already"),
            ));
        }
    }
    if let Some(from) = msg.from.as_ref().filter(|_| relayed.is_none()) {
        if is_internal(from.domain(), ctx.internal_domains) {
            return colleague(msg, from, ctx, known);
        }
    }
    if let Some(d) = follow_up(msg, ctx, known) {
        return d;
    }
    let (resident, no_address) = receipt_to(msg, relayed, ctx);
    let withhold = no_address
        .or_else(|| {
            unverified(msg, ctx.trusted_authserv_ids).map(|why| reason("unverified_sender", why))
        })
        .or_else(|| no_auto_reply(msg).map(|why| reason("no_auto_reply", why)));
    Decision::Acknowledge {
        category: classify(
            msg,
            ctx.category_words,
            ctx.fault_types,
            ctx.default_category,
        )
        .0,
        language: language(msg),
        resident,
        withhold,
    }
}

/// What the department sent: an answer when it is in a case's thread, else nothing.
fn sent(msg: &Inbound, ctx: &Context<'_>, known: &dyn Known) -> Decision {
    let by = msg.from.clone().unwrap_or_default();
    match follow_up(msg, ctx, known) {
        Some(Decision::Attach { case, reason: why }) => {
            let detail = format!("sent from the department mailbox: {}", why.detail);
            Decision::Answer {
                case,
                by,
                reason: reason("answer", detail),
            }
        }
        _ => Decision::Ignore(reason("sent", "sent mail that is not in a case's thread")),
    }
}

/// A colleague writing in a case's thread (e.g. an officer's reply with the department in Cc)
/// answers the case; any other internal mail is just internal.
fn colleague(msg: &Inbound, from: &Person, ctx: &Context<'_>, known: &dyn Known) -> Decision {
    if let Some(Decision::Attach { case, reason: why }) = follow_up(msg, ctx, known) {
        let detail = format!("{} wrote in the thread: {}", from.email, why.detail);
        return Decision::Answer {
            case,
            by: from.clone(),
            reason: reason("answer", detail),
        };
    }
    Decision::Ignore(reason(
        "internal",
        format!("from {} (internal domain)", from.email),
    ))
}

/// The person a relay writes for: an e-service or form mailer sends from a no-reply address
/// (also from the municipality's own domain) with the resident in `Reply-To`. Their mail is
/// that person's, and the receipt goes to the Reply-To. A Reply-To inside `internal` (as on
/// kvittens' own mail, whose Reply-To is the department) or itself a machine's makes no relay.
fn relayed_for(msg: &Inbound, internal: &[String]) -> Option<Person> {
    let from = msg.from.as_ref()?;
    let to = msg.reply_to.as_ref()?;
    let relay = no_reply(from.local_part()) && list_or_system(from.local_part()).is_none();
    let person = to.email != from.email
        && !is_internal(to.domain(), internal)
        && machine_sender(to.local_part()).is_none();
    (relay && person).then(|| to.clone())
}

/// Where the receipt of a new case goes, and why none may, if none may: the person a relay
/// writes for, else the Reply-To (RFC 5322 §3.6.2: where the author wants replies), else the
/// From — each only when [`unfit_for_receipt`] finds nothing against it. A Reply-To inside
/// the municipality (all staff, an officer, a department mailbox) is passed over for the
/// From: a receipt there would tell the resident nothing and put the municipality's own
/// address in a loop with itself. When neither fits, the case opens flagged for a person and
/// no receipt goes (`no_address`, with what was passed over).
fn receipt_to(
    msg: &Inbound,
    relayed: Option<Person>,
    ctx: &Context<'_>,
) -> (Person, Option<Reason>) {
    if let Some(p) = relayed {
        return (p, None);
    }
    let mut passed: Vec<String> = Vec::new();
    let from = msg
        .from
        .as_ref()
        .filter(|f| msg.reply_to.as_ref().is_none_or(|r| r.email != f.email));
    for (field, person) in [("Reply-To", msg.reply_to.as_ref()), ("From", from)] {
        let Some(p) = person else { continue };
        match unfit_for_receipt(p, ctx.internal_domains, ctx.staff_addresses) {
            None => return (p.clone(), None),
            Some(why) => passed.push(format!("{field} {} ({why})", p.email)),
        }
    }
    let detail = if passed.is_empty() {
        "no usable From or Reply-To address".to_string()
    } else {
        format!("no address a receipt may go to: {}", passed.join("; "))
    };
    let why = reason("no_address", format!("{detail}; flagged for a person"));
    // No address, but the writer's name where one was given: the officer sees who wrote.
    let name = [msg.from.as_ref(), msg.reply_to.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|p| p.name.clone());
    (
        Person {
            name,
            email: String::new(),
        },
        Some(why),
    )
}

/// Why no receipt may go to `p`, if none may: no address mail can be sent to; an address in
/// `internal` (a colleague, an all-staff list, a department mailbox) or one of `staff` (the
/// municipality's own addresses named in the config, whatever their domain); or a machine's
/// or list's address, which RFC 3834 §2 says gets no automatic reply. The same rule for the
/// daemon's decision and for a case a registrar opens from ignored mail.
pub fn unfit_for_receipt(p: &Person, internal: &[String], staff: &[String]) -> Option<String> {
    if p.email.parse::<lettre::Address>().is_err() {
        return Some("not an address mail can be sent to".to_string());
    }
    if is_internal(p.domain(), internal) {
        return Some("inside the municipality (internal_domains)".to_string());
    }
    if staff.iter().any(|s| s.eq_ignore_ascii_case(&p.email)) {
        return Some("one of the municipality's own addresses in the config".to_string());
    }
    machine_sender(p.local_part()).map(str::to_string)
}

/// Whether a message with kvittens' Message-ID `id` is the copy of kvittens' own mail: only
/// when it comes from kvittens' sending address and that mail is in flight or was sent.
/// Anyone can write such an id; a resident's mail that does is decided like any other (and
/// is a duplicate when the id names a case), never taken for a copy that would confirm a
/// mail that never went or hide the resident's mail without a trace.
fn own_copy(msg: &Inbound, id: &str, ctx: &Context<'_>, known: &dyn Known) -> bool {
    own_id(id, ctx)
        && msg
            .from
            .as_ref()
            .is_some_and(|f| f.email.eq_ignore_ascii_case(ctx.own_address))
        && known.own_mail_went(id)
}

/// Whether `id` is a Message-ID kvittens minted.
fn own_id(id: &str, ctx: &Context<'_>) -> bool {
    ids::minted_under(id, ctx.own_id_domain)
}

/// Why the sender's address may be forged, by the `Authentication-Results` headers: DMARC
/// failed, or SPF failed with no DKIM signature passing. With `trusted` empty every such header
/// counts — a forged "fail" can only suppress a receipt, never cause one; else only those of
/// the municipality's own receiving servers.
pub fn unverified(msg: &Inbound, trusted: &[String]) -> Option<String> {
    for value in msg.header_values("authentication-results") {
        let (id, results) = value.split_once(';').unwrap_or((value, ""));
        let id = id
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if !trusted.is_empty() && !trusted.iter().any(|t| t.eq_ignore_ascii_case(&id)) {
            continue;
        }
        let results = results.to_ascii_lowercase();
        let has = |m: &str| {
            results
                .split(|c: char| c == ';' || c.is_whitespace())
                .any(|w| w == m)
        };
        if has("dmarc=fail") {
            return Some(format!("Authentication-Results of {id}: dmarc=fail"));
        }
        if has("spf=fail") && !has("dkim=pass") {
            return Some(format!(
                "Authentication-Results of {id}: spf=fail and no dkim=pass"
            ));
        }
    }
    None
}

/// The case `msg` continues, if any: by In-Reply-To/References to a message of a case (ids
/// kvittens minted or recorded, which a stranger does not know), else by a case number in
/// the subject (see [`subject_case`]).
fn follow_up(msg: &Inbound, ctx: &Context<'_>, known: &dyn Known) -> Option<Decision> {
    for id in &msg.references {
        if let Some(case) = known.case_of_message(id) {
            let why = reason("follow_up", format!("refers to <{id}> of case {case}"));
            return Some(Decision::Attach { case, reason: why });
        }
    }
    ids::case_numbers(&msg.subject_seen).find_map(|n| subject_case(msg, &n, ctx, known))
}

/// Whether a case number in the subject joins `msg` to that case: a case of this department
/// does; another department's only when the mail comes from that case's resident (who wrote
/// to the wrong mailbox), and the reason names the department. A number is only text anyone
/// can type: a stranger's mail naming another department's case is a new matter here, not
/// a message hidden in a case nobody in this department reads.
fn subject_case(
    msg: &Inbound,
    number: &str,
    ctx: &Context<'_>,
    known: &dyn Known,
) -> Option<Decision> {
    let case = known.case(number)?;
    if case.department == ctx.department {
        return Some(Decision::Attach {
            case: number.to_string(),
            reason: reason("follow_up", format!("subject names case {number}")),
        });
    }
    let writer = [&msg.from, &msg.reply_to]
        .into_iter()
        .flatten()
        .find(|p| !case.resident.is_empty() && p.email.eq_ignore_ascii_case(&case.resident))?;
    let detail = format!(
        "subject names case {number} of department {}, and its resident {} wrote",
        case.department, writer.email
    );
    Some(Decision::Attach {
        case: number.to_string(),
        reason: reason("follow_up", detail),
    })
}

fn is_internal(domain: &str, internal: &[String]) -> bool {
    internal
        .iter()
        .any(|d| domain == d || domain.ends_with(&format!(".{d}")))
}

/// The category the subject names, else the one the body's first lines name, else the
/// department's default. A complaint titled "Hej" is still a complaint, and the manager is
/// told of it.
pub fn categorize(msg: &Inbound, words: &CategoryWords, default: Category) -> Category {
    words
        .find(msg.subject.as_deref().unwrap_or(""))
        .or_else(|| words.find(&first_lines(&msg.text_preview, 5)))
        .unwrap_or(default)
}

/// The category of a new case and, for a fault report, its type in the department's
/// catalogue. The categories' own words come first (complaint, fault report, application;
/// subject before body), so "Klagomål: gatlyktan är fortfarande trasig" is a complaint, as the
/// policy wants a complaint handled. When no category is named, a fault type's words make the
/// mail a fault report of that type ("Trasig gatlykta på Storgatan"); else the department's
/// default. A fault report named as such ("Felanmälan: …", or the default category) gets
/// the type its words name, or none.
pub fn classify<'t>(
    msg: &Inbound,
    words: &CategoryWords,
    types: &'t [FaultType],
    default: Category,
) -> (Category, Option<&'t FaultType>) {
    let named = words
        .find(msg.subject.as_deref().unwrap_or(""))
        .or_else(|| words.find(&first_lines(&msg.text_preview, 5)));
    let found = fault_type(msg, types);
    match named {
        Some(Category::FaultReport) => (Category::FaultReport, found),
        Some(other) => (other, None),
        None if found.is_some() => (Category::FaultReport, found),
        None => (default, None),
    }
}

/// The first fault type (in catalogue order) whose words the subject has at the start of a
/// word, else the first whose words the body's first five lines the resident wrote have (the
/// rule of the category words, see [`categorize`]).
pub fn fault_type<'t>(msg: &Inbound, types: &'t [FaultType]) -> Option<&'t FaultType> {
    let in_text = |text: &str| {
        let text = text.to_lowercase();
        types
            .iter()
            .find(|t| t.words.iter().any(|w| has_word(&text, w)))
    };
    in_text(msg.subject.as_deref().unwrap_or(""))
        .or_else(|| in_text(&first_lines(&msg.text_preview, 5)))
}

/// The category the subject names with the built-in words, else `default`.
pub fn category(subject: &str, default: Category) -> Category {
    CategoryWords::default().find(subject).unwrap_or(default)
}

/// The first `n` lines of a body that the resident wrote: empty lines, quoted lines (`>`) and
/// everything from a signature (`-- `, RFC 3676 §4.3) or a quoted earlier mail ("On … wrote:",
/// "Den … skrev:", "-----Original Message-----", "From:") on are left out.
pub fn first_lines(body: &str, n: usize) -> String {
    let mut out = Vec::new();
    for line in body.lines() {
        let l = line.trim();
        let lower = l.to_lowercase();
        let quote_header = lower.ends_with(':')
            && (lower.contains(" wrote") || lower.contains(" skrev") || lower.contains(" schrieb"));
        if l == "--"
            || l.starts_with("-----")
            || lower.starts_with("from:")
            || lower.starts_with("från:")
            || quote_header
        {
            break;
        }
        if l.is_empty() || l.starts_with('>') {
            continue;
        }
        out.push(l);
        if out.len() == n {
            break;
        }
    }
    out.join("\n")
}

/// Words of the resident's own text (quotes and signatures left out) from which its language
/// is read without the subject: a subject is short and often in another language than the
/// text (an English phrase, a form's fixed title), so it only helps a text too short to tell.
const LANGUAGE_BODY_WORDS: usize = 4;

/// English when the resident's text is clearly English — judged on the text alone when it has
/// `LANGUAGE_BODY_WORDS` (4) words or more, else on the subject and text together — else
/// Swedish, the municipality's language (språklagen 2009:600 § 10).
pub fn language(msg: &Inbound) -> Language {
    let own = first_lines(&msg.text_preview, 40);
    let text = if own.split_whitespace().count() >= LANGUAGE_BODY_WORDS {
        own
    } else {
        format!("{}\n{own}", msg.subject.as_deref().unwrap_or(""))
    };
    let detector =
        whatlang::Detector::with_allowlist(vec![whatlang::Lang::Swe, whatlang::Lang::Eng]);
    match detector.detect(&text) {
        Some(info)
            if info.lang() == whatlang::Lang::Eng
                && info.confidence() > 0.5
                && text.split_whitespace().count() >= 4 =>
        {
            Language::En
        }
        _ => Language::Sv,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::OnceLock;

    /// The store as the decision sees it. A case named only in `by_id` is bygg's, with
    /// anna@medborgare.test as its resident; `cases` names others.
    #[derive(Default)]
    struct Fake {
        by_id: HashMap<String, String>,
        cases: HashMap<String, CaseRef>,
        handled: Vec<String>,
        went: Vec<String>,
    }

    impl Known for Fake {
        fn case_of_message(&self, id: &str) -> Option<String> {
            self.by_id.get(id).cloned()
        }
        fn case(&self, number: &str) -> Option<CaseRef> {
            if let Some(c) = self.cases.get(number) {
                return Some(c.clone());
            }
            self.by_id.values().any(|c| c == number).then(|| CaseRef {
                department: "bygg".into(),
                resident: "anna@medborgare.test".into(),
            })
        }
        fn message_handled(&self, id: &str) -> bool {
            self.handled.iter().any(|h| h == id) || self.by_id.contains_key(id)
        }
        fn own_mail_went(&self, id: &str) -> bool {
            self.went.iter().any(|w| w == id)
        }
    }

    #[test]
    fn an_old_copy_this_store_did_not_send_is_no_bounce() {
        // A fresh store, a mailbox with an earlier store's receipt copy whose case number now
        // names a new case: ignored as a copy, not taken for a bounce of that case's receipt.
        let mut known = Fake::default();
        known
            .by_id
            .insert("m0@medborgare.test".into(), "BMN-2026-0001".into());
        let m = mail(
            "From: noreply@kommun.test\nTo: anna@medborgare.test\nAuto-Submitted: auto-replied\nMessage-ID: <kvittens.receipt.BMN-2026-0001@kommun.test>\nSubject: Re: Fråga [BMN-2026-0001]",
            "Vi har tagit emot ditt meddelande.",
        );
        let d = decide(&m, &ctx(), &known);
        assert!(
            matches!(&d, Decision::Ignore(r) if r.code == "copy" && r.detail.contains("did not send")),
            "{d:?}"
        );
    }

    fn ctx() -> Context<'static> {
        static INTERNAL: OnceLock<Vec<String>> = OnceLock::new();
        static STAFF: OnceLock<Vec<String>> = OnceLock::new();
        static WORDS: OnceLock<CategoryWords> = OnceLock::new();
        Context {
            department: "bygg",
            category_words: WORDS.get_or_init(CategoryWords::default),
            internal_domains: INTERNAL.get_or_init(|| vec!["kommun.test".to_string()]),
            staff_addresses: STAFF.get_or_init(|| {
                vec![
                    "noreply@kommun.test".to_string(),
                    "bygg@kommun.test".to_string(),
                    "olle.konsult@konsultbyran.test".to_string(),
                ]
            }),
            own_address: "noreply@kommun.test",
            own_id_domain: "kommun.test",
            default_category: Category::Question,
            sent_folder: false,
            trusted_authserv_ids: &[],
            fault_types: &[],
        }
    }

    fn mail(headers: &str, body: &str) -> Inbound {
        let raw = format!("{headers}\r\n\r\n{body}\r\n")
            .replace("\n", "\r\n")
            .replace("\r\r\n", "\r\n");
        Inbound::parse(raw.as_bytes())
    }

    fn plain(extra: &str) -> Inbound {
        mail(
            &format!("From: Anna <anna@medborgare.test>\nSubject: Fråga om bygglov\nMessage-ID: <m1@medborgare.test>{extra}"),
            "Hej, när kan jag få svar på min fråga om bygglov för ett garage?",
        )
    }

    fn action(d: &Decision) -> &'static str {
        match d {
            Decision::Acknowledge { withhold: None, .. } => "acknowledge",
            Decision::Acknowledge {
                withhold: Some(r), ..
            } => r.code,
            Decision::Undeliverable { .. } => "receipt_bounced",
            Decision::Attach { .. } => "attach",
            Decision::Answer { .. } => "answer",
            Decision::Copy { .. } => "copy",
            Decision::Ignore(r) => r.code,
        }
    }

    #[test]
    fn a_residents_question_is_acknowledged_in_swedish() {
        let d = decide(&plain(""), &ctx(), &Fake::default());
        assert_eq!(
            d,
            Decision::Acknowledge {
                category: Category::Question,
                language: Language::Sv,
                resident: Person {
                    name: Some("Anna".into()),
                    email: "anna@medborgare.test".into()
                },
                withhold: None,
            }
        );
    }

    #[test]
    fn every_automatic_marker_is_ignored() {
        let markers = [
            "\nReturn-Path: <>",
            "\nAuto-Submitted: auto-replied",
            "\nAuto-Submitted: auto-generated; foo=bar",
            "\nPrecedence: bulk",
            "\nPrecedence: junk",
            "\nPrecedence: list",
            "\nX-Precedence: auto_reply",
            "\nList-Id: <news.example.org>",
            "\nList-Unsubscribe: <mailto:x@example.org>",
            "\nMailing-List: contact x@example.org",
            "\nX-Loop: something",
            "\nX-No-Loop: yes",
            "\nX-Kvittens-Loop: bygg@kommun.test",
            "\nX-Autoreply: yes",
            "\nX-Autorespond: yes",
            "\nX-Autoresponse: yes",
            "\nX-AutoReply-From: x@example.org",
            "\nX-Mail-Autoreply: yes",
            "\nX-Autogenerated: Reply",
            "\nX-Failed-Recipients: x@example.org",
        ];
        for marker in markers {
            let d = decide(&plain(marker), &ctx(), &Fake::default());
            assert_eq!(action(&d), "automatic", "{marker:?} gave {d:?}");
        }
        // The explicit "no" is a person.
        let d = decide(&plain("\nAuto-Submitted: no"), &ctx(), &Fake::default());
        assert_eq!(action(&d), "acknowledge");
        // Suppressing only delivery reports says nothing about the sender being a machine.
        let d = decide(
            &plain("\nX-Auto-Response-Suppress: DR, RN"),
            &ctx(),
            &Fake::default(),
        );
        assert_eq!(action(&d), "acknowledge");
    }

    #[test]
    fn machine_senders_are_ignored() {
        for from in [
            "MAILER-DAEMON@mx.example.org",
            "postmaster@example.org",
            "LISTSERV@lists.example.org",
            "majordomo@example.org",
            "abuse@example.org",
            "noreply@example.org",
            "no-reply@example.org",
            "no_reply@example.org",
            "do-not-reply@example.org",
            "donotreply@example.org",
            "news-request@example.org",
            "owner-news@example.org",
            "list-admin@example.org",
        ] {
            let m = mail(&format!("From: {from}\nSubject: Hej"), "text");
            assert_eq!(
                action(&decide(&m, &ctx(), &Fake::default())),
                "automatic",
                "{from}"
            );
        }
    }

    #[test]
    fn reports_and_our_own_mail_are_ignored() {
        let m = mail(
            "From: x@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=b",
            "--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--",
        );
        assert_eq!(action(&decide(&m, &ctx(), &Fake::default())), "automatic");
    }

    #[test]
    fn a_copy_of_our_own_mail_is_recognised_as_such() {
        // The copy of a receipt names its own case (as a bounce would): it is still a copy,
        // not a bounce, and opens no case.
        let mut known = Fake::default();
        known
            .by_id
            .insert("m0@medborgare.test".into(), "BMN-2026-0001".into());
        let m = mail(
            "From: noreply@kommun.test\nTo: anna@medborgare.test\nAuto-Submitted: auto-replied\nMessage-ID: <kvittens.receipt.BMN-2026-0001@KOMMUN.test>\nSubject: Vi har tagit emot ditt meddelande [BMN-2026-0001]",
            "x",
        );
        known
            .went
            .push("kvittens.receipt.BMN-2026-0001@KOMMUN.test".into());
        let d = decide(&m, &ctx(), &known);
        assert!(
            matches!(&d, Decision::Copy { id, .. } if id == "kvittens.receipt.BMN-2026-0001@KOMMUN.test"),
            "{d:?}"
        );
        // Someone else's domain, or an id that merely looks like ours, is no copy.
        for id in [
            "kvittens.receipt.BMN-2026-0001@other.test",
            "x.kvittens.receipt@kommun.test",
        ] {
            let m = mail(&format!("From: a@example.org\nMessage-ID: <{id}>"), "x");
            assert_ne!(action(&decide(&m, &ctx(), &known)), "copy", "{id}");
        }
    }

    #[test]
    fn a_forged_kvittens_message_id_is_no_copy() {
        let mut known = Fake::default();
        let ours = "kvittens.receipt.BMN-2026-0002@kommun.test";
        known.by_id.insert(ours.into(), "BMN-2026-0002".into());
        known.went.push(ours.into());
        let notice = "kvittens.notice.BMN-2026-0002@kommun.test";
        known.by_id.insert(notice.into(), "BMN-2026-0002".into());
        // A resident's mail with the id of a receipt that went: decided as any mail — the id
        // is a case's, so it is a duplicate, recorded in the ignored list.
        for from in [
            "Eve <eve@medborgare.test>",
            "Eve <eve@kommun.test.evil.example>",
        ] {
            for id in [ours, notice] {
                let m = mail(
                    &format!("From: {from}\nSubject: Hej\nMessage-ID: <{id}>"),
                    "Hej, jag har en fråga.",
                );
                let d = decide(&m, &ctx(), &known);
                assert_eq!(action(&d), "duplicate", "{from} {id}: {d:?}");
            }
        }
        // An id of a case that does not exist: a resident's new matter.
        let m = mail(
            "From: eve@medborgare.test\nSubject: Hej\nMessage-ID: <kvittens.receipt.BMN-2026-0099@kommun.test>",
            "Hej, jag har en fråga.",
        );
        assert_eq!(action(&decide(&m, &ctx(), &known)), "acknowledge");
        // From kvittens' own address, but no such mail went (withheld, still waiting, never
        // minted, or an earlier store's): no copy to confirm anything; ignored, and listed.
        for id in [
            "kvittens.receipt.BMN-2026-0003@kommun.test",
            "kvittens.receipt.BMN-2026-0099@kommun.test",
        ] {
            let m = mail(
                &format!("From: Salems kommun <noreply@kommun.test>\nAuto-Submitted: auto-replied\nMessage-ID: <{id}>\nSubject: Vi har tagit emot"),
                "x",
            );
            let d = decide(&m, &ctx(), &known);
            assert!(
                matches!(&d, Decision::Ignore(r) if r.code == "copy"),
                "{id}: {d:?}"
            );
        }
        // The real copy: from kvittens' address, of a mail that went.
        let m = mail(
            &format!("From: Salems kommun <NoReply@kommun.test>\nAuto-Submitted: auto-replied\nMessage-ID: <{ours}>\nSubject: Vi har tagit emot"),
            "x",
        );
        assert_eq!(action(&decide(&m, &ctx(), &known)), "copy");
    }

    #[test]
    fn a_receipt_never_goes_inside_the_municipality() {
        // A Reply-To inside: an all-staff list, an officer, a department mailbox, a
        // subdomain, a staff address the config names outside internal_domains.
        for reply_to in [
            "Alla anställda <alla-anstallda@kommun.test>",
            "Olle Handläggare <olle.handlaggare@kommun.test>",
            "Bygg <BYGG@kommun.test>",
            "registrator@skola.kommun.test",
            "olle.konsult@konsultbyran.test",
            "\"Eve\" <eve@@medborgare>",
        ] {
            let m = mail(
                &format!("From: Eve <eve@medborgare.test>\nReply-To: {reply_to}\nSubject: Fråga om bygglov"),
                "Hej, när kan jag få svar?",
            );
            let d = decide_one(&m);
            assert_eq!(action(&d), "acknowledge", "{reply_to}: {d:?}");
            let r = resident_of(&d);
            assert_eq!(r.email, "eve@medborgare.test", "{reply_to}");
            assert_eq!(r.name.as_deref(), Some("Eve"), "{reply_to}");
        }
        // A person's Reply-To outside is still where the receipt goes.
        let m = mail(
            "From: Eve <eve@medborgare.test>\nReply-To: Adam <adam@example.org>\nSubject: Fråga",
            "Hej",
        );
        assert_eq!(resident_of(&decide_one(&m)).email, "adam@example.org");
        // No person outside at all: the case opens, flagged, and no receipt goes — and the
        // reason says what was passed over.
        for head in [
            "Reply-To: alla-anstallda@kommun.test",
            "From: Eve\nReply-To: alla-anstallda@kommun.test",
            "From: \"Eve\" <eve@@medborgare>\nReply-To: alla-anstallda@kommun.test",
            "From: olle.konsult@konsultbyran.test\nReply-To: bygg@kommun.test",
        ] {
            let m = mail(&format!("{head}\nSubject: Fråga"), "Hej, en fråga.");
            let d = decide_one(&m);
            assert_eq!(action(&d), "no_address", "{head}: {d:?}");
            assert_eq!(resident_of(&d).email, "", "{head}");
            let Decision::Acknowledge {
                withhold: Some(why),
                ..
            } = &d
            else {
                unreachable!()
            };
            assert!(why.detail.contains("@kommun.test"), "{head}: {why}");
        }
        // The rule itself, as the registrar uses it.
        let staff = vec!["olle.konsult@konsultbyran.test".to_string()];
        let internal = vec!["kommun.test".to_string()];
        let person = |email: &str| Person {
            name: None,
            email: email.into(),
        };
        for unfit in [
            "alla@kommun.test",
            "x@skola.kommun.test",
            "olle.konsult@konsultbyran.test",
            "alla-request@lists.example.org",
            "owner-alla@lists.example.org",
            "noreply@vendor.test",
            "mailer-daemon@mx.example.org",
            "",
            "no address",
        ] {
            assert!(
                unfit_for_receipt(&person(unfit), &internal, &staff).is_some(),
                "{unfit}"
            );
        }
        for fit in ["eve@medborgare.test", "eve@notkommun.test"] {
            assert_eq!(unfit_for_receipt(&person(fit), &internal, &staff), None);
        }
    }

    #[test]
    fn a_case_number_of_another_department_is_only_text() {
        let mut known = Fake::default();
        let soc = CaseRef {
            department: "soc".into(),
            resident: "karin@medborgare.test".into(),
        };
        known.cases.insert("SOC-2026-0007".into(), soc);
        known.cases.insert(
            "BMN-2026-0003".into(),
            CaseRef {
                department: "bygg".into(),
                resident: "sara@medborgare.test".into(),
            },
        );
        // A stranger naming another department's case: a new matter here, with a receipt.
        for subject in [
            "Ang SOC-2026-0007",
            "Re: Ditt ärende [SOC-2026-0007]",
            "SOC-2026-0007 BMN-2025-0001",
        ] {
            let m = mail(
                &format!("From: Z <z@example.org>\nSubject: {subject}"),
                "Hej, jag undrar över bygglovet.",
            );
            let d = decide_one_with(&m, &known);
            assert_eq!(action(&d), "acknowledge", "{subject}: {d:?}");
            assert_eq!(resident_of(&d).email, "z@example.org");
        }
        // The case's own resident writing to the wrong mailbox joins their case, and the
        // reason names its department.
        for head in [
            "From: Karin <Karin@Medborgare.test>",
            "From: karin.jobb@firma.test\nReply-To: karin@medborgare.test",
        ] {
            let m = mail(&format!("{head}\nSubject: Ang SOC-2026-0007"), "Mer.");
            let d = decide_one_with(&m, &known);
            assert!(
                matches!(&d, Decision::Attach { case, reason } if case == "SOC-2026-0007" && reason.detail.contains("department soc")),
                "{head}: {d:?}"
            );
        }
        // This department's case joins whoever writes; the first number that may join counts.
        for subject in ["Ang BMN-2026-0003", "SOC-2026-0007 och BMN-2026-0003"] {
            let m = mail(&format!("From: z@example.org\nSubject: {subject}"), "x");
            let d = decide_one_with(&m, &known);
            assert!(
                matches!(&d, Decision::Attach { case, .. } if case == "BMN-2026-0003"),
                "{subject}: {d:?}"
            );
        }
        // A colleague or the Sent folder naming another department's case answers nothing.
        let m = mail("From: olle@kommun.test\nSubject: Ang SOC-2026-0007", "x");
        assert_eq!(action(&decide_one_with(&m, &known)), "internal");
        let sent = Context {
            sent_folder: true,
            ..ctx()
        };
        assert_eq!(action(&decide(&m, &sent, &known)), "sent");
        // Threading to a message of the case stays: ids are not typed by strangers.
        known
            .by_id
            .insert("k1@medborgare.test".into(), "SOC-2026-0007".into());
        let m = mail(
            "From: z@example.org\nSubject: Hej\nIn-Reply-To: <k1@medborgare.test>",
            "x",
        );
        let d = decide_one_with(&m, &known);
        assert!(
            matches!(&d, Decision::Attach { case, .. } if case == "SOC-2026-0007"),
            "{d:?}"
        );
    }

    #[test]
    fn colleagues_get_no_receipt() {
        let m = mail("From: olle@kommun.test\nSubject: Lunch?", "x");
        assert_eq!(action(&decide(&m, &ctx(), &Fake::default())), "internal");
        let m = mail("From: olle@skola.kommun.test\nSubject: Lunch?", "x");
        assert_eq!(action(&decide(&m, &ctx(), &Fake::default())), "internal");
        let m = mail("From: olle@notkommun.test\nSubject: Lunch?", "x");
        assert_eq!(action(&decide(&m, &ctx(), &Fake::default())), "acknowledge");
    }

    #[test]
    fn follow_ups_attach_to_their_case() {
        let mut known = Fake::default();
        known
            .by_id
            .insert("m0@medborgare.test".into(), "BMN-2026-0007".into());
        let d = decide(
            &plain("\nIn-Reply-To: <m0@medborgare.test>"),
            &ctx(),
            &known,
        );
        assert!(
            matches!(d, Decision::Attach { ref case, .. } if case == "BMN-2026-0007"),
            "{d:?}"
        );
        let m = mail(
            "From: anna@medborgare.test\nSubject: Re: Fråga [BMN-2026-0007]",
            "Tack!",
        );
        let d = decide(&m, &ctx(), &known);
        assert!(
            matches!(d, Decision::Attach { ref case, .. } if case == "BMN-2026-0007"),
            "{d:?}"
        );
        // A number that is no case of ours is just text.
        let m = mail(
            "From: anna@medborgare.test\nSubject: Om BMN-2025-0001",
            "Hej",
        );
        assert_eq!(action(&decide(&m, &ctx(), &known)), "acknowledge");
    }

    #[test]
    fn a_colleague_in_a_cases_thread_answers_it() {
        let mut known = Fake::default();
        known
            .by_id
            .insert("m0@medborgare.test".into(), "BMN-2026-0007".into());
        let m = mail("From: olle@kommun.test\nTo: anna@medborgare.test\nCc: bygg@kommun.test\nSubject: Re: Fråga\nIn-Reply-To: <m0@medborgare.test>", "Svar");
        let d = decide(&m, &ctx(), &known);
        assert!(
            matches!(d, Decision::Answer { ref case, ref by, .. } if case == "BMN-2026-0007" && by.email == "olle@kommun.test"),
            "{d:?}"
        );
        let m = mail(
            "From: olle@kommun.test\nSubject: Svar om BMN-2026-0007",
            "Svar",
        );
        assert_eq!(action(&decide(&m, &ctx(), &known)), "answer");
        // Our own receipt in the thread is no answer.
        let m = mail("From: noreply@kommun.test\nAuto-Submitted: auto-replied\nSubject: Re: x [BMN-2026-0007]", "kvittens");
        assert_eq!(action(&decide(&m, &ctx(), &known)), "automatic");
    }

    #[test]
    fn sent_mail_is_an_answer_or_nothing() {
        let mut known = Fake::default();
        known
            .by_id
            .insert("m0@medborgare.test".into(), "BMN-2026-0007".into());
        let sent = Context {
            sent_folder: true,
            ..ctx()
        };
        let m = mail("From: bygg@kommun.test\nTo: anna@medborgare.test\nSubject: Re: x\nIn-Reply-To: <m0@medborgare.test>", "Svar");
        assert_eq!(action(&decide(&m, &sent, &known)), "answer");
        let m = mail(
            "From: bygg@kommun.test\nTo: anna@medborgare.test\nSubject: Nyhetsbrev",
            "x",
        );
        assert_eq!(action(&decide(&m, &sent, &known)), "sent");
        // Even from outside the internal domains, nothing in Sent is acknowledged.
        let m = mail("From: x@example.org\nSubject: Hej", "x");
        assert_eq!(action(&decide(&m, &sent, &known)), "sent");
    }

    #[test]
    fn forged_senders_get_no_receipt() {
        for (results, code) in [
            (
                "mx.kommun.test; dmarc=fail header.from=medborgare.test",
                "unverified_sender",
            ),
            (
                "mx.kommun.test; spf=fail smtp.mailfrom=x; dkim=none",
                "unverified_sender",
            ),
            (
                "mx.kommun.test; spf=fail smtp.mailfrom=x; dkim=pass header.d=x",
                "acknowledge",
            ),
            (
                "mx.kommun.test; spf=pass; dkim=pass; dmarc=pass",
                "acknowledge",
            ),
        ] {
            let d = decide(
                &plain(&format!("\nAuthentication-Results: {results}")),
                &ctx(),
                &Fake::default(),
            );
            assert_eq!(action(&d), code, "{results}");
        }
        // Narrowed to trusted servers, a "fail" from elsewhere does not count.
        let trusted = vec!["mx.kommun.test".to_string()];
        let c = Context {
            trusted_authserv_ids: &trusted,
            ..ctx()
        };
        let d = decide(
            &plain("\nAuthentication-Results: evil.example; dmarc=fail"),
            &c,
            &Fake::default(),
        );
        assert_eq!(action(&d), "acknowledge");
        let d = decide(
            &plain("\nAuthentication-Results: MX.kommun.test; dmarc=fail"),
            &c,
            &Fake::default(),
        );
        assert_eq!(action(&d), "unverified_sender");
    }

    #[test]
    fn a_bounce_of_a_receipt_is_recognised() {
        let mut known = Fake::default();
        known
            .by_id
            .insert("x@medborgare.test".into(), "BMN-2026-0007".into());
        let raw = "From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <kvittens.receipt.BMN-2026-0007@kommun.test>\r\n--b--\r\n";
        let m = Inbound::parse(raw.as_bytes());
        assert!(
            matches!(decide(&m, &ctx(), &known), Decision::Undeliverable { ref case, .. } if case == "BMN-2026-0007")
        );
        // A bounce about anything else is just ignored.
        let other = raw.replace("BMN-2026-0007", "BMN-2026-0099");
        assert_eq!(
            action(&decide(&Inbound::parse(other.as_bytes()), &ctx(), &known)),
            "automatic"
        );
    }

    #[test]
    fn the_same_mail_twice_is_a_duplicate() {
        let known = Fake {
            handled: vec!["m1@medborgare.test".into()],
            ..Fake::default()
        };
        assert_eq!(action(&decide(&plain(""), &ctx(), &known)), "duplicate");
    }

    #[test]
    fn categories_from_the_subject() {
        assert_eq!(
            category("Klagomål på snöröjningen", Category::Question),
            Category::Complaint
        );
        assert_eq!(
            category("FELANMÄLAN: gatlykta", Category::Question),
            Category::FaultReport
        );
        assert_eq!(
            category("Ansökan om bygglov", Category::Question),
            Category::Application
        );
        assert_eq!(
            category("Hej", Category::Application),
            Category::Application
        );
    }

    #[test]
    fn english_only_when_clearly_english() {
        let en = mail(
            "From: a@example.org\nSubject: Question about my building permit",
            "Hello, I would like to know when I can expect an answer about the permit for my garage.",
        );
        assert_eq!(language(&en), Language::En);
        assert_eq!(language(&plain("")), Language::Sv);
        let short = mail("From: a@example.org\nSubject: Hi", "ok");
        assert_eq!(language(&short), Language::Sv);
    }

    #[test]
    fn the_body_decides_the_language_over_the_subject() {
        // An English subject over a Swedish text: the resident writes Swedish.
        let sv = mail(
            "From: a@example.org\nSubject: Out of office hours construction noise next door",
            "Det byggs mitt i natten och ingen svarar när jag ringer.",
        );
        assert_eq!(language(&sv), Language::Sv);
        // Subject and text read together came out English for these (an English signature,
        // a short text under a long subject).
        for body in [
            "Det byggs mitt i natten och ingen svarar …\n\nSent from my iPhone",
            "Det byggs mitt i natten",
            "Det byggs mitt i natten och ingen svarar",
        ] {
            let sv = mail(
                "From: a@example.org\nSubject: Out of office hours construction noise next door",
                body,
            );
            assert_eq!(language(&sv), Language::Sv, "{body}");
        }
        // And the other way: a Swedish subject over an English text.
        let en = mail(
            "From: a@example.org\nSubject: Fråga om bygglov för garage",
            "Hello, I would like to know when I can expect an answer about my garage.",
        );
        assert_eq!(language(&en), Language::En);
        // A quoted Swedish mail under an English text does not count.
        let quoted = mail(
            "From: a@example.org\nSubject: Re: Ärende",
            "Thank you, but when will the permit be ready for my garage?\n\n> Hej! Ditt ärende är mottaget och vi återkommer så snart vi kan med ett svar.",
        );
        assert_eq!(language(&quoted), Language::En);
        // Too short a text to tell: the subject helps.
        let short = mail(
            "From: a@example.org\nSubject: Question about my building permit application",
            "See attachment.",
        );
        assert_eq!(language(&short), Language::En);
    }

    #[test]
    fn unreadable_mail_is_ignored_and_senderless_mail_opens_a_withheld_case() {
        let m = Inbound::parse(b"");
        assert_eq!(action(&decide(&m, &ctx(), &Fake::default())), "unreadable");
        // Not written by a machine, but no address: a case for a person, no receipt.
        let m = mail("Subject: no sender", "x");
        assert_eq!(action(&decide(&m, &ctx(), &Fake::default())), "no_address");
    }

    #[test]
    fn finds_case_numbers() {
        let found: Vec<_> = ids::case_numbers("Re: x [BMN-2026-0042] and SOC-2027-12345").collect();
        assert_eq!(found, vec!["BMN-2026-0042", "SOC-2027-12345"]);
    }

    fn resident_of(d: &Decision) -> &Person {
        match d {
            Decision::Acknowledge { resident, .. } => resident,
            other => panic!("not acknowledged: {other:?}"),
        }
    }

    fn decide_one(m: &Inbound) -> Decision {
        decide(m, &ctx(), &Fake::default())
    }

    fn decide_one_with(m: &Inbound, known: &Fake) -> Decision {
        decide(m, &ctx(), known)
    }

    #[test]
    fn subject_markers_need_their_colon_and_a_machines_phrase() {
        let people = [
            "Out of office hours construction noise next door",
            "Frånvaro: Elsa 3B",
            "Frånvaromeddelande Elsa 3B",
            "Autosvar önskas inte",
            "Auto: skrotningspremie",
            "Svar: fråga om bygglov",
            "Read: the attached permit",
            "Delivery of building materials blocks the street",
            "Automatiskt svar saknas på min fråga",
        ];
        for subject in people {
            let m = mail(
                &format!("From: Anna <anna@medborgare.test>\nSubject: {subject}"),
                "Hej, se ämnet.",
            );
            assert!(
                matches!(decide_one(&m), Decision::Acknowledge { withhold: None, .. }),
                "{subject}"
            );
        }
        let machines = [
            "Out of Office: Anna",
            "Automatic reply: Fråga",
            "Automatiskt svar: Fråga",
            "Automatisk svar: Fråga", // nb, da
            "Autosvar: Fråga",
            "Automatisch antwoord: Vraag",    // nl
            "Automaattinen vastaus: Kysymys", // fi
            "Respuesta automática: Pregunta", // es
            "Auto Response: Question",
            "Réponse automatique : Question", // fr, space before the colon
            "Automatische Antwort: Frage",    // de
            "Risposta automatica: Domanda",   // it
            "Odpowiedź automatyczna: Pytanie", // pl
            "Resposta automática: Pergunta",  // pt
            "Sjálfvirkt svar: Spurning",      // is
            "AUTOMATISKT SVAR: versaler",
            "Fwd: Automatisk svar: vidarebefordrat",
            "Undeliverable: Fråga",
            "Kan ikke leveres: Spørsmål",
            "Unzustellbar: Frage",
        ];
        for subject in machines {
            let m = mail(
                &format!("From: Anna <anna@medborgare.test>\nSubject: {subject}"),
                "Jag är borta till måndag.",
            );
            assert_eq!(action(&decide_one(&m)), "automatic", "{subject}");
        }
        // The example of the issue: a complaint about night work, not an out-of-office reply.
        let m = mail(
            "From: Per <per@medborgare.test>\nSubject: Out of office hours construction noise next door",
            "Every night the construction site next door runs machines until 2 am.",
        );
        let d = decide_one(&m);
        assert!(
            matches!(d, Decision::Acknowledge { withhold: None, .. }),
            "{d:?}"
        );
    }

    #[test]
    fn a_request_for_no_auto_reply_opens_a_case_without_receipt() {
        for value in ["All", "OOF", "AutoReply", "DR, OOF, AutoReply", "all"] {
            let d = decide_one(&plain(&format!("\nX-Auto-Response-Suppress: {value}")));
            assert_eq!(action(&d), "no_auto_reply", "{value}");
            assert_eq!(resident_of(&d).email, "anna@medborgare.test");
        }
        for value in ["DR, RN", "NRN", ""] {
            let d = decide_one(&plain(&format!("\nX-Auto-Response-Suppress: {value}")));
            assert_eq!(action(&d), "acknowledge", "{value}");
        }
        // A machine that also asks for no reply is still a machine.
        let d = decide_one(&plain(
            "\nX-Auto-Response-Suppress: All\nAuto-Submitted: auto-replied",
        ));
        assert_eq!(action(&d), "automatic");
        // Failed authentication is said first.
        let d = decide_one(&plain(
            "\nX-Auto-Response-Suppress: All\nAuthentication-Results: mx.kommun.test; dmarc=fail",
        ));
        assert_eq!(action(&d), "unverified_sender");
    }

    #[test]
    fn a_relay_writing_for_a_person_is_that_persons_mail() {
        let relayed = [
            "From: E-tjänst <no-reply@e-tjanst.vendor.test>\nReply-To: Sara Berg <sara.berg@medborgare.test>",
            "From: noreply@kommun.test\nReply-To: Sara Berg <sara.berg@medborgare.test>",
            "From: Formulär <do-not-reply@forms.kommun.test>\nReply-To: \"Sara Berg\" <Sara.Berg@medborgare.test>",
            "From: donotreply@vendor.test\nSender: bounces+123@mailer.vendor.test\nReturn-Path: <bounces+123@mailer.vendor.test>\nReply-To: Sara Berg <sara.berg@medborgare.test>",
        ];
        for head in relayed {
            let m = mail(
                &format!("{head}\nSubject: Ansökan om bygglov\nMessage-ID: <f1@vendor.test>"),
                "Namn: Sara Berg\nÄrende: Jag vill ansöka om bygglov för ett garage.",
            );
            let d = decide_one(&m);
            assert_eq!(action(&d), "acknowledge", "{head}: {d:?}");
            let r = resident_of(&d);
            assert_eq!(r.email, "sara.berg@medborgare.test", "{head}");
            assert_eq!(r.name.as_deref(), Some("Sara Berg"), "{head}");
            assert!(
                matches!(
                    d,
                    Decision::Acknowledge {
                        category: Category::Application,
                        ..
                    }
                ),
                "{d:?}"
            );
        }
        let machines = [
            // kvittens' own mail: from no-reply, Reply-To the department (internal).
            "From: Salems kommun <noreply@kommun.test>\nReply-To: Bygg <bygg@kommun.test>",
            // A no-reply sender with nobody to answer.
            "From: no-reply@e-tjanst.vendor.test",
            // Reply-To a machine too.
            "From: no-reply@vendor.test\nReply-To: support-request@vendor.test",
            // A list, not a relay.
            "From: owner-news@lists.example.org\nReply-To: Sara Berg <sara.berg@medborgare.test>",
            "From: MAILER-DAEMON@mx.example.org\nReply-To: sara.berg@medborgare.test",
        ];
        for head in machines {
            let m = mail(&format!("{head}\nSubject: Hej"), "text");
            assert_eq!(action(&decide_one(&m)), "automatic", "{head}");
        }
        // A colleague with a Reply-To outside is still a colleague.
        let m = mail(
            "From: olle@kommun.test\nReply-To: olle.privat@example.org\nSubject: Lunch?",
            "x",
        );
        assert_eq!(action(&decide_one(&m)), "internal");
    }

    #[test]
    fn name_and_address_in_one_encoded_word_is_a_sender() {
        let m = mail(
            "From: =?utf-8?q?Fran=C3=A7ois_Dupont_=3Cfrancois.dupont=40example.test=3E?=\nSubject: Question",
            "Bonjour, I have a question about the permit for my garage.",
        );
        let d = decide_one(&m);
        assert_eq!(action(&d), "acknowledge", "{d:?}");
        let r = resident_of(&d);
        assert_eq!(r.email, "francois.dupont@example.test");
        assert_eq!(r.name.as_deref(), Some("François Dupont"));
        // Only an address in base64, without a name.
        let m = mail(
            "From: =?utf-8?b?c2FyYUBleGFtcGxlLnRlc3Q=?=\nSubject: Fråga",
            "Hej",
        );
        assert_eq!(resident_of(&decide_one(&m)).email, "sara@example.test");
    }

    #[test]
    fn mail_without_an_address_is_a_case_for_a_person() {
        for head in [
            "Subject: Ingen avsändare",
            "From: Anna Berg\nSubject: Fråga",
            "From: \"Anna\" <anna@@medborgare>\nSubject: Fråga",
            "From: =?utf-8?q?Anna_Berg?=\nSubject: Fråga",
        ] {
            let m = mail(head, "Hej, jag undrar över min ansökan.");
            let d = decide_one(&m);
            assert_eq!(action(&d), "no_address", "{head}: {d:?}");
            assert_eq!(resident_of(&d).email, "", "{head}");
        }
        // A machine without an address is still a machine.
        let m = mail(
            "Subject: Automatic reply: x\nAuto-Submitted: auto-replied",
            "x",
        );
        assert_eq!(action(&decide_one(&m)), "automatic");
    }

    #[test]
    fn every_auto_reply_header_family_is_a_machine() {
        for marker in [
            "\nX-Autoresponder: vacation",
            "\nAutoresponder: yes",
            "\nX-Auto-Responder: 1",
            "\nX-Auto-Reply: yes",
            "\nAuto-Reply: yes",
            "\nX_Autoreply: yes",
            "\nX-AutoReplied: true",
            "\nX-Auto-Response: yes",
            "\nX-Autorespond: yes",
            "\nX-Auto-Generated: yes",
            "\nAutogenerated: true",
            "\nX-AutoAnswer: yes",
            "\nX-MS-Exchange-Organization-AutoReplying: 1",
            "\nX-Mail-Autoreply: yes",
        ] {
            let d = decide_one(&plain(marker));
            assert_eq!(action(&d), "automatic", "{marker:?} gave {d:?}");
        }
        for person in [
            "\nX-Autoreply: no",
            "\nX-Auto-Response-Suppress: DR",
            "\nX-Automobile: Volvo",
        ] {
            assert_eq!(
                action(&decide_one(&plain(person))),
                "acknowledge",
                "{person:?}"
            );
        }
    }

    #[test]
    fn system_and_list_senders_in_every_sender_field() {
        for extra in [
            "\nReturn-Path: <MAILER-DAEMON@mx.example.org>",
            "\nReturn-Path: <LISTSERV@lists.example.org>",
            "\nReturn-Path: <owner-grannar@lists.example.org>",
            "\nReturn-Path: <grannar-request@lists.example.org>",
            "\nReturn-Path: <grannar-request+foo@lists.example.org>",
            "\nReturn-Path: <grannar-bounces+anna=medborgare.test@lists.example.org>",
            "\nReturn-Path: <grannar-owner@lists.example.org>",
            "\nSender: grannar-bounces@lists.example.org",
            "\nSender: owner-grannar@lists.example.org",
            "\nSender: Majordomo <majordomo@example.org>",
            "\nReply-To: grannar-request+x@lists.example.org",
        ] {
            let d = decide_one(&plain(extra));
            assert_eq!(action(&d), "automatic", "{extra:?} gave {d:?}");
        }
        // e-services' envelope senders are no machine author.
        for extra in [
            "\nReturn-Path: <bounces+123@mailer.vendor.test>",
            "\nReturn-Path: <noreply@vendor.test>",
            "\nReturn-Path: <anna@medborgare.test>",
            "\nSender: noreply@vendor.test",
            "\nSender: anna.privat@medborgare.test",
        ] {
            let d = decide_one(&plain(extra));
            assert_eq!(action(&d), "acknowledge", "{extra:?} gave {d:?}");
        }
        // A list's posting address as From, the list in Sender: the receipt would go to the
        // whole list.
        let m = mail(
            "From: Grannar <grannar@lists.example.org>\nSender: grannar-bounces+bygg=kommun.test@lists.example.org\nSubject: Gatubelysning",
            "Hej alla",
        );
        assert_eq!(action(&decide_one(&m)), "automatic");
        for from in [
            "list-request+foo@example.org",
            "MAILER-DAEMON+x@example.org",
        ] {
            let m = mail(&format!("From: {from}\nSubject: Hej"), "text");
            assert_eq!(action(&decide_one(&m)), "automatic", "{from}");
        }
    }

    #[test]
    fn calendar_answers_anywhere_in_the_tree_are_machines() {
        let alternative = "--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnna har tackat ja.\r\n--a\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n--a--";
        let m = mail(
            "From: Anna <anna@medborgare.test>\nSubject: Accepted: Samrådsmöte\nContent-Type: multipart/alternative; boundary=a",
            alternative,
        );
        assert_eq!(action(&decide_one(&m)), "automatic");
        // Deeper: multipart/mixed > multipart/alternative > text/calendar.
        let mixed = format!("--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n{alternative}\r\n--m\r\nContent-Type: application/ics\r\n\r\nx\r\n--m--");
        let m = mail(
            "From: Anna <anna@medborgare.test>\nSubject: Godkänt: Samrådsmöte\nContent-Type: multipart/mixed; boundary=m",
            &mixed,
        );
        assert_eq!(action(&decide_one(&m)), "automatic");
        let counter = alternative.replace("method=REPLY", "method=COUNTER");
        let m = mail(
            "From: a@medborgare.test\nSubject: Ny tid föreslagen\nContent-Type: multipart/alternative; boundary=a",
            &counter,
        );
        assert_eq!(action(&decide_one(&m)), "automatic");
        // An invitation a person sends is a person's mail.
        let request = alternative.replace("method=REPLY", "method=REQUEST");
        let m = mail(
            "From: a@medborgare.test\nSubject: Möte om detaljplanen\nContent-Type: multipart/alternative; boundary=a",
            &request,
        );
        assert_eq!(action(&decide_one(&m)), "acknowledge");
    }

    #[test]
    fn read_receipts_anywhere_are_machines() {
        let body = "--m\r\nContent-Type: text/plain\r\n\r\nDitt meddelande har lästs.\r\n--m--";
        for subject in [
            "Read: Fråga om bygglov",
            "Läst: Fråga om bygglov",
            "Lest: Spørsmål",
            "Luettu: Kysymys",
            "Gelesen: Frage",
            "Not read: Fråga",
        ] {
            let m = mail(
                &format!("From: Anna <anna@medborgare.test>\nSubject: {subject}\nContent-Type: multipart/mixed; boundary=m"),
                body,
            );
            assert_eq!(action(&decide_one(&m)), "automatic", "{subject}");
        }
        // "Read:" in a plain mail is a person's subject.
        let m = mail(
            "From: Anna <anna@medborgare.test>\nSubject: Read: the attached permit",
            "Please read the attached permit and tell me what is missing.",
        );
        assert_eq!(action(&decide_one(&m)), "acknowledge");
        // An MDN inside multipart/mixed, not under multipart/report.
        let mdn = "--m\r\nContent-Type: text/plain\r\n\r\nread\r\n--m\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822; anna@medborgare.test\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--m--";
        let m = mail(
            "From: Anna <anna@medborgare.test>\nSubject: Fråga\nContent-Type: multipart/mixed; boundary=m",
            mdn,
        );
        assert_eq!(action(&decide_one(&m)), "automatic");
        // A delivery status inside multipart/mixed.
        let dsn = mdn.replace(
            "message/disposition-notification",
            "message/delivery-status",
        );
        let m = mail(
            "From: x@example.org\nSubject: Hej\nContent-Type: multipart/mixed; boundary=m",
            &dsn,
        );
        assert_eq!(action(&decide_one(&m)), "automatic");
    }

    #[test]
    fn a_utf8_character_split_across_encoded_words_gives_the_right_category() {
        let m = mail(
            "From: Anna <anna@medborgare.test>\nSubject: =?UTF-8?Q?Ans=C3?= =?UTF-8?Q?=B6kan_om_bygglov_f=C3=B6r_garage?=",
            "Hej, bifogat finns ritningarna.",
        );
        assert_eq!(m.subject.as_deref(), Some("Ansökan om bygglov för garage"));
        assert!(matches!(
            decide_one(&m),
            Decision::Acknowledge {
                category: Category::Application,
                ..
            }
        ));
    }

    #[test]
    fn complaints_by_their_content() {
        let words = CategoryWords::default();
        let m = mail(
            "From: Anna <anna@medborgare.test>\nSubject: Hej",
            "Hej!\n\nDetta är ett klagomål på snöröjningen på Storgatan.",
        );
        assert_eq!(
            categorize(&m, &words, Category::Question),
            Category::Complaint
        );
        assert!(matches!(
            decide_one(&m),
            Decision::Acknowledge {
                category: Category::Complaint,
                ..
            }
        ));
        for (body, want) in [
            (
                "Hi,\nI want to complain about the noise from the school.",
                Category::Complaint,
            ),
            (
                "Hej\nJag vill göra en felanmälan: gatlyktan är trasig.",
                Category::FaultReport,
            ),
            (
                "Hej\nJag vill ansöka om parkeringstillstånd.",
                Category::Application,
            ),
            // Quoted text, signatures and earlier mail are not the resident's words.
            (
                "Tack för svaret.\n> Ditt klagomål är mottaget.",
                Category::Question,
            ),
            (
                "Tack.\n\nDen 3 mars 2026 skrev Bygg <bygg@kommun.test>:\nKlagomål mottaget",
                Category::Question,
            ),
            (
                "Tack.\n-- \nAnna, ordförande i Föreningen Klagomålsmuren",
                Category::Question,
            ),
            (
                "Tack.\n-----Original Message-----\nSubject: complaint",
                Category::Question,
            ),
            ("Tack.\nFrån: Bygg\nÄmne: Klagomål", Category::Question),
            // Only words, not parts of words: "beklagar" is no complaint.
            (
                "Hej, jag beklagar att jag skriver sent.\nNär kan jag få svar?",
                Category::Question,
            ),
            // Only the first lines count.
            ("1\n2\n3\n4\n5\nklagomål", Category::Question),
        ] {
            let m = mail("From: Anna <anna@medborgare.test>\nSubject: Hej", body);
            assert_eq!(categorize(&m, &words, Category::Question), want, "{body:?}");
        }
        // The subject wins over the body.
        let m = mail(
            "From: Anna <anna@medborgare.test>\nSubject: Ansökan om bygglov",
            "Jag vill inte klaga, men det tar lång tid.",
        );
        assert_eq!(
            categorize(&m, &words, Category::Question),
            Category::Application
        );
        // Configured words.
        let mut mine = CategoryWords::default();
        mine.set(Category::Complaint, &["Missnöjd".to_string()]);
        let m = mail(
            "From: a@medborgare.test\nSubject: Hej",
            "Jag är missnöjd med bemötandet.",
        );
        assert_eq!(
            categorize(&m, &mine, Category::Question),
            Category::Complaint
        );
        let m = mail(
            "From: a@medborgare.test\nSubject: Hej",
            "Detta är ett klagomål.",
        );
        assert_eq!(
            categorize(&m, &mine, Category::Question),
            Category::Question
        );
    }

    #[test]
    fn a_fault_types_words_make_a_fault_report_of_that_type() {
        let types = crate::testkit::Sample {
            department: crate::testkit::GATUBELYSNING,
            ..crate::testkit::Sample::default()
        }
        .department()
        .fault_types;
        let words = CategoryWords::default();
        let of = |subject: &str, body: &str| {
            let m = mail(
                &format!("From: Anna <anna@medborgare.test>\nSubject: {subject}"),
                body,
            );
            let (c, t) = classify(&m, &words, &types, Category::Question);
            (c, t.map(|t| t.name.as_str()))
        };
        let lamp = (Category::FaultReport, Some("Gatubelysning"));
        assert_eq!(of("Trasig gatlykta på Storgatan", "Hej!"), lamp);
        assert_eq!(of("Hej", "Gatubelysningen på Storgatan är släckt."), lamp);
        assert_eq!(of("FELANMÄLAN: belysning", "x"), lamp);
        // A category named outright wins over a type's words: the complaint stays one.
        assert_eq!(
            of("Klagomål: gatlyktan är fortfarande trasig", "x"),
            (Category::Complaint, None)
        );
        assert_eq!(
            of("Ansökan om belysning vid infarten", "x"),
            (Category::Application, None)
        );
        // A fault report of no type, and words only at the start of a word.
        assert_eq!(
            of("Felanmälan: hål i vägen", "x"),
            (Category::FaultReport, None)
        );
        assert_eq!(
            of("Hej", "Bra avbelysning i parken."),
            (Category::Question, None)
        );
        // Not in the quoted text or beyond the first lines the resident wrote.
        assert_eq!(
            of("Tack", "Tack!\n> Gäller: gatlykta"),
            (Category::Question, None)
        );
        // The whole decision takes the catalogue from its context.
        let m = mail(
            "From: Anna <anna@medborgare.test>\nSubject: Trasig gatlykta\nMessage-ID: <g1@medborgare.test>",
            "Hej",
        );
        let c = Context {
            fault_types: &types,
            ..ctx()
        };
        assert!(matches!(
            decide(&m, &c, &Fake::default()),
            Decision::Acknowledge {
                category: Category::FaultReport,
                ..
            }
        ));
    }
}
