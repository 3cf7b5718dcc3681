//! nft JSON statements back to nft's text syntax, near enough to what
//! `nft list ruleset` prints for a user to recognise and grep the rule.

use super::nft::Json;

/// One statement of a rule's `expr` array.
pub fn statement(e: &Json) -> String {
    let Some((kind, body)) = e.first_entry() else {
        return e.to_string();
    };
    match kind {
        "match" => match_text(body),
        "counter" => "counter".to_string(),
        "accept" | "drop" | "return" | "continue" | "notrack" => kind.to_string(),
        "jump" | "goto" => format!(
            "{kind} {}",
            body.get("target").and_then(Json::as_str).unwrap_or("?")
        ),
        "reject" => reject(body),
        "vmap" => format!("{} vmap {}", expr(&body["key"]), expr(&body["data"])),
        "mangle" => format!("{} set {}", expr(&body["key"]), expr(&body["value"])),
        "dnat" | "snat" => nat(kind, body),
        "masquerade" | "redirect" => flagged(kind, body),
        "log" => log(body),
        "xt" => format!(
            "xt {} {:?}",
            body["type"].as_str().unwrap_or("match"),
            body["name"].as_str().unwrap_or("?")
        ),
        _ => format!("{kind} {}", body),
    }
}

fn match_text(body: &Json) -> String {
    let op = body.get("op").and_then(Json::as_str).unwrap_or("==");
    let op = if op == "==" || op == "in" {
        String::new()
    } else {
        format!("{op} ")
    };
    format!("{} {op}{}", expr(&body["left"]), expr(&body["right"]))
}

fn reject(body: &Json) -> String {
    match body.get("expr").and_then(Json::as_str) {
        Some(what) => format!(
            "reject with {} type {what}",
            body.get("type").and_then(Json::as_str).unwrap_or("icmp")
        ),
        None => "reject".to_string(),
    }
}

fn nat(kind: &str, body: &Json) -> String {
    let addr = body.get("addr").map(expr).unwrap_or_default();
    match body.get("port") {
        Some(p) => format!("{kind} to {addr}:{}", expr(p)),
        None => format!("{kind} to {addr}"),
    }
}

fn flagged(kind: &str, body: &Json) -> String {
    let mut s = kind.to_string();
    if let Some(p) = body.get("port") {
        s.push_str(&format!(" to :{}", expr(p)));
    }
    match body.get("flags") {
        Some(Json::Str(f)) => s.push_str(&format!(" {f}")),
        Some(Json::Arr(a)) => a
            .iter()
            .filter_map(Json::as_str)
            .for_each(|f| s.push_str(&format!(" {f}"))),
        _ => {}
    }
    s
}

fn log(body: &Json) -> String {
    match body.get("prefix").and_then(Json::as_str) {
        Some(p) => format!("log prefix {p:?}"),
        None => "log".to_string(),
    }
}

/// An expression (the left or right side of a match, a key, a value).
pub fn expr(v: &Json) -> String {
    match v {
        Json::Str(s) => s.to_string(),
        Json::Num(n) => n.to_string(),
        Json::Arr(a) => a.iter().map(expr).collect::<Vec<_>>().join(", "),
        Json::Obj(_) => match v.first_entry() {
            Some((k, body)) => object(k, body),
            None => "{}".into(),
        },
        other => other.to_string(),
    }
}

fn object(kind: &str, body: &Json) -> String {
    match kind {
        "payload" => format!(
            "{} {}",
            body["protocol"].as_str().unwrap_or("?"),
            body["field"].as_str().unwrap_or("?")
        ),
        "meta" => meta(body["key"].as_str().unwrap_or("?")),
        "ct" => format!("ct {}", body["key"].as_str().unwrap_or("?")),
        "fib" => format!(
            "fib {} {}",
            expr(&body["flags"]).replace(", ", " . "),
            body["result"].as_str().unwrap_or("?")
        ),
        "concat" => body
            .as_array()
            .map(|a| a.iter().map(expr).collect::<Vec<_>>().join(" . "))
            .unwrap_or_default(),
        "prefix" => format!("{}/{}", expr(&body["addr"]), expr(&body["len"])),
        "range" => format!("{}-{}", expr(&body[0]), expr(&body[1])),
        "set" => set(body),
        "numgen" => format!(
            "numgen {} mod {}",
            body["mode"].as_str().unwrap_or("?"),
            expr(&body["mod"])
        ),
        "&" | "|" | "^" => format!("{} {kind} {}", expr(&body[0]), expr(&body[1])),
        "elem" => expr(&body["val"]),
        "goto" | "jump" => format!("{kind} {}", body["target"].as_str().unwrap_or("?")),
        "accept" | "drop" | "return" => kind.to_string(),
        _ => format!("{kind} {body}"),
    }
}

/// nft prints interface and mark keys without `meta`.
fn meta(key: &str) -> String {
    match key {
        "iifname" | "oifname" | "iif" | "oif" | "mark" => key.to_string(),
        _ => format!("meta {key}"),
    }
}

/// `{ a, b }`, map entries `k : v`.
fn set(body: &Json) -> String {
    let items: Vec<String> = body
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| match e.as_array() {
                    Some(pair) if pair.len() == 2 => {
                        format!("{} : {}", expr(&pair[0]), expr(&pair[1]))
                    }
                    _ => expr(e),
                })
                .collect()
        })
        .unwrap_or_default();
    format!("{{ {} }}", items.join(", "))
}
