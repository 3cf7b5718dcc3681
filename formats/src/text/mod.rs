//! The plain-text forms of iproute2's listings — `ip -d link show`,
//! `ip addr show`, `ip -d route show table all` (or plain `ip route`),
//! `ip neigh show`, `ip rule show`, `bridge fdb show` — into the same model
//! types as the `ip -j` readers, for bundles made of what people paste into
//! a ticket.
//!
//! Hand-written on purpose: no crate parses iproute2's text output (its
//! format is defined only by iproute2's `print_*` functions), and the JSON
//! readers beside this module fix what every field must become. Each line
//! is split into whitespace tokens and read keyword by keyword, as iproute2
//! prints them; a keyword this module does not know is an error naming its
//! line and column, never skipped silently, except the counters and
//! tunables listed per module that cnictl does not model.
//!
//! The text form carries less than the JSON: what a dump lacks is returned
//! beside the value ([`FromText::lacks`]) so that the importer can say it,
//! and the model keeps `None` where the JSON reader would have filled it in.

mod addr;
mod fdb;
mod link;
mod neigh;
mod route;
mod rule;

pub use addr::parse_addrs_text;
pub use fdb::parse_fdb_text;
pub use link::parse_links_text;
pub use neigh::parse_neighbours_text;
pub use route::parse_routes_text;
pub use rule::parse_rules_text;

use std::str::FromStr;

use super::{column_of, ParseError};

/// A value read from a text dump, and what that dump could not carry
/// (one sentence each, naming the command that would).
#[derive(Debug, Clone, PartialEq)]
pub struct FromText<T> {
    pub value: T,
    pub lacks: Vec<String>,
}

impl<T> FromText<T> {
    fn full(value: T) -> Self {
        FromText {
            value,
            lacks: Vec::new(),
        }
    }
}

/// Whether a dump is the text form (not `[`/`{` JSON): an empty dump is
/// neither and goes to the JSON reader, which reports it.
pub fn is_text(dump: &str) -> bool {
    dump.trim_start()
        .chars()
        .next()
        .is_some_and(|c| c != '[' && c != '{')
}

/// One line's whitespace tokens, read left to right; errors carry the
/// 1-based line and the column of the offending token.
pub(crate) struct Toks<'a> {
    line_no: usize,
    line: &'a str,
    toks: Vec<&'a str>,
    at: usize,
}

impl<'a> Toks<'a> {
    pub(crate) fn new(line_no: usize, line: &'a str) -> Self {
        Toks {
            line_no,
            line,
            toks: line.split_whitespace().collect(),
            at: 0,
        }
    }

    pub(crate) fn next(&mut self) -> Option<&'a str> {
        let t = self.toks.get(self.at).copied();
        self.at += usize::from(t.is_some());
        t
    }

    pub(crate) fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.at).copied()
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> Vec<&'a str> {
        let rest = self.toks[self.at..].to_vec();
        self.at = self.toks.len();
        rest
    }

    /// The token after `key`, or an error saying what `key` needs.
    pub(crate) fn value(&mut self, key: &str, expected: &str) -> Result<&'a str, ParseError> {
        self.next()
            .ok_or_else(|| self.err(None, &format!("{expected} after {key:?}")))
    }

    /// The token after `key`, parsed.
    pub(crate) fn parsed<T: FromStr>(
        &mut self,
        key: &str,
        expected: &str,
    ) -> Result<T, ParseError> {
        let tok = self.value(key, expected)?;
        tok.parse()
            .map_err(|_| self.err(Some(tok), &format!("{expected} after {key:?}")))
    }

    /// An error at `tok` (a token of this line), or at the end of the line.
    pub(crate) fn err(&self, tok: Option<&str>, expected: &str) -> ParseError {
        match tok {
            Some(t) => ParseError::unexpected(self.line_no, column_of(self.line, t), expected, t),
            None => ParseError::unexpected(
                self.line_no,
                self.line.trim_end().len() + 1,
                expected,
                "end of line",
            ),
        }
    }

    /// An error at the token just read.
    pub(crate) fn err_last(&self, expected: &str) -> ParseError {
        let last = self.at.checked_sub(1).and_then(|i| self.toks.get(i));
        self.err(last.copied(), expected)
    }
}

/// Numbered non-empty lines (1-based), the unit every text parser reads.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// Whether a line continues the previous record (iproute2 indents them).
pub(crate) fn indented(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}
