//! Reading one input file the user named, bounded: what is not a regular
//! file is refused before it is opened (a FIFO would block for ever, a
//! character device such as `/dev/zero` never ends), and the read stops
//! past the limit even if the file grows after its size was checked.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be read. Messages say what to give instead; the
/// caller adds the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not a regular file")]
    NotAFile,
    #[error("file is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: u64, limit: u64 },
    #[error("grew past the {limit}-byte limit while it was read")]
    Grew { limit: u64 },
    #[error("not valid UTF-8 text")]
    NotUtf8,
    #[error("{0}")]
    Io(String),
}

impl ReadError {
    fn io(e: io::Error) -> Self {
        ReadError::Io(e.to_string())
    }
}

/// The bytes of the regular file `path`, at most `limit` of them.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = fs::metadata(path).map_err(ReadError::io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut buf = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
        .map_err(ReadError::io)?;
    if buf.len() as u64 > limit {
        return Err(ReadError::Grew { limit });
    }
    Ok(buf)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| ReadError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_refused_without_reading() {
        assert_eq!(
            read_text(Path::new("/dev/zero"), 10),
            Err(ReadError::NotAFile)
        );
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("f");
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            assert_eq!(read_text(&fifo, 10), Err(ReadError::NotAFile));
        }
    }

    #[test]
    fn over_the_limit_and_non_utf8_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        fs::write(&f, "0123456789abc").unwrap();
        assert_eq!(
            read_text(&f, 10),
            Err(ReadError::TooLarge {
                size: 13,
                limit: 10
            })
        );
        assert_eq!(read_text(&f, 13).unwrap(), "0123456789abc");
        fs::write(&f, [0xff, 0xfe]).unwrap();
        assert_eq!(read_text(&f, 10), Err(ReadError::NotUtf8));
    }
}
