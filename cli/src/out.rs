//! Writing results: standard output that tolerates a closed pipe, atomic
//! files, and colour decisions.

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::args::{Color, Output, Render};

/// True when the error chain holds a closed pipe (`cnictl … | head`), which
/// is success, not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

pub fn print(text: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(())
}

pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("encoding JSON")?;
    text.push('\n');
    print(&text)
}

/// Prints the document as `-o json` or `-o yaml` asks (YAML holds the
/// same fields as the JSON; text formats are the caller's).
pub fn print_doc<T: serde::Serialize>(value: &T, output: Output) -> Result<()> {
    match output {
        Output::Yaml => print(&serde_yaml_ng::to_string(value).context("encoding YAML")?),
        _ => print_json(value),
    }
}

/// `doc` (a JSON object) with `"notices"` added when the importer said
/// something about the input: a key beside the documented ones, so
/// readers of the contract are not affected.
pub fn with_notices<T: serde::Serialize>(
    doc: &T,
    notices: &[cnictl_model::Notice],
) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(doc).context("encoding JSON")?;
    if let (Some(obj), false) = (v.as_object_mut(), notices.is_empty()) {
        obj.insert("notices".into(), serde_json::to_value(notices)?);
    }
    Ok(v)
}

/// One `note:` line per notice, for the end of a text answer.
pub fn notices_text(notices: &[cnictl_model::Notice]) -> String {
    let lines: String = notices.iter().map(|n| format!("note: {n}\n")).collect();
    match lines.is_empty() {
        true => lines,
        false => format!("\n{lines}"),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    // A device or pipe (`-o /dev/stdout`, `-o /dev/null`) is written in
    // place: renaming over it would replace the device node.
    if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return fs::write(path, bytes).with_context(|| format!("writing {}", path.display()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Whether text output gets ANSI colours.
pub fn use_color(render: &Render) -> bool {
    match render.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal(),
    }
}

/// Wraps `text` in an ANSI colour when `on`.
pub fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}
