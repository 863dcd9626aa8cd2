//! Scans in key order, a page at a time (keyset pagination: each page starts after the last
//! key of the one before), so that a store of 100 000 cases is never in memory at once.

use super::super::error::Cause;
use super::super::kv::Pair;
use super::PgKv;
use std::collections::VecDeque;

/// Keys read in one query.
pub(super) const PAGE: i64 = 500;

/// The pages of one scan, read as the iterator is drained.
pub(super) struct Pages<'a> {
    kv: &'a PgKv,
    /// Where the next page starts: the scan's start, then the last key read.
    from: Vec<u8>,
    /// Whether `from` itself belongs to the next page (only for the first).
    inclusive: bool,
    to: Option<Vec<u8>>,
    page: VecDeque<Pair>,
    /// The last page was short (or a read failed): nothing more to read.
    done: bool,
}

impl<'a> Pages<'a> {
    pub(super) fn new(kv: &'a PgKv, from: &[u8], to: Option<&[u8]>) -> Pages<'a> {
        Pages {
            kv,
            from: from.to_vec(),
            inclusive: true,
            to: to.map(<[u8]>::to_vec),
            page: VecDeque::new(),
            done: false,
        }
    }

    fn read_page(&mut self) -> Result<(), Cause> {
        let start = if self.inclusive { ">=" } else { ">" };
        let (from, to) = (&self.from, &self.to);
        let rows = self.kv.run(|c| -> Result<_, Cause> {
            Ok(match to {
            Some(to) => c.query(
                &format!("SELECT key, value FROM kv WHERE key {start} $1 AND key < $2 ORDER BY key LIMIT $3"),
                &[from, to, &PAGE],
            )?,
            None => c.query(
                &format!("SELECT key, value FROM kv WHERE key {start} $1 ORDER BY key LIMIT $2"),
                &[from, &PAGE],
            )?,
            })
        })?;
        self.done = (rows.len() as i64) < PAGE;
        self.inclusive = false;
        self.page
            .extend(rows.into_iter().map(|r| (r.get::<_, Vec<u8>>(0), r.get(1))));
        if let Some((last, _)) = self.page.back() {
            self.from = last.clone();
        }
        Ok(())
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<Pair, Cause>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && !self.done {
            if let Err(e) = self.read_page() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.page.pop_front().map(Ok)
    }
}
