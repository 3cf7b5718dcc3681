//! A rule's options as written (`[!] --name value…`): the words the
//! rule, match and target readers share.

use std::borrow::Cow;

/// One option as written: `[!] --name value…` (or `-s addr`).
#[derive(Debug)]
pub(super) struct Opt<'a> {
    pub(super) neg: bool,
    pub(super) name: &'a str,
    pub(super) values: Vec<&'a str>,
}

/// Cuts the tokens after `-A CHAIN` into options. Values run until the next
/// word that starts with `-` (and is not a negative number) or a `!`.
pub(super) fn options<'a>(tokens: &'a [Cow<'a, str>]) -> Vec<Opt<'a>> {
    let mut out: Vec<Opt<'_>> = Vec::new();
    let mut neg = false;
    for t in tokens.iter().map(|t| t.as_ref()) {
        if t == "!" {
            neg = true;
        } else if is_option(t) {
            out.push(Opt {
                neg,
                name: t,
                values: Vec::new(),
            });
            neg = false;
        } else if let Some(last) = out.last_mut() {
            last.values.push(t);
        }
    }
    out
}

pub(super) fn is_option(t: &str) -> bool {
    t.len() > 1 && t.starts_with('-') && !t.as_bytes()[1].is_ascii_digit()
}

/// A target's options as written: (negated, name, values).
pub(super) type TargetOpt<'a> = (bool, &'a str, Vec<&'a str>);

pub(super) type OptError = (String, String);

/// The option as written, for `Unknown` (what the user sees in explain).
pub(super) fn opt_text(opt: &Opt<'_>) -> String {
    let mut s = String::new();
    if opt.neg {
        s.push_str("! ");
    }
    s.push_str(opt.name);
    for v in &opt.values {
        s.push(' ');
        s.push_str(v);
    }
    s
}
