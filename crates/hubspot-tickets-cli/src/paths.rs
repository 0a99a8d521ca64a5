//! The files a run is given, checked against each other before any of them is opened
//! for writing: two names for one file (the same path spelt twice, a symlink, a hard
//! link, the file redirected to standard input) would have one write destroy the other.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::input::Source;

/// What a path names: an existing file (device and inode), or where a missing one
/// would be created.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    File(u64, u64),
    Missing(PathBuf),
}

/// Links followed for a path whose target does not exist yet.
const MAX_LINKS: usize = 16;

fn identity(path: &Path) -> Identity {
    if let Ok(m) = std::fs::metadata(path) {
        return Identity::File(m.dev(), m.ino());
    }
    // Missing: a dangling symlink creates its target, so follow it.
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::read_link(&path) {
            Ok(target) => {
                path = match path.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            Err(_) => break,
        }
    }
    Identity::Missing(absolute(&path))
}

/// `path` made absolute, with its directory resolved when it exists (`./r.jsonl`,
/// `dir/../r.jsonl` and a symlinked directory all name one place).
fn absolute(path: &Path) -> PathBuf {
    let name = path.file_name().map(ToOwned::to_owned);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| lexical(&dir));
    match name {
        Some(n) => dir.join(n),
        None => lexical(path),
    }
}

fn lexical(path: &Path) -> PathBuf {
    let base = std::env::current_dir().unwrap_or_default();
    let mut out = PathBuf::new();
    for c in base.join(path).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Refuses an input that is one of this tool's reports (its first line is a report
/// header): the arguments were swapped, and the run would fail every line while its
/// report and failed file replaced whatever they were given.
pub fn check_not_a_report(source: &Source) -> Result<(), String> {
    use std::io::Read;
    let Source::File(path) = source else {
        return Ok(());
    };
    let mut head = [0_u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if head.starts_with(b"{\"journal\":\"hubspot-tickets\"") {
        return Err(format!(
            "{} is a report (a --report or --resume file), not an input: were the arguments swapped? Nothing was changed",
            path.display()
        ));
    }
    Ok(())
}

/// Refuses any two of the input, the `outputs` (flag, path) and standard output (where
/// the summary goes) that are one file. Nothing is created, opened for writing or
/// changed.
pub fn check_distinct(source: &Source, outputs: &[(&str, &Path)]) -> Result<(), String> {
    let input = match source {
        Source::File(p) => Some(identity(p)),
        // What file descriptor 0 is, when it is a file (`- < in.csv`).
        Source::Stdin => std::fs::metadata("/dev/stdin")
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| Identity::File(m.dev(), m.ino())),
    };
    let ids: Vec<Identity> = outputs.iter().map(|(_, p)| identity(p)).collect();
    // Standard output, when it is a file or a pipe (a terminal only shows both).
    let stdout = std::fs::metadata("/dev/stdout")
        .ok()
        .filter(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.is_file() || m.file_type().is_fifo()
        })
        .map(|m| Identity::File(m.dev(), m.ino()));
    for (k, ((flag, path), id)) in outputs.iter().zip(&ids).enumerate() {
        if stdout.as_ref() == Some(id) {
            return Err(format!(
                "{flag} {} is standard output, where the summary goes: the two would be mixed; choose a file",
                path.display()
            ));
        }
        if input.as_ref() == Some(id) {
            let what = match source {
                Source::File(_) => "the input file",
                Source::Stdin => "the file on standard input",
            };
            return Err(format!(
                "{flag} {} is {what} (the same file, perhaps through a link): writing it would destroy the input; nothing was changed, choose another path",
                path.display()
            ));
        }
        for ((other_flag, other), other_id) in outputs.iter().zip(&ids).take(k) {
            if other_id == id {
                return Err(format!(
                    "{other_flag} {} and {flag} {} are the same file (perhaps through a link): each would garble the other; nothing was changed, choose two paths",
                    other.display(),
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn one_file_under_two_names_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let input = d.join("in.csv");
        std::fs::write(&input, "a\n").unwrap();
        std::fs::hard_link(&input, d.join("hard.csv")).unwrap();
        std::os::unix::fs::symlink(&input, d.join("soft.csv")).unwrap();
        std::os::unix::fs::symlink(d.join("new.jsonl"), d.join("dangling.jsonl")).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        let src = Source::File(input.clone());
        let ok = |outs: &[(&str, &Path)]| check_distinct(&src, outs);
        for alias in ["in.csv", "hard.csv", "soft.csv", "sub/../in.csv"] {
            let e = ok(&[("--failed", &d.join(alias))]).unwrap_err();
            assert!(e.contains("is the input file"), "{alias}: {e}");
        }
        let r = d.join("r.jsonl");
        let e = ok(&[("--report", &r), ("--failed", &d.join("sub/../r.jsonl"))]).unwrap_err();
        assert!(e.contains("are the same file"), "{e}");
        let e = ok(&[
            ("--report", &d.join("new.jsonl")),
            ("--failed", &d.join("dangling.jsonl")),
        ])
        .unwrap_err();
        assert!(e.contains("are the same file"), "{e}");
        ok(&[("--report", &r), ("--failed", &d.join("f.csv"))]).unwrap();
        // Nothing was created.
        assert!(!r.exists());
    }
}
