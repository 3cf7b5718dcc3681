//! nft JSON statements back to nft's text syntax, near enough to what
//! `nft list ruleset` prints for a user to recognise and grep the rule.
//!
//! Everything is written into one `String` per rule: a kube-proxy node in
//! nftables mode has ~100,000 rules, and a `String` per expression and
//! statement was a fifth of the listing's parse time.

use std::fmt::Write;

use super::nft::Json;

/// Appends one statement of a rule's `expr` array to `out`.
pub fn statement(out: &mut String, e: &Json) {
    let Some((kind, body)) = e.first_entry() else {
        return json(out, e);
    };
    match kind {
        "match" => match_text(out, body),
        "accept" | "drop" | "return" | "continue" | "notrack" | "counter" => out.push_str(kind),
        "jump" | "goto" => target(out, kind, body),
        "reject" => reject(out, body),
        "vmap" => pair(out, &body["key"], " vmap ", &body["data"]),
        "mangle" => pair(out, &body["key"], " set ", &body["value"]),
        "dnat" | "snat" => nat(out, kind, body),
        "masquerade" | "redirect" => flagged(out, kind, body),
        "log" => log(out, body),
        "xt" => {
            let kind = body["type"].as_str().unwrap_or("match");
            let name = body["name"].as_str().unwrap_or("?");
            let _ = write!(out, "xt {kind} {name:?}");
        }
        _ => kind_and_json(out, kind, body),
    }
}

/// `left op right`, the op left out for equality and set membership.
fn match_text(out: &mut String, body: &Json) {
    expr(out, &body["left"]);
    out.push(' ');
    let op = body.get("op").and_then(Json::as_str).unwrap_or("==");
    if op != "==" && op != "in" {
        out.push_str(op);
        out.push(' ');
    }
    expr(out, &body["right"]);
}

fn pair(out: &mut String, left: &Json, between: &str, right: &Json) {
    expr(out, left);
    out.push_str(between);
    expr(out, right);
}

fn target(out: &mut String, kind: &str, body: &Json) {
    out.push_str(kind);
    out.push(' ');
    out.push_str(body.get("target").and_then(Json::as_str).unwrap_or("?"));
}

fn reject(out: &mut String, body: &Json) {
    out.push_str("reject");
    if let Some(what) = body.get("expr").and_then(Json::as_str) {
        let kind = body.get("type").and_then(Json::as_str).unwrap_or("icmp");
        let _ = write!(out, " with {kind} type {what}");
    }
}

fn nat(out: &mut String, kind: &str, body: &Json) {
    out.push_str(kind);
    out.push_str(" to ");
    if let Some(addr) = body.get("addr") {
        expr(out, addr);
    }
    if let Some(p) = body.get("port") {
        out.push(':');
        expr(out, p);
    }
}

fn flagged(out: &mut String, kind: &str, body: &Json) {
    out.push_str(kind);
    if let Some(p) = body.get("port") {
        out.push_str(" to :");
        expr(out, p);
    }
    let flags = match body.get("flags") {
        Some(f @ Json::Str(_)) => std::slice::from_ref(f),
        Some(Json::Arr(a)) => a.as_slice(),
        _ => &[],
    };
    for f in flags.iter().filter_map(Json::as_str) {
        out.push(' ');
        out.push_str(f);
    }
}

fn log(out: &mut String, body: &Json) {
    out.push_str("log");
    if let Some(p) = body.get("prefix").and_then(Json::as_str) {
        let _ = write!(out, " prefix {p:?}");
    }
}

/// A construct without a text form here: its kind and its JSON.
fn kind_and_json(out: &mut String, kind: &str, body: &Json) {
    out.push_str(kind);
    out.push(' ');
    json(out, body);
}

fn json(out: &mut String, v: &Json) {
    let _ = write!(out, "{v}");
}

/// An expression (the left or right side of a match, a key, a value).
pub fn expr(out: &mut String, v: &Json) {
    match v {
        Json::Str(s) => out.push_str(s),
        Json::Num(n) => {
            let _ = write!(out, "{n}");
        }
        Json::Arr(a) => joined(out, a, ", "),
        Json::Obj(_) => match v.first_entry() {
            Some((k, body)) => object(out, k, body),
            None => out.push_str("{}"),
        },
        other => json(out, other),
    }
}

fn joined(out: &mut String, items: &[Json], sep: &str) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        expr(out, item);
    }
}

fn object(out: &mut String, kind: &str, body: &Json) {
    let field = |key: &str| body[key].as_str().unwrap_or("?");
    match kind {
        "payload" => {
            let _ = write!(out, "{} {}", field("protocol"), field("field"));
        }
        "meta" => meta(out, field("key")),
        "ct" => {
            out.push_str("ct ");
            out.push_str(field("key"));
        }
        "fib" => fib(out, body),
        "concat" => joined(out, body.as_array().unwrap_or_default(), " . "),
        "prefix" => pair(out, &body["addr"], "/", &body["len"]),
        "range" => pair(out, &body[0], "-", &body[1]),
        "set" => set(out, body),
        "numgen" => {
            let _ = write!(out, "numgen {} mod ", field("mode"));
            expr(out, &body["mod"]);
        }
        "&" | "|" | "^" => {
            expr(out, &body[0]);
            let _ = write!(out, " {kind} ");
            expr(out, &body[1]);
        }
        "elem" => expr(out, &body["val"]),
        "goto" | "jump" => target(out, kind, body),
        "accept" | "drop" | "return" => out.push_str(kind),
        _ => kind_and_json(out, kind, body),
    }
}

/// `fib daddr . iif type`: flags joined by ` . `.
fn fib(out: &mut String, body: &Json) {
    let mut flags = String::new();
    expr(&mut flags, &body["flags"]);
    let _ = write!(
        out,
        "fib {} {}",
        flags.replace(", ", " . "),
        body["result"].as_str().unwrap_or("?")
    );
}

/// nft prints interface and mark keys without `meta`.
fn meta(out: &mut String, key: &str) {
    if !matches!(key, "iifname" | "oifname" | "iif" | "oif" | "mark") {
        out.push_str("meta ");
    }
    out.push_str(key);
}

/// `{ a, b }`, map entries `k : v`.
fn set(out: &mut String, body: &Json) {
    out.push_str("{ ");
    for (i, e) in body.as_array().unwrap_or_default().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match e.as_array() {
            Some([k, v]) => pair(out, k, " : ", v),
            _ => expr(out, e),
        }
    }
    out.push_str(" }");
}
