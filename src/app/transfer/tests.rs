use super::*;
use crate::store::Store;

fn places() -> Vec<String> {
    vec!["bygg".into(), "bygg/sent".into()]
}

fn exported(store: &Store) -> (Moved, String) {
    let mut out = Vec::new();
    let moved = export(store, &places(), &mut out).unwrap();
    (moved, String::from_utf8(out).unwrap())
}

/// Imports `text` (head and all) into `store`.
fn imported(store: &Store, text: &str) -> Result<Moved, TransferError> {
    let mut lines = text.lines();
    let head = read_head(lines.next().unwrap()).unwrap().unwrap();
    let mut rest = lines.map(|l| Ok(l.to_string()));
    import(store, &head, &mut rest, "dump.jsonl")
}

#[test]
fn a_store_exported_and_imported_is_the_same_key_for_key() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(a_dir.path()).unwrap();
    crate::store::filled_for_tests(&a);
    let (moved, text) = exported(&a);
    assert_eq!(moved.marks, 1);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len() as u64,
        moved.keys + 3,
        "head, keys, a mark, end"
    );
    assert!(
        lines[0].starts_with(r#"{"kvittens_dump":1,"schema":3,"id_floor":"#),
        "{}",
        lines[0]
    );
    assert!(lines.iter().any(|l| l.starts_with(r#"{"key":"flight/"#)));
    assert_eq!(
        lines[lines.len() - 2],
        r#"{"reading":"bygg","uid":5,"uid_validity":7}"#
    );

    let b = Store::open(b_dir.path()).unwrap();
    assert_eq!(imported(&b, &text).unwrap(), moved);
    let (_, again) = exported(&b);
    // Everything but the head (a new id floor, above the first) is the same, line for line.
    let again: Vec<&str> = again.lines().collect();
    assert_eq!(again[1..], lines[1..]);
    let floor = |l: &str| read_head(l).unwrap().unwrap().id_floor;
    assert!(floor(again[0]) > floor(lines[0]));
    assert_eq!(b.in_flight().unwrap(), 1);
    assert_eq!(b.pending().unwrap(), a.pending().unwrap());
}

#[test]
fn a_dump_cut_short_is_refused_and_its_store_not_opened() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(a_dir.path()).unwrap();
    crate::store::filled_for_tests(&a);
    let (_, text) = exported(&a);
    let cut: Vec<&str> = text.lines().collect();
    let cut = cut[..cut.len() - 3].join("\n");
    let b = Store::open(b_dir.path()).unwrap();
    let e = imported(&b, &cut).unwrap_err().to_string();
    assert!(e.contains("dump.jsonl, line"), "{e}");
    assert!(e.contains("it was cut short"), "{e}");
    drop(b);
    crate::store::refused_half_loaded(b_dir.path());
}

#[test]
fn a_line_that_is_not_a_dumps_is_named_by_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let text = "{\"kvittens_dump\":1,\"schema\":3,\"id_floor\":9}\n{\"key\":\"a\",\"value\":1}\n{\"number\":\"x\"}\n";
    let e = imported(&store, text).unwrap_err().to_string();
    assert!(
        e.starts_with("dump.jsonl, line 3: not a line of a dump"),
        "{e}"
    );
    let wrong_count = "{\"kvittens_dump\":1,\"schema\":3,\"id_floor\":9}\n{\"key\":\"a\",\"value\":1}\n{\"end\":2}\n";
    let other = tempfile::tempdir().unwrap();
    let store = Store::open(other.path()).unwrap();
    let e = imported(&store, wrong_count).unwrap_err().to_string();
    assert!(
        e.contains("line 3: the dump says 2 lines and holds 1"),
        "{e}"
    );
}

#[test]
fn the_head_tells_a_dump_from_the_older_list_of_cases() {
    assert!(read_head(r#"{"number":"BMN-2026-0001","department":"bygg"}"#).is_none());
    assert!(read_head("not json").is_none());
    let head = read_head(r#"{"kvittens_dump":1,"schema":3,"id_floor":12}"#);
    assert_eq!(
        head,
        Some(Ok(DumpHead {
            schema: 3,
            id_floor: 12
        }))
    );
    let newer = read_head(r#"{"kvittens_dump":2,"schema":9,"id_floor":12}"#);
    assert!(newer
        .unwrap()
        .unwrap_err()
        .contains("written by a newer kvittens"));
}

#[test]
fn values_and_keys_that_are_not_json_go_in_base64_and_come_back_the_same() {
    for (k, v) in [
        (&b"case/x"[..], &b"{\"a\": 1}"[..]),
        (b"k", b"null"),
        (b"k", b"not json"),
        (b"k", b"[1,\n2]"),
        (b"\xff\xfe", b"\x00\x01"),
        (b"k", b" 1"),
    ] {
        let mut out = Vec::new();
        write_pair(&mut out, k, v).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let Ok(Item::Pair(k2, v2)) = item(line.trim_end()) else {
            panic!("{line}")
        };
        assert_eq!((k2.as_slice(), v2.as_slice()), (k, v), "{line}");
    }
}
