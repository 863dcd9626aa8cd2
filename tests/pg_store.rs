//! The store over PostgreSQL (`store = "postgresql://…"`), against the server
//! `scripts/pgstack` starts (run through `scripts/test`): the same case logic as with sled, in
//! the database, and its failures in plain words.

mod common;

use chrono::Utc;
use kvittens::config::StoreLocation;
use kvittens::mail::outgoing::Outgoing;
use kvittens::model::{Case, Kind};
use kvittens::rules::schedule::{Due, DueKind};
use kvittens::store::{Applied, CaseStore, Effects, MessageKey, NewCase, Opened, Queued, Store};

use common::{pg_at as at, pg_location as location};

/// Why `location` cannot be opened.
fn refused(location: &StoreLocation) -> String {
    match Store::connect(location) {
        Ok(_) => panic!("{location} opened"),
        Err(e) => e.to_string(),
    }
}

fn case(number: &str, ids: &[&str]) -> Case {
    Case::sample(number, ids, Utc::now())
}

fn key(uid: u32) -> MessageKey {
    MessageKey {
        department: "bygg".into(),
        uid_validity: 7,
        uid,
    }
}

fn receipt(number: &str) -> Outgoing {
    Outgoing {
        id: format!("kvittens.receipt.{number}@kommun.test"),
        about: number.to_string().into(),
        kind: Kind::Receipt,
        envelope_from: "bygg@kommun.test".into(),
        to: vec!["a@example.org".into()],
        bytes: b"Subject: x\r\n\r\nx".to_vec(),
        received: None,
        copy: true,
    }
}

/// Opens a case for message `uid` as the engine does: counters read, the case worked out,
/// applied, and again when another writer took the number first.
fn open(store: &Store, uid: u32) -> Case {
    let today = "a@example.org/2026-01-01";
    let id = format!("m{uid}@x");
    loop {
        let counters = store.next_counters("bygg", ("BMN", 2026), today).unwrap();
        let n = kvittens::model::ids::case_number("BMN", 2026, counters.seq);
        let c = case(&n, &[&id]);
        let effects = Effects {
            mails: vec![Queued {
                rank: 0,
                mail: receipt(&n),
            }],
            dues: vec![Due {
                at: c.reply_due,
                department: "bygg".into(),
                case: Some(n.clone()),
                kind: DueKind::Remind,
                deadline: Some(c.reply_due),
            }],
            count_receipt: true,
            ticks: Vec::new(),
            gather: Vec::new(),
            turn: None,
        };
        let new = NewCase {
            department: "bygg",
            key: Some(&key(uid)),
            message_id: Some(&id),
            counter: ("BMN", 2026),
            sender_today: today,
            counters,
            case: &c,
            effects: &effects,
        };
        if let Applied::Done(Opened::Created(c)) = store.open_case(&new).unwrap() {
            return *c;
        }
    }
}

#[test]
fn each_test_gets_a_fresh_database() {
    let (url, password_file) = common::pg_database("fresh");
    assert!(url.contains("/t_fresh?"), "{url}");
    assert!(std::fs::read_to_string(password_file).is_ok());
}

#[test]
fn a_case_its_receipt_and_its_marks_are_kept_in_the_database() {
    let location = location("case_marks");
    let store = Store::connect(&location).unwrap();
    let c = open(&store, 1);
    assert_eq!(c.number, "BMN-2026-0001");
    assert!(store.was_handled(&key(1)).unwrap());
    assert_eq!(
        store.case_of_message("m1@x").unwrap().as_deref(),
        Some("BMN-2026-0001")
    );
    assert_eq!(
        store.next_due().unwrap().map(|t| t.timestamp()),
        Some(c.reply_due.timestamp())
    );
    // The receipt waits in the outbox; taken off, it is in flight until its copy is seen.
    let pending = store.pending().unwrap();
    assert_eq!(pending.len(), 1);
    store.take_off(&pending[0], Utc::now()).unwrap();
    assert!(store.pending().unwrap().is_empty());
    let id = pending[0].mail.id.clone();
    assert!(store.is_flying(&id).unwrap());
    // Another handle (another instance) sees the same state.
    let other = Store::connect(&location).unwrap();
    assert_eq!(other.flights().unwrap().len(), 1);
    // The copy in the department's Sent folder confirms it: sent, and that message handled.
    let copy = MessageKey {
        department: "bygg/sent".into(),
        uid_validity: 3,
        uid: 9,
    };
    other.confirm_copy(&copy, &id, None).unwrap();
    assert!(store.was_handled(&copy).unwrap());
    assert!(!store.is_flying(&id).unwrap());
    assert!(!store.is_queued(0, &id).unwrap());
    assert!(store.pending().unwrap().is_empty());
    // A store opened again holds all of it.
    drop(store);
    let again = Store::connect(&location).unwrap();
    assert_eq!(again.cases().unwrap().len(), 1);
}

#[test]
fn scans_go_in_key_order_across_pages() {
    let store = Store::connect(&location("pages")).unwrap();
    // More than two pages of cases (a page is 500 keys), written in a shuffled order.
    let n = 1203;
    let mut numbers: Vec<u32> = (1..=n).collect();
    numbers.reverse();
    numbers.rotate_left(400);
    let cases: Vec<Case> = numbers
        .iter()
        .map(|i| case(&format!("BMN-2026-{i:04}"), &[&format!("p{i}@x")]))
        .collect();
    store.put_many(&cases, &[]).unwrap();
    let read: Vec<String> = store
        .cases()
        .unwrap()
        .into_iter()
        .map(|c| c.number)
        .collect();
    let want: Vec<String> = (1..=n).map(|i| format!("BMN-2026-{i:04}")).collect();
    assert_eq!(read, want);
    let mut open = Vec::new();
    store.open_cases(|c| open.push(c.number)).unwrap();
    assert_eq!(open, want);
}

#[test]
fn a_lease_has_one_holder_until_it_runs_out_or_is_given_up() {
    let location = location("leases");
    let a = Store::connect(&location).unwrap();
    let b = Store::connect(&location).unwrap();
    assert!(a.lease("mailbox:bygg", "a", 2).unwrap());
    assert!(!b.lease("mailbox:bygg", "b", 2).unwrap());
    // Renewed by its holder; another name is free.
    assert!(a.lease("mailbox:bygg", "a", 2).unwrap());
    assert!(b.lease("mailbox:plan", "b", 60).unwrap());
    // Once it runs out (on the database's clock), the other takes it over, and the first
    // no longer has it.
    let start = std::time::Instant::now();
    while !b.lease("mailbox:bygg", "b", 60).unwrap() {
        assert!(start.elapsed().as_secs() < 30, "the lease never ran out");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(!a.lease("mailbox:bygg", "a", 60).unwrap());
    // Given up at a clean stop: the other takes both at once.
    b.release_leases("b").unwrap();
    assert!(a.lease("mailbox:bygg", "a", 60).unwrap());
    assert!(a.lease("mailbox:plan", "a", 60).unwrap());
}

#[test]
fn a_reading_mark_is_left_for_the_next_process() {
    let location = location("reading");
    let store = Store::connect(&location).unwrap();
    assert!(!store.begin_reading(&key(5)).unwrap());
    drop(store);
    // The process died reading message 5: the next one is told.
    let next = Store::connect(&location).unwrap();
    assert!(next.begin_reading(&key(5)).unwrap());
    next.end_reading(&key(5)).unwrap();
    drop(next);
    let third = Store::connect(&location).unwrap();
    assert!(!third.begin_reading(&key(6)).unwrap());
}

#[test]
fn two_instances_opening_cases_at_once_never_share_a_number() {
    let location = location("counter");
    let per_writer = 40;
    std::thread::scope(|s| {
        for w in 0..2u32 {
            let location = &location;
            s.spawn(move || {
                let store = Store::connect(location).unwrap();
                let work = || {
                    for i in 0..per_writer {
                        open(&store, 1000 * (w + 1) + i);
                    }
                };
                if w == 0 {
                    // One of them from inside a tokio runtime, as the daemon calls the store.
                    tokio::runtime::Runtime::new()
                        .unwrap()
                        .block_on(async { work() });
                } else {
                    work();
                }
            });
        }
    });
    let store = Store::connect(&location).unwrap();
    let mut numbers: Vec<String> = store
        .cases()
        .unwrap()
        .into_iter()
        .map(|c| c.number)
        .collect();
    numbers.dedup();
    let want: Vec<String> = (1..=2 * per_writer)
        .map(|i| format!("BMN-2026-{i:04}"))
        .collect();
    assert_eq!(numbers, want);
    assert_eq!(store.pending().unwrap().len(), want.len());
}

#[test]
fn a_database_migrated_by_a_newer_kvittens_is_refused() {
    let location = location("newer");
    drop(Store::connect(&location).unwrap());
    let StoreLocation::Postgres(pg) = &location else {
        unreachable!()
    };
    let mut config: postgres::Config = pg.url.parse().unwrap();
    config.password(std::env::var("KVITTENS_PG_PASSWORD").unwrap());
    let mut client = config.connect(postgres::NoTls).unwrap();
    client
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (99, 'future', '2030-01-01', '0')",
            &[],
        )
        .unwrap();
    let e = refused(&location);
    assert!(
        e.contains("schema version 99, written by a newer kvittens"),
        "{e}"
    );
    assert!(!e.contains(&std::env::var("KVITTENS_PG_PASSWORD").unwrap()));
}

#[test]
fn what_keeps_the_database_from_being_used_is_said_plainly() {
    let port: u16 = std::env::var("KVITTENS_PG_PORT").unwrap().parse().unwrap();
    let password = std::env::var("KVITTENS_PG_PASSWORD").unwrap();
    // Nothing listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = refused(&at(
        &format!("postgresql://kvittens@127.0.0.1:{free}/kvittens?sslmode=disable"),
        &password,
    ));
    assert!(e.contains(&format!("the database at 127.0.0.1:{free} does not answer (connection refused): is PostgreSQL running?")), "{e}");
    let url = format!("postgresql://kvittens@127.0.0.1:{port}/kvittens?sslmode=disable");
    let e = refused(&at(&url, "wrong"));
    assert!(
        e.contains("refused the login of user kvittens: check store_password_file"),
        "{e}"
    );
    assert!(
        e.starts_with(&format!(
            "store postgresql://kvittens@127.0.0.1:{port}/kvittens:"
        )),
        "{e}"
    );
    let url = format!("postgresql://kvittens@127.0.0.1:{port}/nosuchdb?sslmode=disable");
    let e = refused(&at(&url, &password));
    assert!(e.contains("the database nosuchdb does not exist"), "{e}");
}

#[test]
fn tls_is_the_default_and_the_certificate_and_name_are_verified() {
    let (url, password_file) = common::pg_database("tls");
    let password = std::fs::read_to_string(password_file).unwrap();
    let ca = std::env::var("KVITTENS_PG_CA").unwrap();
    let plain = url.split('?').next().unwrap();
    // Without sslmode=disable kvittens speaks TLS; the test server's CA is no public one.
    let e = refused(&at(plain, &password));
    assert!(
        e.contains("does not verify: it is signed by an unknown authority"),
        "{e}"
    );
    // Its certificate is for 127.0.0.1 only.
    let by_name = plain.replace("127.0.0.1", "localhost");
    let e = refused(&at(&format!("{by_name}?sslrootcert={ca}"), &password));
    assert!(
        e.contains("does not verify: it is issued for another name"),
        "{e}"
    );
    let store = Store::connect(&at(
        &format!("{plain}?sslmode=verify-full&sslrootcert={ca}"),
        &password,
    ))
    .unwrap();
    assert!(store.cases().unwrap().is_empty());
}
