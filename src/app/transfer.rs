//! `kvittens export` and `kvittens import`: a whole store as JSON lines, to move it to another
//! engine (sled to PostgreSQL and back) or another machine so that no mail is lost or answered
//! twice by the move. The store reads and writes the keys ([`crate::store::CaseStore::dump`]);
//! this is the format, one JSON object a line:
//!
//! ```text
//! {"kvittens_dump":1,"schema":3,"id_floor":4711}        the head: format, key schema, id floor
//! {"key":"case/BMN-2026-0001","value":{…}}               every key in key order, its value as stored
//! {"key":"…","base64":"…"}                               a value that is not one line of JSON
//! {"reading":"bygg","uid_validity":7,"uid":12}           a watched folder's "being read" mark
//! {"end":1234}                                           how many lines came between head and end
//! ```
//!
//! The last line makes a dump cut short (an export that stopped, a copy not finished) plain
//! to see: such a dump is refused, and the store it was going into stays marked unfinished.
//! A file without the head is the older cases-only list (`cases --json`), which
//! [`super::admin::import`] reads.

use crate::store::{CaseStore, DumpError, DumpHead, ReadingMark, StoreError};
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::io::Write;

/// The version of the format written; a dump of a newer one is refused.
pub const FORMAT: u32 = 1;

/// How many keys are written to the store at once while loading: large enough that a store of
/// 100 000 cases loads in a few hundred batches, small enough to stay a few MB in memory.
const BATCH: usize = 2000;

/// What an export or an import moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Keys with their values.
    pub keys: u64,
    /// "Being read" marks.
    pub marks: usize,
}

/// Why an export or an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The store failed (or refused: not empty, a newer schema, an import not finished).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output could not be written (a full disk; a closed pipe, which the caller may
    /// take as the reader's choice).
    #[error("cannot write the dump: {0}")]
    Write(#[source] std::io::Error),
    /// The input could not be read.
    #[error("{from}: cannot read it: {error}")]
    Read {
        /// The file, or standard input.
        from: String,
        /// Why.
        error: std::io::Error,
    },
    /// A line is not what a dump holds.
    #[error("{from}, line {line}: {what}")]
    Line {
        /// The file, or standard input.
        from: String,
        /// The line's number, from 1.
        line: u64,
        /// What is wrong, in plain words.
        what: String,
    },
}

impl From<DumpError> for TransferError {
    fn from(e: DumpError) -> Self {
        match e {
            DumpError::Store(e) => TransferError::Store(e),
            DumpError::Write(e) => TransferError::Write(e),
        }
    }
}

/// The first line of a dump.
#[derive(Serialize, Deserialize)]
struct Head {
    kvittens_dump: u32,
    schema: u32,
    id_floor: u64,
}

/// Writes the whole store to `out` as a dump, with the "being read" marks of `places` (the
/// configured folders: `bygg`, `bygg/sent`) and of every folder with a cursor.
///
/// # Errors
/// [`TransferError::Store`] when the store cannot be read, [`TransferError::Write`] when `out`
/// refuses.
pub fn export(
    store: &dyn CaseStore,
    places: &[String],
    out: &mut dyn Write,
) -> Result<Moved, TransferError> {
    let head = store.dump_head()?;
    let line = Head {
        kvittens_dump: FORMAT,
        schema: head.schema,
        id_floor: head.id_floor,
    };
    json_line(out, &line)?;
    let mut moved = Moved::default();
    store.dump(&mut |k, v| {
        write_pair(out, k, v)?;
        moved.keys += 1;
        Ok(())
    })?;
    let marks = store.reading_marks(places)?;
    for (place, (uid_validity, uid)) in &marks {
        let mark = serde_json::json!({"reading": place, "uid_validity": uid_validity, "uid": uid});
        json_line(out, &mark)?;
    }
    moved.marks = marks.len();
    let lines = moved.keys + marks.len() as u64;
    json_line(out, &serde_json::json!({ "end": lines }))?;
    out.flush().map_err(TransferError::Write)?;
    Ok(moved)
}

fn json_line(out: &mut dyn Write, value: &impl Serialize) -> Result<(), TransferError> {
    let mut bytes =
        serde_json::to_vec(value).map_err(|e| TransferError::Write(std::io::Error::other(e)))?;
    bytes.push(b'\n');
    out.write_all(&bytes).map_err(TransferError::Write)
}

/// One key's line: the value as it is stored when it is one line of JSON (every value
/// kvittens writes), so that the store it goes into holds the same bytes; else in base64.
fn write_pair(out: &mut dyn Write, key: &[u8], value: &[u8]) -> std::io::Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut line = Vec::with_capacity(key.len() + value.len() + 24);
    match std::str::from_utf8(key) {
        Ok(k) => {
            line.extend_from_slice(b"{\"key\":");
            serde_json::to_writer(&mut line, k)?;
        }
        Err(_) => {
            line.extend_from_slice(b"{\"key_base64\":");
            serde_json::to_writer(&mut line, &b64.encode(key))?;
        }
    }
    let raw = serde_json::from_slice::<&RawValue>(value).ok();
    match raw.filter(|r| r.get().as_bytes() == value && !value.contains(&b'\n')) {
        Some(_) => {
            line.extend_from_slice(b",\"value\":");
            line.extend_from_slice(value);
        }
        None => {
            line.extend_from_slice(b",\"base64\":");
            serde_json::to_writer(&mut line, &b64.encode(value))?;
        }
    }
    line.extend_from_slice(b"}\n");
    out.write_all(&line)
}

/// What `line` (the first line of an input) says: `None` when it is not a dump's head (the
/// older cases-only list), else the dump's head or why it cannot be read.
pub fn read_head(line: &str) -> Option<Result<DumpHead, String>> {
    #[derive(Deserialize)]
    struct Maybe {
        kvittens_dump: Option<u32>,
        schema: Option<u32>,
        id_floor: Option<u64>,
    }
    let maybe: Maybe = serde_json::from_str(line).ok()?;
    let format = maybe.kvittens_dump?;
    if format > FORMAT {
        return Some(Err(format!(
            "a dump of format {format}, written by a newer kvittens (this one reads format {FORMAT}): \
             import it with that version"
        )));
    }
    match (maybe.schema, maybe.id_floor) {
        (Some(schema), Some(id_floor)) => Some(Ok(DumpHead { schema, id_floor })),
        _ => Some(Err(
            "the dump's first line lacks \"schema\" or \"id_floor\"".to_string(),
        )),
    }
}

/// One line after the head.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    key_base64: Option<String>,
    #[serde(default, borrow, deserialize_with = "raw")]
    value: Option<&'a RawValue>,
    #[serde(default)]
    base64: Option<String>,
    #[serde(default)]
    reading: Option<String>,
    #[serde(default)]
    uid_validity: Option<u32>,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    end: Option<u64>,
}

/// A value present in the line, `null` included (which `Option` alone would take as absent).
fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// What one line after the head holds.
enum Item {
    Pair(Vec<u8>, Vec<u8>),
    Mark(ReadingMark),
    End(u64),
}

fn item(text: &str) -> Result<Item, String> {
    let line: Line =
        serde_json::from_str(text).map_err(|e| format!("not a line of a dump: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |what: &str, s: &str| {
        b64.decode(s)
            .map_err(|e| format!("its {what} is not base64: {e}"))
    };
    let key = match (line.key, line.key_base64) {
        (Some(k), None) => Some(k.into_bytes()),
        (None, Some(k)) => Some(decode("key_base64", &k)?),
        (None, None) => None,
        (Some(_), Some(_)) => return Err("it has both \"key\" and \"key_base64\"".into()),
    };
    match (key, line.value, line.base64, line.reading, line.end) {
        (Some(k), Some(v), None, None, None) => Ok(Item::Pair(k, v.get().as_bytes().to_vec())),
        (Some(k), None, Some(v), None, None) => Ok(Item::Pair(k, decode("base64", &v)?)),
        (None, None, None, Some(place), None) => match (line.uid_validity, line.uid) {
            (Some(v), Some(u)) => Ok(Item::Mark((place, (v, u)))),
            _ => Err("a \"being read\" mark needs \"uid_validity\" and \"uid\"".into()),
        },
        (None, None, None, None, Some(n)) => Ok(Item::End(n)),
        _ => Err("expected a key with its value, a \"being read\" mark, or the end".into()),
    }
}

/// Loads the dump headed by `head` from `lines` (the lines after the head, each numbered from
/// 2) into `store`, which must be empty; `from` names the input in errors. Keys go in batches;
/// the store is usable only once the dump's last line has been read and every key written.
///
/// # Errors
/// [`TransferError::Store`] (not empty, a newer schema, cannot write), [`TransferError::Read`],
/// [`TransferError::Line`] for a line that is not a dump's, a line after the end, or a dump
/// that ends before its last line.
pub fn import(
    store: &dyn CaseStore,
    head: &DumpHead,
    lines: &mut dyn Iterator<Item = std::io::Result<String>>,
    from: &str,
) -> Result<Moved, TransferError> {
    store.begin_load(head)?;
    let mut moved = Moved::default();
    let mut marks = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut ended = false;
    let mut number = 1u64;
    let bad = |line: u64, what: String| TransferError::Line {
        from: from.to_string(),
        line,
        what,
    };
    for text in lines {
        number += 1;
        let text = text.map_err(|error| TransferError::Read {
            from: from.to_string(),
            error,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        if ended {
            return Err(bad(number, "a line after the dump's end".into()));
        }
        match item(&text).map_err(|what| bad(number, what))? {
            Item::Pair(k, v) => {
                batch.push((k, v));
                moved.keys += 1;
                if batch.len() >= BATCH {
                    store.load(std::mem::take(&mut batch))?;
                }
            }
            Item::Mark(mark) => marks.push(mark),
            Item::End(n) => {
                let seen = moved.keys + marks.len() as u64;
                if n != seen {
                    let what = format!(
                        "the dump says {n} lines and holds {seen}: it is damaged; export it again"
                    );
                    return Err(bad(number, what));
                }
                ended = true;
            }
        }
    }
    if !ended {
        let what =
            "the dump ends before its last line ({\"end\": …}): it was cut short (an export \
                    that stopped, a copy not finished). The store it went into is marked \
                    unfinished: remove it and import a whole dump"
                .to_string();
        return Err(bad(number, what));
    }
    store.load(batch)?;
    store.finish_load(head, &marks)?;
    moved.marks = marks.len();
    Ok(moved)
}

#[cfg(test)]
mod tests;
