//! The no-case reasons as a nämnd reads them: the decision's reason codes (`automatic`,
//! `internal`, …) are stable words for scripts and metrics, not for politicians, so the HTML
//! page names each in words with the code after it. The CSV keeps the codes.

use super::say;
use crate::model::Language;

/// The reason `code` in words, with the code in parentheses; an unknown code (a newer version's,
/// or one no longer made) as it is.
pub fn words(code: &str, lang: Language) -> String {
    let s = |sv, en| say(lang, sv, en);
    let words = match code {
        "automatic" => s(
            "automatiska utskick (studsar, frånvaromeddelanden, utskickslistor)",
            "automatic mail (bounces, out-of-office replies, mailing lists)",
        ),
        "internal" => s(
            "från kommunens egna medarbetare",
            "from the municipality's own staff",
        ),
        "duplicate" => s("samma e-brev en gång till", "the same mail once more"),
        "unreadable" => s("kunde inte läsas", "could not be read"),
        "copy" => s(
            "kopior av kvittens egna utskick",
            "copies of kvittens' own mail",
        ),
        "sent" => s(
            "i Skickat utan koppling till ett ärende",
            "in Sent, not in a case's thread",
        ),
        "loop" => s(
            "automatiska svar i en slinga",
            "automatic replies going round in a loop",
        ),
        "follow_up" => s("uppföljning i ett ärende", "a follow-up on a case"),
        "answer" => s("svar från personalen", "an answer from staff"),
        "receipt_bounced" => s("kvittenser som studsade", "receipts that bounced"),
        "no_address" => s("ingen avsändaradress", "no sender address"),
        "unverified_sender" => s(
            "avsändaren kunde inte kontrolleras",
            "the sender could not be verified",
        ),
        "no_auto_reply" => s(
            "avsändaren ville inte ha automatiska svar",
            "the sender asked for no automatic replies",
        ),
        other => return other.to_string(),
    };
    format!("{words} ({code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_decision_makes_has_words_and_an_unknown_one_stays_as_it_is() {
        let codes = [
            "automatic",
            "internal",
            "duplicate",
            "unreadable",
            "copy",
            "sent",
            "loop",
            "follow_up",
            "answer",
            "receipt_bounced",
            "no_address",
            "unverified_sender",
            "no_auto_reply",
        ];
        for code in codes {
            for lang in [Language::Sv, Language::En] {
                let w = words(code, lang);
                assert!(w.ends_with(&format!(" ({code})")), "{w}");
                assert!(w.len() > code.len() + 3, "{w}");
            }
        }
        assert_eq!(
            words("automatic", Language::Sv),
            "automatiska utskick (studsar, frånvaromeddelanden, utskickslistor) (automatic)"
        );
        assert_eq!(words("something_new", Language::Sv), "something_new");
    }
}
