//! The demo's mail client: sends the sample mails in demo/mail/ to the department mailboxes by
//! SMTP, waits for what kvittens sends back, and prints it as a resident would read it.
//! Run by scripts/demo; `cargo run --example demo -- IMAP_PORT SMTP_PORT`.

use futures::TryStreamExt;
use kvittens::config::{Secret, Security, Server};
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let imap_port: u16 = args.get(1).map(|p| p.parse()).transpose()?.unwrap_or(1143);
    let smtp_port: u16 = args.get(2).map(|p| p.parse()).transpose()?.unwrap_or(2525);
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp_port)
        .build();

    let mut files: Vec<_> = std::fs::read_dir("demo/mail")?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut senders = Vec::new();
    for file in &files {
        let raw = std::fs::read_to_string(file)?.replace('\n', "\r\n");
        let msg = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .ok_or_else(|| anyhow::anyhow!("{}: not a mail", file.display()))?;
        let from = msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_lowercase();
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_lowercase();
        let envelope_from =
            if msg.header_raw("Return-Path").is_some() || from.starts_with("mailer-daemon") {
                None
            } else {
                Some(from.parse()?)
            };
        smtp.send_raw(
            &Envelope::new(envelope_from, vec![to.parse()?])?,
            raw.as_bytes(),
        )
        .await?;
        println!(
            "sent   {:<24} {} -> {to}: {}",
            file.file_name().unwrap_or_default().to_string_lossy(),
            from,
            msg.subject().unwrap_or("")
        );
        senders.push(from);
    }

    let imap = Server {
        host: "127.0.0.1".into(),
        port: imap_port,
        security: Security::None,
        ca_file: None,
    };
    let expect = [
        "anna@medborgare.test",
        "john@medborgare.test",
        "karl@medborgare.test",
    ];
    println!("\nwaiting for receipts …");
    let start = Instant::now();
    for who in expect {
        while inbox(&imap, who).await?.is_empty() {
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "no receipt for {who} after 30 s; see var/demo.log"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for who in &senders {
        let mails = inbox(&imap, who).await?;
        if mails.is_empty() {
            println!("\n=== {who}: no receipt (as it should be: see var/demo.log for the reason)");
        }
        for raw in mails {
            let m = mail_parser::MessageParser::default()
                .parse(&raw)
                .ok_or_else(|| anyhow::anyhow!("unreadable receipt"))?;
            println!("\n=== in the inbox of {who} ===");
            for h in [
                "From",
                "To",
                "Reply-To",
                "Subject",
                "Message-ID",
                "In-Reply-To",
                "Auto-Submitted",
            ] {
                let v = match h {
                    "Subject" => m.subject().map(str::to_string),
                    "From" | "To" | "Reply-To" => m
                        .header(h)
                        .and_then(|v| v.as_address())
                        .and_then(|a| a.first())
                        .map(|a| match a.name() {
                            Some(n) => format!("{n} <{}>", a.address().unwrap_or("")),
                            None => a.address().unwrap_or("").to_string(),
                        }),
                    _ => m.header_raw(h).map(|v| v.trim().to_string()),
                };
                // A header the mail does not have is not shown: an empty "In-Reply-To: " line
                // reads as a broken mail (the officer notice starts no thread).
                if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                    println!("{h}: {v}");
                }
            }
            println!("\n{}", m.body_text(0).unwrap_or_default().trim_end());
        }
    }
    for dept in ["bygg@kommun.test", "social@kommun.test"] {
        println!("\n=== copies of the receipts in {dept} (the department's record)");
        for raw in inbox(&imap, dept).await? {
            let m = mail_parser::MessageParser::default()
                .parse(&raw)
                .ok_or_else(|| anyhow::anyhow!("unreadable mail"))?;
            if m.message_id().is_some_and(|id| id.starts_with("kvittens.")) {
                println!("{}", m.subject().unwrap_or(""));
            }
        }
    }
    for officer in [
        "officer1@kommun.test",
        "officer2@kommun.test",
        "officer3@kommun.test",
    ] {
        for raw in inbox(&imap, officer).await? {
            let m = mail_parser::MessageParser::default()
                .parse(&raw)
                .ok_or_else(|| anyhow::anyhow!("unreadable notice"))?;
            println!(
                "\n=== officer notice to {officer}: {}",
                m.subject().unwrap_or("")
            );
        }
    }
    Ok(())
}

async fn inbox(server: &Server, user: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut s = kvittens::net::imap::connect(server, user, &Secret::from("secret")).await?;
    let mailbox = s.examine("INBOX").await?;
    let mut out = Vec::new();
    if mailbox.exists > 0 {
        let fetched: Vec<_> = s.fetch("1:*", "BODY.PEEK[]").await?.try_collect().await?;
        out = fetched
            .iter()
            .map(|f| f.body().unwrap_or_default().to_vec())
            .collect();
    }
    s.logout().await.ok();
    Ok(out)
}
