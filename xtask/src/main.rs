//! `cargo run -p cnictl-xtask -- msrv`: the workspace's declared
//! `rust-version` must be at least every locked dependency's (dev and build
//! dependencies included: CI builds them). No older toolchain can be
//! installed here, so the dependency side is checked from `cargo metadata`
//! and the code side by clippy's `incompatible_msrv` lint, which reads the
//! same `rust-version` (test.sh runs clippy with `-D warnings`).
//!
//! `cargo run -p cnictl-xtask -- sizes [--max-median N] [--max-p90 N] [--max-file N] [--top N] [--crate DIR]`
//!
//! Measures the shipped code the way the house style states its budget:
//! the length in lines of every function and method with a body (from its
//! `fn` line to its closing brace), outside `#[cfg(test)]` modules and
//! `#[test]` functions, in each shipped crate's `src/`; and the length of
//! every source file. Exits 1 when a budget is exceeded, so `test.sh` can
//! hold the line. syn parses the code (no brace counting that strings or
//! macros could fool).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use syn::visit::Visit;

mod msrv;

/// The crates whose `src/` ships in the binary.
const SHIPPED: &[&str] = &[
    "model",
    "formats",
    "collect",
    "dataplane",
    "analyzers",
    "gen",
    "exporter",
    "agent",
    "cli",
    "httpkit",
];

struct Budget {
    median: usize,
    p90: usize,
    file: usize,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        bail!("usage: xtask sizes [--max-median N] [--max-p90 N] [--max-file N] [--top N] [--crate DIR]");
    };
    match cmd.as_str() {
        "sizes" => {}
        "msrv" => return msrv::check(),
        _ => bail!("unknown command {cmd:?}: expected `sizes` or `msrv`"),
    }
    let budget = Budget {
        median: flag(rest, "--max-median")?.unwrap_or(9),
        p90: flag(rest, "--max-p90")?.unwrap_or(30),
        file: flag(rest, "--max-file")?.unwrap_or(900),
    };
    let top = flag(rest, "--top")?.unwrap_or(15);
    let only = rest
        .iter()
        .position(|a| a == "--crate")
        .and_then(|i| rest.get(i + 1))
        .cloned();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    sizes(&root, &budget, top, only.as_deref())
}

fn flag(args: &[String], name: &str) -> Result<Option<usize>> {
    let Some(i) = args.iter().position(|a| a == name) else {
        return Ok(None);
    };
    let value = args
        .get(i + 1)
        .with_context(|| format!("{name} needs a number"))?;
    Ok(Some(
        value.parse().with_context(|| format!("{name} {value:?}"))?,
    ))
}

/// One function: where it is and how many lines it spans.
struct FnSize {
    file: PathBuf,
    line: usize,
    name: String,
    lines: usize,
}

fn sizes(root: &Path, budget: &Budget, top: usize, only: Option<&str>) -> Result<()> {
    let mut fns = Vec::new();
    let mut long_files = Vec::new();
    let files = source_files(root, only)?;
    let test_files = test_modules(&files)?;
    for file in files.into_iter().filter(|f| !test_files.contains(f)) {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let rel = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
        let lines = text.lines().count();
        if lines > budget.file {
            long_files.push((rel.clone(), lines));
        }
        let ast = syn::parse_file(&text).with_context(|| format!("parsing {}", rel.display()))?;
        let mut v = Collector {
            file: rel,
            out: &mut fns,
        };
        v.visit_file(&ast);
    }
    report(fns, long_files, budget, top)
}

/// Files that hold `#[cfg(test)] mod name;` modules (unit tests kept
/// beside the code under another name than `tests.rs`): not shipped.
fn test_modules(files: &[PathBuf]) -> Result<std::collections::HashSet<PathBuf>> {
    let mut out = std::collections::HashSet::new();
    for file in files {
        let text = std::fs::read_to_string(file)?;
        let ast = syn::parse_file(&text).with_context(|| format!("parsing {}", file.display()))?;
        let dir = module_dir(file);
        for m in ast.items.iter().filter_map(test_mod_decl) {
            out.insert(dir.join(format!("{m}.rs")));
            out.insert(dir.join(&m).join("mod.rs"));
        }
    }
    Ok(out)
}

/// `name` of an out-of-line `#[cfg(test)] mod name;`.
fn test_mod_decl(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Mod(m) if m.content.is_none() && is_test(&m.attrs) => Some(m.ident.to_string()),
        _ => None,
    }
}

/// Where a file's child modules live: beside `lib.rs`/`main.rs`/`mod.rs`,
/// else in the directory named after the file.
fn module_dir(file: &Path) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new("."));
    match file.file_stem().and_then(|s| s.to_str()) {
        Some("lib" | "main" | "mod") | None => parent.to_path_buf(),
        Some(stem) => parent.join(stem),
    }
}

fn report(
    mut fns: Vec<FnSize>,
    long_files: Vec<(PathBuf, usize)>,
    budget: &Budget,
    top: usize,
) -> Result<()> {
    if fns.is_empty() {
        bail!("no functions found: run from the repository");
    }
    fns.sort_by_key(|f| std::cmp::Reverse(f.lines));
    let mut lens: Vec<usize> = fns.iter().map(|f| f.lines).collect();
    lens.sort_unstable();
    let median = lens[lens.len() / 2];
    let p90 = lens[lens.len() * 9 / 10];
    println!(
        "{} functions in shipped code: median {median} lines, p90 {p90}, max {}",
        lens.len(),
        lens[lens.len() - 1]
    );
    for f in fns.iter().take(top) {
        println!(
            "  {:4}  {}:{} {}",
            f.lines,
            f.file.display(),
            f.line,
            f.name
        );
    }
    for (file, lines) in &long_files {
        println!(
            "file over {} lines: {} ({lines})",
            budget.file,
            file.display()
        );
    }
    let over = median > budget.median || p90 > budget.p90 || !long_files.is_empty();
    if over {
        bail!(
            "over budget: median ≤ {}, p90 ≤ {}, files ≤ {} lines",
            budget.median,
            budget.p90,
            budget.file
        );
    }
    println!(
        "within budget: median ≤ {}, p90 ≤ {}, files ≤ {} lines",
        budget.median, budget.p90, budget.file
    );
    Ok(())
}

fn source_files(root: &Path, only: Option<&str>) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for krate in SHIPPED.iter().filter(|k| only.is_none_or(|o| o == **k)) {
        let src = root.join(krate).join("src");
        if src.is_dir() {
            walk(&src, &mut out)?;
        }
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            // `tests/` or `tests.rs` under src/ hold unit tests, not shipped code.
            if path.file_name().is_some_and(|n| n != "tests") {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
    Ok(())
}

struct Collector<'a> {
    file: PathBuf,
    out: &'a mut Vec<FnSize>,
}

impl Collector<'_> {
    fn record(&mut self, name: String, start: proc_macro2::Span, end: proc_macro2::Span) {
        let line = start.start().line;
        let lines = end.end().line + 1 - line;
        self.out.push(FnSize {
            file: self.file.clone(),
            line,
            name,
            lines,
        });
    }
}

impl Collector<'_> {
    /// Records a function with a body unless it is test code; says whether
    /// to look inside it (nested functions count on their own).
    fn record_fn(
        &mut self,
        attrs: &[syn::Attribute],
        sig: &syn::Signature,
        block: &syn::Block,
    ) -> bool {
        if is_test(attrs) {
            return false;
        }
        let span = syn::spanned::Spanned::span(sig);
        self.record(sig.ident.to_string(), span, block.brace_token.span.close());
        true
    }
}

/// `#[cfg(test)]`, `#[test]` and `#[cfg(all(test, …))]` mark test code.
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let path = a.path();
        if path.is_ident("test") {
            return true;
        }
        path.is_ident("cfg") && quote_tokens(a).contains("test")
    })
}

fn quote_tokens(attr: &syn::Attribute) -> String {
    match &attr.meta {
        syn::Meta::List(list) => list.tokens.to_string(),
        _ => String::new(),
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if self.record_fn(&f.attrs, &f.sig, &f.block) {
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if self.record_fn(&f.attrs, &f.sig, &f.block) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            let span = syn::spanned::Spanned::span(&f.sig);
            self.record(
                f.sig.ident.to_string(),
                span,
                block.brace_token.span.close(),
            );
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}
