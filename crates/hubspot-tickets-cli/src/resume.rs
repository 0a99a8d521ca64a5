//! `--resume REPORT`: reads an earlier run's report into the facade's [`Resume`] and
//! readies the report for the lines this run appends.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::Path;

use hubspot_tickets::{Fingerprint, Resume};
use serde::Deserialize;

/// The fields of a report line that resuming reads.
#[derive(Deserialize)]
struct Line {
    line: u64,
    id: Option<String>,
    outcome: String,
    fingerprint: Option<Fingerprint>,
}

/// An earlier run's report, read.
#[derive(Debug)]
pub struct Loaded {
    /// The records it shows written.
    pub resume: Resume,
    /// Lines read.
    pub lines: u64,
    /// Whether its last line was cut (the run was killed while writing it); that line
    /// was ignored and removed.
    pub cut_last_line: bool,
}

/// Reads `path` (a `--report` file), whose records name `id_property`. A cut last line
/// (no newline at its end) is ignored and cut off the file, so that appended lines
/// start whole; any other line that is not a report line is an error naming it.
pub fn load(path: &Path, id_property: &str) -> Result<Loaded, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("--resume {shown}: {e}"))?;
    let mut reader = BufReader::new(file);
    let mut resume = Resume::new(id_property);
    let mut buf = Vec::new();
    let (mut lines, mut whole_len) = (0_u64, 0_u64);
    let mut cut_last_line = false;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("--resume {shown}: {e}"))?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            cut_last_line = true;
            break;
        }
        lines += 1;
        whole_len += n as u64;
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let l: Line = serde_json::from_slice(text)
            .map_err(|e| format!("--resume {shown}:{lines}: not a report line ({e})"))?;
        if matches!(l.outcome.as_str(), "created" | "updated")
            && let (Some(id), Some(fp)) = (l.id, l.fingerprint)
        {
            resume.written(None, &id, fp, l.line);
        }
    }
    if cut_last_line {
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(whole_len))
            .map_err(|e| format!("--resume {shown}: cannot cut its last line: {e}"))?;
    }
    Ok(Loaded {
        resume,
        lines,
        cut_last_line,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use hubspot_tickets::{Decision, TicketInput};

    #[test]
    fn written_lines_are_kept_and_a_cut_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let a = TicketInput::new("A").property("subject", "a");
        let fp = Fingerprint::of(&a, "external_ticket_id");
        let text = format!(
            "{{\"line\":2,\"id\":\"A\",\"outcome\":\"created\",\"object_id\":\"1\",\"fingerprint\":\"{fp}\"}}\n\
             {{\"line\":3,\"id\":\"B\",\"outcome\":\"failed\",\"error_kind\":\"validation\"}}\n\
             {{\"line\":4,\"id\":\"C\",\"outc"
        );
        std::fs::write(&p, &text).unwrap();
        let l = load(&p, "external_ticket_id").unwrap();
        assert!(l.cut_last_line);
        assert_eq!((l.lines, l.resume.len()), (2, 1));
        assert_eq!(l.resume.decide(&a, 2), Decision::AlreadyWritten);
        let kept = std::fs::read_to_string(&p).unwrap();
        assert!(kept.ends_with("\"validation\"}\n"), "{kept}");

        std::fs::write(
            &p,
            "{\"line\":2,\"id\":\"A\",\"outcome\":\"created\"}\nnot json\n",
        )
        .unwrap();
        let e = load(&p, "external_ticket_id").unwrap_err();
        assert!(e.contains("r.jsonl:2"), "{e}");
    }
}
