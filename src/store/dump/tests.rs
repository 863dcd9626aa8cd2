use super::*;
use crate::model::tally::Tick;
use crate::model::{Absence, State};
use crate::store::tests::{edit, key, open};
use crate::store::{Cursor, Effects, MessageKey, Opened};

/// A store with something of everything a move must carry: open and answered cases (their
/// index, thread index, counters, schedule), a cursor, mail queued and a receipt in flight,
/// "handled" marks, an ignored mail, an absence, daily totals, and a "being read" mark.
pub(crate) fn filled(store: &Store) {
    let Opened::Created(first) = open(store, 1, "m1@x") else {
        panic!("not opened")
    };
    open(store, 2, "m2@x");
    open(store, 3, "m3@x");
    let answered = edit(store, "BMN-2026-0002", |c| {
        c.state = State::Answered;
        c.answered_at = Some(Utc::now());
    });
    store.update_case(&answered, &Effects::default()).unwrap();
    let cursor = Cursor {
        uid_validity: 7,
        last_uid: 4,
    };
    store.set_cursor("bygg", cursor).unwrap();
    // The first case's receipt is in flight (the dot sent, no answer recorded).
    let receipt = store
        .pending()
        .unwrap()
        .into_iter()
        .find(|q| q.mail.about.to_string() == first.number)
        .unwrap();
    store.take_off(&receipt, Utc::now()).unwrap();
    let entry = crate::store::ignored::tests::entry("Autosvar", "auto@x");
    store
        .record_ignored(&key(4), "automatic", &entry, &[])
        .unwrap();
    let away = Absence {
        from: "2026-12-01".parse().unwrap(),
        to: "2026-12-03".parse().unwrap(),
        substitute: "o2@kommun.test".into(),
    };
    store.add_absence("o1@kommun.test", &away).unwrap();
    let day = "2026-11-30".parse().unwrap();
    store
        .add_ticks(&[Tick::new("bygg", day, |t| t.received = 4)])
        .unwrap();
    // Stopped while reading message 5, which is not handled.
    assert!(!store.begin_reading(&key(5)).unwrap());
    store.flush().unwrap();
}

fn pairs(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut all = Vec::new();
    store
        .dump(&mut |k, v| {
            all.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
    all
}

fn places() -> Vec<String> {
    vec!["bygg".into(), "bygg/sent".into()]
}

/// Asserts that the store in `dir`, whose load began and did not finish, is not opened and
/// that the refusal says why.
pub(crate) fn refused_half_loaded(dir: &std::path::Path) {
    let e = Store::open(dir).unwrap_err().to_string();
    assert!(
        e.contains("an import into this store began and has not finished"),
        "{e}"
    );
}

#[test]
fn a_dump_loads_into_an_empty_store_key_for_key() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(a_dir.path()).unwrap();
    filled(&a);
    let head = a.dump_head().unwrap();
    assert_eq!(head.schema, schema::CURRENT);
    let marks = a.reading_marks(&places()).unwrap();
    assert_eq!(marks, [("bygg".to_string(), (7, 5))]);
    let dumped = pairs(&a);
    for prefix in [
        "case/",
        "open/",
        "answered/",
        "msg/",
        "handled/",
        "cursor/",
        "outbox/",
        "flight/",
        "due/",
        "ignored/",
        "away/",
        "tally/",
        "seq/",
        "turn/",
        "rate/",
    ] {
        assert!(
            dumped.iter().any(|(k, _)| k.starts_with(prefix.as_bytes())),
            "no {prefix} key in the dump"
        );
    }

    let b = Store::open(b_dir.path()).unwrap();
    b.begin_load(&head).unwrap();
    for chunk in dumped.chunks(5) {
        b.load(chunk.to_vec()).unwrap();
    }
    b.finish_load(&head, &marks).unwrap();
    drop(b);
    let b = Store::open(b_dir.path()).unwrap();
    assert_eq!(pairs(&b), dumped);
    assert_eq!(b.reading_marks(&places()).unwrap(), marks);
    // The mark works in its new place: message 5 is set aside when read again.
    assert!(b.begin_reading(&key(5)).unwrap());
    assert_eq!(b.in_flight().unwrap(), 1);
    // New ids are above every id the first store handed out.
    assert!(b.kv.generate_id().unwrap() > head.id_floor);
}

#[test]
fn a_store_that_is_not_empty_takes_no_dump() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let head = store.dump_head().unwrap();
    // Opened, nothing else: empty (its schema version does not count).
    assert_eq!(store.first_key().unwrap(), None);
    store
        .set_cursor(
            "bygg",
            Cursor {
                uid_validity: 1,
                last_uid: 1,
            },
        )
        .unwrap();
    let e = store.begin_load(&head).unwrap_err().to_string();
    assert!(
        e.contains(
            "not empty (it holds \"cursor/bygg\", among others): a dump goes into a new store only"
        ),
        "{e}"
    );
    let newer = DumpHead {
        schema: schema::CURRENT + 1,
        id_floor: 1,
    };
    let e = store.begin_load(&newer).unwrap_err().to_string();
    assert!(e.contains("written by a newer kvittens"), "{e}");
}

#[test]
fn a_load_that_did_not_finish_leaves_a_store_that_is_not_opened() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(a_dir.path()).unwrap();
    filled(&a);
    let head = a.dump_head().unwrap();
    let dumped = pairs(&a);
    let b = Store::open(b_dir.path()).unwrap();
    b.begin_load(&head).unwrap();
    b.load(dumped[..dumped.len() / 2].to_vec()).unwrap();
    b.flush().unwrap();
    drop(b);
    refused_half_loaded(b_dir.path());
}

#[test]
fn a_dump_of_an_older_schema_is_migrated_after_loading() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(a_dir.path()).unwrap();
    open(&a, 1, "m1@x");
    // As version 2 wrote it: no index of live cases.
    let old: Vec<_> = pairs(&a)
        .into_iter()
        .filter(|(k, _)| !k.starts_with(b"open/") && k != keys::SCHEMA.as_bytes())
        .collect();
    let head = DumpHead {
        schema: 2,
        id_floor: a.dump_head().unwrap().id_floor,
    };
    let b = Store::open(b_dir.path()).unwrap();
    b.begin_load(&head).unwrap();
    b.load(old).unwrap();
    b.finish_load(&head, &[]).unwrap();
    assert_eq!(b.schema_version().unwrap(), Some(schema::CURRENT));
    let mut open_cases = Vec::new();
    b.open_cases(|c| open_cases.push(c.number)).unwrap();
    assert_eq!(open_cases, ["BMN-2026-0001"]);
    let moved = MessageKey {
        department: "bygg".into(),
        uid_validity: 7,
        uid: 1,
    };
    assert!(b.was_handled(&moved).unwrap());
}
