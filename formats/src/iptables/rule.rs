//! One rule line: its words, its options, and the expressions they make.

use std::borrow::Cow;
use std::collections::HashMap;

use cnictl_model::netfilter::{Dir, Expr, Match, PhysDev, Rule, Verdict};

use crate::{column_of, ParseError};

use super::matches::*;
use super::opt::{opt_text, options, Opt, OptError, TargetOpt};
use super::target::target;

/// Splits a rule into words; `"…"` quotes (with `\"` and `\\` escapes) make
/// one word, as iptables-save quotes comments and log prefixes. Words
/// borrow from the line; only a quoted word with escapes is copied (a
/// 10,000-Service node's dump has ~3 million words).
pub(super) fn tokenize<'a>(
    no: usize,
    line: &str,
    text: &'a str,
) -> Result<Vec<Cow<'a, str>>, ParseError> {
    let mut out = Vec::with_capacity(24);
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at].is_ascii_whitespace() {
            at += 1;
        } else if bytes[at] == b'"' {
            let (word, end) = quoted(&text[at + 1..]).ok_or_else(|| {
                ParseError::unexpected(
                    no,
                    column_of(line, &text[at..]),
                    "a closing '\"'",
                    &text[at..],
                )
            })?;
            out.push(word);
            at += 1 + end;
        } else {
            let end = bytes[at..]
                .iter()
                .position(u8::is_ascii_whitespace)
                .map_or(bytes.len(), |i| at + i);
            out.push(Cow::Borrowed(&text[at..end]));
            at = end;
        }
    }
    Ok(out)
}

/// The quoted word at the start of `text` (just after its opening quote)
/// and how many bytes it took, closing quote included; `None` when the
/// quote is not closed.
pub(super) fn quoted(text: &str) -> Option<(Cow<'_, str>, usize)> {
    let end = text.find(['"', '\\'])?;
    if text.as_bytes()[end] == b'"' {
        return Some((Cow::Borrowed(&text[..end]), end + 1));
    }
    let mut word = String::from(&text[..end]);
    let mut chars = text[end..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((Cow::Owned(word), end + i + 1)),
            '\\' => word.push(chars.next()?.1),
            _ => word.push(c),
        }
    }
    None
}

/// What `-m`/`-j` opened: options after it belong to that extension.
pub(super) enum Scope<'a> {
    Base,
    Module(&'a str),
    Target,
}

/// A rule's words → (chain, rule). The rule's text and counters are filled
/// in by the caller.
pub(super) fn parse_rule<'t>(
    no: usize,
    line: &str,
    tokens: &'t [Cow<'t, str>],
    chains: &HashMap<String, usize>,
) -> Result<(&'t str, Rule), ParseError> {
    let err = |what: &str, found: &str| {
        ParseError::unexpected(no, column_of(line, found).max(1), what, found)
    };
    let first = tokens.first().map(|t| t.as_ref());
    if first != Some("-A") && first != Some("--append") {
        return Err(err(
            "'-A CHAIN' (or a '*table', ':chain', COMMIT line)",
            first.unwrap_or(""),
        ));
    }
    let chain = tokens
        .get(1)
        .ok_or_else(|| err("a chain name after -A", line))?
        .as_ref();
    let mut b = RuleBuilder::default();
    let mut scope = Scope::Base;
    for opt in options(&tokens[2..]) {
        scope = b
            .option(opt, scope)
            .map_err(|(what, found)| err(&what, &found))?;
    }
    Ok((chain, b.finish(chains)))
}

/// Collects the expressions of one rule.
#[derive(Default)]
pub(super) struct RuleBuilder<'a> {
    exprs: Vec<Expr>,
    comment: Option<String>,
    /// Pending `-m statistic` / `-m physdev` options, merged per module.
    statistic: Option<(bool, Vec<(&'a str, &'a str)>)>,
    physdev: Option<PhysDev>,
    target: Option<(&'a str, Vec<TargetOpt<'a>>)>,
}

impl<'a> RuleBuilder<'a> {
    fn option(&mut self, opt: Opt<'a>, scope: Scope<'a>) -> Result<Scope<'a>, OptError> {
        match opt.name {
            "-m" | "--match" => {
                self.flush_module();
                let name = *opt
                    .values
                    .first()
                    .ok_or(("a module name after -m".to_string(), String::new()))?;
                Ok(Scope::Module(name))
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                self.flush_module();
                let name = *opt
                    .values
                    .first()
                    .ok_or(("a target after -j".to_string(), String::new()))?;
                if opt.name.starts_with("-g") || opt.name == "--goto" {
                    self.exprs
                        .push(Expr::Verdict(Verdict::Goto(name.to_string())));
                    return Ok(Scope::Base);
                }
                self.target = Some((name, Vec::new()));
                Ok(Scope::Target)
            }
            _ => {
                self.scoped(&opt, &scope)?;
                Ok(scope)
            }
        }
    }

    fn scoped(&mut self, opt: &Opt<'a>, scope: &Scope<'_>) -> Result<(), OptError> {
        match scope {
            Scope::Base => self.base(opt),
            // iptables-restore takes a built-in option after a module's
            // (iptables-save never writes one there, a generator may).
            Scope::Module(_) if is_base(opt.name) => self.base(opt),
            Scope::Module(m) => self.module(m, opt),
            Scope::Target => {
                if let Some((_, opts)) = self.target.as_mut() {
                    opts.push((opt.neg, opt.name, opt.values.clone()));
                }
                Ok(())
            }
        }
    }

    /// `-s -d -i -o -p -f`, before, between or after modules.
    fn base(&mut self, opt: &Opt<'_>) -> Result<(), OptError> {
        let value = || {
            opt.values
                .first()
                .copied()
                .ok_or((format!("a value after {}", opt.name), String::new()))
        };
        let m = match opt.name {
            "-s" | "--source" | "--src" => Match::Addr {
                dir: Dir::Src,
                nets: nets(value()?)?,
                neg: opt.neg,
            },
            "-d" | "--destination" | "--dst" => Match::Addr {
                dir: Dir::Dst,
                nets: nets(value()?)?,
                neg: opt.neg,
            },
            "-i" | "--in-interface" => Match::Iface {
                dir: Dir::Src,
                name: value()?.to_string(),
                neg: opt.neg,
            },
            "-o" | "--out-interface" => Match::Iface {
                dir: Dir::Dst,
                name: value()?.to_string(),
                neg: opt.neg,
            },
            "-p" | "--protocol" => match proto(value()?)? {
                Some(p) => Match::Proto {
                    protos: vec![p],
                    neg: opt.neg,
                },
                None => return Ok(()),
            },
            _ => Match::Unknown {
                text: opt_text(opt),
            },
        };
        self.exprs.push(Expr::Match(m));
        Ok(())
    }

    fn module(&mut self, module: &str, opt: &Opt<'a>) -> Result<(), OptError> {
        let m = match module {
            "tcp" | "udp" | "sctp" | "udplite" | "dccp" => port_match(opt)?,
            "multiport" => multiport(opt)?,
            "conntrack" | "state" => ct_match(opt),
            "comment" => {
                self.comment = opt.values.first().map(|v| v.to_string());
                return Ok(());
            }
            "mark" => mark_match(opt, false)?,
            "connmark" => mark_match(opt, true)?,
            "addrtype" => return self.addrtype(opt),
            "physdev" => return self.physdev_opt(opt),
            "statistic" => {
                let (_, opts) = self.statistic.get_or_insert((false, Vec::new()));
                opts.push((opt.name, opt.values.first().copied().unwrap_or("")));
                if let (true, Some(s)) = (opt.neg, self.statistic.as_mut()) {
                    s.0 = true;
                }
                return Ok(());
            }
            "set" => set_match(opt),
            "icmp" | "icmp6" | "icmpv6" => icmp_match(opt),
            _ => Match::Unknown {
                text: format!("-m {module} {}", opt_text(opt)),
            },
        };
        self.exprs.push(Expr::Match(m));
        Ok(())
    }

    fn addrtype(&mut self, opt: &Opt<'_>) -> Result<(), OptError> {
        let dir = match opt.name {
            "--src-type" => Dir::Src,
            "--dst-type" => Dir::Dst,
            "--limit-iface-in" | "--limit-iface-out" => {
                let limit = if opt.name.ends_with("in") {
                    Dir::Src
                } else {
                    Dir::Dst
                };
                if let Some(Expr::Match(Match::AddrType { limit_iface, .. })) =
                    self.exprs.last_mut()
                {
                    *limit_iface = Some(limit);
                }
                return Ok(());
            }
            _ => {
                self.exprs.push(Expr::Match(Match::Unknown {
                    text: format!("-m addrtype {}", opt_text(opt)),
                }));
                return Ok(());
            }
        };
        let types = addr_types(opt.values.first().copied().unwrap_or(""))?;
        self.exprs.push(Expr::Match(Match::AddrType {
            dir,
            types,
            neg: opt.neg,
            limit_iface: None,
        }));
        Ok(())
    }

    fn physdev_opt(&mut self, opt: &Opt<'_>) -> Result<(), OptError> {
        let p = self.physdev.get_or_insert_with(PhysDev::default);
        let name = || {
            (
                opt.values.first().copied().unwrap_or("").to_string(),
                opt.neg,
            )
        };
        match opt.name {
            "--physdev-in" => p.physdev_in = Some(name()),
            "--physdev-out" => p.physdev_out = Some(name()),
            "--physdev-is-in" => p.is_in = Some(!opt.neg),
            "--physdev-is-out" => p.is_out = Some(!opt.neg),
            "--physdev-is-bridged" => p.is_bridged = Some(!opt.neg),
            _ => return Err(("a physdev option".into(), opt.name.to_string())),
        }
        Ok(())
    }

    /// Ends the current `-m` module: merges its collected options.
    fn flush_module(&mut self) {
        if let Some(p) = self.physdev.take() {
            self.exprs.push(Expr::Match(Match::PhysDev(p)));
        }
        if let Some((neg, opts)) = self.statistic.take() {
            self.exprs.push(Expr::Match(statistic(neg, &opts)));
        }
    }

    fn finish(mut self, chains: &HashMap<String, usize>) -> Rule {
        self.flush_module();
        if let Some((name, opts)) = self.target.take() {
            let is_chain = chains.contains_key(name);
            self.exprs.extend(target(name, &opts, is_chain));
        }
        Rule {
            text: String::new(),
            position: 0,
            handle: None,
            comment: self.comment,
            counters: None,
            exprs: self.exprs,
        }
    }
}

/// The built-in options (`-s -d -i -o -p` and their long forms), which no
/// match module takes.
fn is_base(name: &str) -> bool {
    matches!(
        name,
        "-s" | "--source"
            | "--src"
            | "-d"
            | "--destination"
            | "--dst"
            | "-i"
            | "--in-interface"
            | "-o"
            | "--out-interface"
            | "-p"
            | "--protocol"
    )
}
