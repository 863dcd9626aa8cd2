//! What kvittens knows of one incoming message: the facts the decision reads. Built by
//! [`crate::mail::message`] from the raw bytes; here only its shape, so that the rules can read
//! a message without depending on the code that parses mail.

use crate::model::people::Person;

/// The facts of one incoming message.
#[derive(Clone, Debug, Default)]
pub struct Inbound {
    /// Whether mail-parser could read the message at all.
    pub parsed: bool,
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To and References ids, without angle brackets.
    pub references: Vec<String>,
    /// The first From address.
    pub from: Option<Person>,
    /// The first Reply-To address.
    pub reply_to: Option<Person>,
    /// The `Sender:` address (RFC 5322 §3.6.2: who sent it on the author's behalf, e.g. a
    /// mailing list).
    pub sender: Option<Person>,
    /// The subject, decoded; `None` when missing or when it does not decode cleanly (see
    /// [`crate::mail::message::readable`]).
    pub subject: Option<String>,
    /// The subject as far as it decodes, garbled or not (empty when missing): what the
    /// detection of automatic mail and of case numbers reads. Never shown to anybody.
    pub subject_seen: String,
    /// Every header of the top-level part: name lower-cased, value as raw text (unfolded).
    pub headers: Vec<(String, String)>,
    /// The top-level MIME type, e.g. `multipart/report`, with its `report-type` when present.
    pub content_type: String,
    /// The `report-type` parameter of a multipart/report.
    pub report_type: Option<String>,
    /// The MIME type of every part of the message's own tree (not of messages attached to it),
    /// lower-case; `text/calendar` with its iTIP method (RFC 5546 §1.4), e.g.
    /// `text/calendar; method=reply`. Calendar answers and read receipts hide in
    /// multipart/alternative or multipart/mixed, not only at the top.
    pub parts: Vec<String>,
    /// The start of the first text body, for language detection.
    pub text_preview: String,
    /// Case numbers of kvittens receipts this message quotes (a delivery report quotes the
    /// headers of the mail that bounced).
    pub mentioned_receipts: Vec<String>,
    /// Why only the top-level header was read (over the bounds of [`crate::mail::bounds`], or set
    /// aside after kvittens stopped or failed while reading it): the case is flagged for a
    /// person, and the officer gets the header, not the body.
    pub header_only: Option<String>,
}

impl Inbound {
    /// Every value of header `name` (lower-case).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (lower-case).
    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.header_values(name).next()
    }

    /// Where a reply goes: Reply-To, else From.
    pub fn reply_address(&self) -> Option<&Person> {
        self.reply_to.as_ref().or(self.from.as_ref())
    }
}
