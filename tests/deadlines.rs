//! The three-day promise end to end, with second-long deadlines on an always-working calendar:
//! reminders to officers, escalations to managers, answers seen in the Sent folder and in Cc,
//! re-opening, complaints, delays and digests — against the real Dovecot and Postfix.

mod common;

use common::{body, header, Setup};
use std::time::Duration;

fn number_of(receipt: &[u8]) -> String {
    let subject = header(receipt, "subject").unwrap();
    subject
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches(']')
        .to_string()
}

fn subjects(mails: &[Vec<u8>]) -> Vec<String> {
    mails
        .iter()
        .map(|m| header(m, "subject").unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn late_cases_are_reminded_and_escalated_answered_ones_are_not() {
    let s = Setup::new("late", "reply_within = \"8s\"\nremind_before = \"4s\"");
    let _daemon = s.start();
    let m = s.mailbox();
    for i in 1..=3 {
        s.stack
            .append(
                &m,
                &s.question(i, &format!("q{i}-late"), &format!("Fråga {i}")),
            )
            .await;
    }
    let a = number_of(&s.stack.wait_for(&s.resident(1), 1).await[0]);
    let b = number_of(&s.stack.wait_for(&s.resident(2), 1).await[0]);
    let c = number_of(&s.stack.wait_for(&s.resident(3), 1).await[0]);

    // B is answered from the department mailbox: the mail program saves it in Sent.
    let answer_b = format!(
        "From: {m}\nTo: {r}\nSubject: Re: Fråga 2 [{b}]\nMessage-ID: <ans-b-late@kommun.test>\nIn-Reply-To: <q2-late@medborgare.test>\n\nSvar på fråga 2.\n",
        r = s.resident(2)
    );
    s.stack.append_to(&m, "Sent", &answer_b).await;
    // C is answered by the officer from their own mailbox with the department in Cc.
    let answer_c = format!(
        "From: Lisa <{o}>\nTo: {r}\nCc: {m}\nSubject: Re: Fråga 3 [{c}]\nMessage-ID: <ans-c-late@kommun.test>\nIn-Reply-To: <q3-late@medborgare.test>\n\nSvar på fråga 3.\n",
        o = s.officer(2),
        r = s.resident(3)
    );
    s.stack.append(&m, &answer_c).await;

    // A: reminder to its officer, then escalation to the manager.
    let manager = s.stack.wait_for(&s.manager(), 1).await;
    let escalation = &manager[0];
    let subject = header(escalation, "subject").unwrap();
    assert!(subject.contains(&a), "{subject}");
    let text = body(escalation);
    assert!(
        text.contains(&s.resident(1))
            && text.contains("Olle Handläggare")
            && text.contains("sedan"),
        "{text}"
    );
    assert_eq!(
        header(escalation, "auto-submitted").as_deref(),
        Some("auto-generated")
    );
    let officer = s.stack.inbox(&s.officer(1)).await;
    let reminders: Vec<_> = subjects(&officer)
        .into_iter()
        .filter(|x| x.starts_with("Påminnelse"))
        .collect();
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(reminders[0].contains(&a));

    // Give B and C time to pass their deadline: still only A is escalated.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let manager = subjects(&s.stack.inbox(&s.manager()).await);
    assert_eq!(manager.len(), 1, "{manager:?}");
    assert!(
        !manager.iter().any(|x| x.contains(&b) || x.contains(&c)),
        "{manager:?}"
    );

    // The resident of C writes again after the answer: the case is open again and, unanswered,
    // escalated in its turn.
    let again = format!(
        "From: {r}\nTo: {m}\nSubject: Re: Fråga 3 [{c}]\nMessage-ID: <q3b-late@medborgare.test>\nIn-Reply-To: <ans-c-late@kommun.test>\n\nJag förstår inte svaret.\n",
        r = s.resident(3)
    );
    s.stack.append(&m, &again).await;
    let manager = s.stack.wait_for(&s.manager(), 2).await;
    let manager = subjects(&manager);
    assert!(manager[1].contains(&c), "{manager:?}");
    assert!(!manager.iter().any(|x| x.contains(&b)), "{manager:?}");
    assert_eq!(
        s.stack.inbox(&s.resident(3)).await.len(),
        1,
        "no second receipt"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complaint_reaches_the_manager_at_once() {
    let s = Setup::new("complaint", "");
    let _daemon = s.start();
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "c1-complaint", "Klagomål på snöröjningen"),
        )
        .await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let number = number_of(&receipt);
    let text = body(&receipt);
    // The receipt names the case's owner as the manager in charge, who makes contact by the
    // reply date.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("ett klagomål")
            && text.contains("Klagomål tas om hand av ansvarig chef.")
            && text.contains("kontaktar dig senast"),
        "{text}"
    );
    // The complaint notice, and the case itself (the manager owns a complaint).
    let manager = subjects(&s.stack.wait_for(&s.manager(), 2).await);
    assert!(
        manager
            .iter()
            .any(|x| x.starts_with("Klagomål") && x.contains(&number)),
        "{manager:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missed_decision_date_asks_for_a_new_one_and_the_resident_is_told_once() {
    let s = Setup::new("delay", "decide_within = \"3s\"");
    let daemon = s.start();
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "d1-delay", "Ansökan om bygglov"),
        )
        .await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let number = number_of(&receipt);
    // The decision date passes with the case open: the manager is asked for a new date.
    let manager = s.stack.wait_for(&s.manager(), 1).await;
    let subject = header(&manager[0], "subject").unwrap();
    assert!(
        subject.contains("Beslutsdatum") && subject.contains(&number),
        "{subject}"
    );
    assert!(
        body(&manager[0]).contains("postpone"),
        "the mail says how to set a date"
    );

    // The officer sets one while the daemon runs (through its control socket).
    let date = (chrono::Utc::now() + chrono::Duration::days(20))
        .date_naive()
        .to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args([
            "case",
            "postpone",
            "--config",
            s.config.to_str().unwrap(),
            &number,
            "--to",
            &date,
            "--note",
            "Vi väntar på ett yttrande.",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resident = s.stack.wait_for(&s.resident(1), 2).await;
    let notice = &resident[1];
    assert!(header(notice, "subject").unwrap().contains(&number));
    let text = body(notice);
    assert!(
        text.contains("Vi väntar på ett yttrande.") && text.contains("längre tid"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.stack.inbox(&s.resident(1)).await.len(), 2, "told once");
    assert_eq!(s.stack.inbox(&s.manager()).await.len(), 1, "asked once");
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manager_gets_one_digest() {
    // The digest time: a few seconds from now, local time.
    let at = (chrono::Utc::now() + chrono::Duration::seconds(4))
        .with_timezone(&chrono_tz::Europe::Stockholm);
    // Too close to midnight the "next digest" is tomorrow's: skip rather than wait a day.
    if at.format("%H:%M:%S").to_string().as_str() < "00:00:10" {
        eprintln!("NOTE: too close to midnight for the digest test; skipped");
        return;
    }
    let s = Setup::new(
        "digest",
        &format!("digest_at = \"{}\"", at.format("%H:%M:%S")),
    );
    let _daemon = s.start();
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "g1-digest", "Fråga om parkering"),
        )
        .await;
    let number = number_of(&s.stack.wait_for(&s.resident(1), 1).await[0]);
    let manager = s.stack.wait_for(&s.manager(), 1).await;
    let digest = &manager[0];
    assert!(
        header(digest, "subject")
            .unwrap()
            .starts_with("Dagens läge"),
        "{:?}",
        header(digest, "subject")
    );
    let text = body(digest);
    assert!(
        text.contains(&number) && text.contains("Öppna ärenden: 1"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.stack.inbox(&s.manager()).await.len(),
        1,
        "one digest, not one per case or tick"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absent_officers_new_cases_go_to_the_substitute() {
    let s = Setup::new("away", "");
    let daemon = s.start();
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args([
            "officer",
            "away",
            "--config",
            s.config.to_str().unwrap(),
            &s.officer(1),
            "--from",
            &today.pred_opt().unwrap().to_string(),
            "--to",
            &today.succ_opt().unwrap().to_string(),
            "--substitute",
            &s.officer(2),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.stack
        .append(&s.mailbox(), &s.question(1, "w1-away", "Fråga"))
        .await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let text = body(&receipt);
    assert!(
        text.contains("Lisa Handläggare") && text.contains("ersätter Olle Handläggare"),
        "{text}"
    );
    s.stack.wait_for(&s.officer(2), 1).await;
    assert!(daemon.stop().success());
    // Stored: it survives a restart.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(["cases", "--config", s.config.to_str().unwrap(), "--open"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 case(s)"));
    let _daemon = s.start();
    s.stack
        .append(&s.mailbox(), &s.question(2, "w2-away", "Fråga"))
        .await;
    let text = body(&s.stack.wait_for(&s.resident(2), 1).await[0]);
    assert!(text.contains("Lisa Handläggare"), "{text}");
}
