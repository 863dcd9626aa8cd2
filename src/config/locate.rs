//! Where a key is written in the config file, found from its key path
//! (`department[0].mailbox.user`) in one place, so that no check has to count lines itself: a
//! mistake then reads `kvittens.toml:33: key ...` like a compiler's, and an editor jumps to it.
//!
//! The checks run on serde's typed view of the file, which has forgotten where things were; the
//! text is parsed once more here with `toml_edit` (the parser the `toml` crate itself uses),
//! which keeps every key's byte span.

use super::ConfigError;
use std::path::Path;
use toml_edit::{ImDocument, Item, Table, TomlError, Value};

/// A place in the config text: 1-based line and column (in characters, as editors count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text` (clamped to the text, and to a character start).
    pub(crate) fn of_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// One step of a key path: a table key or a list index.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `department[0].officers[1].email` into its steps.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        while let Some(open) = rest.strip_prefix('[') {
            let Some(close) = open.find(']') else { break };
            if let Ok(i) = open[..close].parse() {
                out.push(Step::Index(i));
            }
            rest = &open[close + 1..];
        }
    }
    out
}

/// The config text, parsed once for looking keys up.
pub(crate) struct Locator<'a> {
    text: &'a str,
    doc: ImDocument<&'a str>,
}

/// Where a walk down the key path is: a table (`[x]` or dotted) or a value.
enum Node<'a> {
    Table(&'a Table),
    Item(&'a Item),
    Value(&'a Value),
}

impl<'a> Locator<'a> {
    /// Parses `text` for [`Locator::find`]; the error when it is not TOML (see
    /// [`syntax_error`]).
    pub(crate) fn new(text: &'a str) -> Result<Locator<'a>, TomlError> {
        Ok(Locator {
            text,
            doc: ImDocument::parse(text)?,
        })
    }

    /// The text looked in.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// Where the key `path` is written: the key itself when it is there; when it is missing
    /// (a required key left out), the header of the table it belongs in, or the key of the inline
    /// table; a missing top-level table points at the end of the file, where it would be added.
    pub(crate) fn find(&self, path: &str) -> Position {
        let root = self.doc.as_table();
        let mut node = Node::Table(root);
        let mut found = None;
        for step in steps(path) {
            let next = match (&node, step) {
                (Node::Table(t), Step::Key(k)) => {
                    if !std::ptr::eq(*t, root) {
                        found = t.span().map(|s| s.start).or(found);
                    }
                    t.get_key_value(k).map(|(key, item)| {
                        found = key.span().map(|s| s.start).or(found);
                        Node::Item(item)
                    })
                }
                (Node::Value(Value::InlineTable(t)), Step::Key(k)) => {
                    t.get_key_value(k).map(|(key, item)| {
                        found = key.span().map(|s| s.start).or(found);
                        Node::Item(item)
                    })
                }
                (Node::Item(Item::ArrayOfTables(a)), Step::Index(i)) => a.get(i).map(|t| {
                    found = t.span().map(|s| s.start).or(found);
                    Node::Table(t)
                }),
                (Node::Value(Value::Array(a)), Step::Index(i)) => a.get(i).map(|v| {
                    found = v.span().map(|s| s.start).or(found);
                    Node::Value(v)
                }),
                _ => None,
            };
            node = match next {
                Some(Node::Item(Item::Table(t))) => Node::Table(t),
                Some(Node::Item(Item::Value(v))) => Node::Value(v),
                Some(n) => n,
                None => break,
            };
        }
        let offset = found.unwrap_or_else(|| self.text.trim_end().len());
        Position::of_offset(self.text, offset)
    }
}

/// A file that is not TOML: the parser's line, the key being read on it (with its table) when
/// the line has one, and a plain hint for the usual slips instead of the parser's terse words.
pub(crate) fn syntax_error(file: &Path, text: &str, e: &TomlError) -> ConfigError {
    let said = e.message().trim().replace('\n', "; ");
    let at = e.span().map(|s| Position::of_offset(text, s.start));
    let line = at.and_then(|p| text.lines().nth(p.line - 1)).unwrap_or("");
    let message = match hint(&said, line) {
        Some(hint) => format!("{hint} (the TOML parser says: {said})"),
        None => format!("not valid TOML: {said}"),
    };
    let mut key_line = at.map_or(0, |p| p.line);
    if said.contains("array") {
        key_line = list_start(text, key_line);
    }
    ConfigError {
        at,
        ..ConfigError::new(file, key_on_line(text, key_line), message)
    }
    .caused_by(e.clone())
}

/// Plain words for what the parser said about `line`.
fn hint(said: &str, line: &str) -> Option<&'static str> {
    let header = line.trim_start().starts_with('[');
    // What follows the first `=`, when the line is `key = value`; one word without quotes
    // (`3d`) is text that needs them, several (`2525 security`) are more than one value.
    let value = line.split_once('=').map(|(_, v)| v.trim());
    let unquoted = value.is_some_and(|v| {
        v.starts_with(|c: char| c.is_alphanumeric())
            && !v.contains(['"', '\''])
            && !v.contains(char::is_whitespace)
    });
    Some(if said.contains("escape") {
        "a \\ in a \"…\" string starts an escape: write \\\\ for a backslash, or use '…'"
    } else if said.contains("literal string") {
        "a string is not closed: add the closing ' (a string stays on one line; ''' … ''' spans lines)"
    } else if said.contains("basic string") {
        "a string is not closed: add the closing \" (a string stays on one line; \"\"\" … \"\"\" spans lines)"
    } else if said.contains("duplicate key") {
        "this key is written twice in the same table: keep one"
    } else if said.contains("inline table") {
        "an inline table { … } must close with } on the same line, its pairs separated by commas"
    } else if header {
        "a table header is not closed or not a name: write [name] or [[name]]"
    } else if said.contains("array") {
        "a list [ … ] is not closed with ], or two of its items lack a comma between them"
    } else if value.is_some_and(|v| v.is_empty() || v.starts_with('#')) {
        "the key has no value after ="
    } else if unquoted {
        "a text value needs quotes: name = \"value\""
    } else if said.contains("expected newline") {
        "one key = value per line, text in quotes; a comment starts with #"
    } else if said.contains("`=`") {
        "a key needs = and a value, e.g. name = \"value\""
    } else {
        return None;
    })
}

/// The line a list that the parser found unclosed on line `n` was opened on: the last
/// `key = [` at or before it (a list may span lines, so the parser notices only later).
fn list_start(text: &str, n: usize) -> usize {
    text.lines()
        .take(n)
        .enumerate()
        .filter(|(_, l)| {
            l.split_once('=')
                .is_some_and(|(_, v)| v.trim_start().starts_with('['))
        })
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or(n)
}

/// The key written on line `n` (1-based) of `text` with its table (`department[1].name`), or
/// the table alone when the line has no plain `key =`; empty before any table.
fn key_on_line(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().take(n).collect();
    let mut table = String::new();
    for (i, l) in lines.iter().enumerate().rev().skip(1) {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim();
            let earlier = lines[..i]
                .iter()
                .filter(|x| {
                    x.trim()
                        .strip_prefix("[[")
                        .and_then(|r| r.split("]]").next())
                        .map(str::trim)
                        == Some(name)
                })
                .count();
            table = format!("{name}[{earlier}]");
            break;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
            break;
        }
    }
    let key = lines
        .last()
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        });
    match key {
        Some(k) if table.is_empty() => k.to_string(),
        Some(k) => format!("{table}.{k}"),
        None => table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# kvittens
[daemon]
store = "x"

[oauth2.entra]
provider = "microsoft"

[[department]]
id = "a"

[[department]]
id = "b"
mailbox = { user = "b@x.se", password = "p" }
officers = [
  { name = "O", email = "o@x.se" },
  { name = "L", email = "l@x.se", absent = [{ from = "2026-01-01", to = "2025-01-01" }] },
]
categories.complaint.words = ["klaga"]
"#;

    fn at(path: &str) -> (usize, usize) {
        let p = Locator::new(TEXT).unwrap().find(path);
        (p.line, p.column)
    }

    #[test]
    fn key_paths_are_split_into_steps() {
        assert_eq!(
            steps("department[0].officers[1].absent[0].to"),
            [
                Step::Key("department"),
                Step::Index(0),
                Step::Key("officers"),
                Step::Index(1),
                Step::Key("absent"),
                Step::Index(0),
                Step::Key("to"),
            ]
        );
    }

    #[test]
    fn keys_are_found_where_written() {
        assert_eq!(at("daemon.store"), (3, 1));
        assert_eq!(at("oauth2.entra.provider"), (6, 1));
        assert_eq!(at("department[1].id"), (12, 1));
        assert_eq!(at("department[1].mailbox.user"), (13, 13));
        assert_eq!(at("department[1].officers[1].email"), (16, 17));
        assert_eq!(at("department[1].officers[1].absent[0].to"), (16, 68));
        assert_eq!(at("department[1].categories.complaint.words"), (18, 22));
    }

    #[test]
    fn a_missing_key_points_at_its_table() {
        assert_eq!(at("daemon.timezone"), (2, 1));
        assert_eq!(at("oauth2.entra.tenant"), (5, 1));
        assert_eq!(at("department[1].name"), (11, 1));
        assert_eq!(at("department[1].mailbox.login"), (13, 1));
        // A missing table: the end of the file, where it would be added.
        assert_eq!(at("smtp"), (18, 39));
        assert!(Locator::new("[daemon").is_err());
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(Position::of_offset("a\nåb", 4).column, 2);
        assert_eq!(Position::of_offset("a\nåb", 99).line, 2);
        assert_eq!(Position::of_offset("", 0), Position { line: 1, column: 1 });
    }
}
