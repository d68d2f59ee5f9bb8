//! A real SMTP server for the messaging tests: Python's `aiosmtpd` (from PyPI, installed by
//! `.ci/test-deps` into `crates/testkit/smtp/.venv`) running `crates/testkit/smtp/sink.py`.
//! It writes every accepted message to a folder before it answers, and answers as the test
//! tells it (accept, accept slowly, refuse, defer, never answer). A missing Python or
//! aiosmtpd fails the test with the command that installs it — never a skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running SMTP sink, stopped when dropped.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The SMTP envelope's recipients.
    pub envelope_to: String,
    pub message_id: String,
    pub subject: String,
    /// The whole message as received (headers and both parts, transfer-encoded).
    pub raw: String,
    /// The text and HTML parts, decoded.
    pub body: String,
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("CIRCLE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp/.venv/bin/python")
}

impl SmtpSink {
    pub fn start() -> Self {
        let py = python();
        let ok = Command::new(&py)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the messaging tests need Python with aiosmtpd at {} (run .ci/test-deps, or set \
             CIRCLE_TEST_PYTHON to a python that has it)",
            py.display()
        );
        let dir = tempfile::tempdir().expect("a directory for the SMTP sink");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp/sink.py");
        let child = Command::new(&py)
            .arg(&script)
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let port_file = dir.path().join("port");
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Ok(p) = text.trim().parse()
            {
                break p;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the SMTP sink did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self { port, dir, child }
    }

    /// How the sink answers the next messages: `ok`, `slow:SECONDS`, `refuse`, `defer`,
    /// `hang`.
    pub fn set_mode(&self, mode: &str) {
        let tmp = self.dir.path().join("mode.tmp");
        std::fs::write(&tmp, mode).expect("write the sink's mode");
        std::fs::rename(&tmp, self.dir.path().join("mode")).expect("set the sink's mode");
    }

    /// How many DATA commands the sink has seen (accepted or not).
    pub fn attempts(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("attempts.log"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mail = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&mail)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|p| parse(&std::fs::read_to_string(p).expect("read a received message")))
            .collect()
    }

    /// Waits until at least `n` messages were accepted (or fails after `limit`).
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                started.elapsed() < limit,
                "expected {n} messages, the sink has {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header(raw: &str, name: &str) -> String {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut lines = raw.lines().take_while(|l| !l.is_empty()).peekable();
    while let Some(l) = lines.next() {
        if l.to_ascii_lowercase().starts_with(&prefix) {
            let mut v = l[prefix.len()..].trim().to_owned();
            while let Some(next) = lines.peek() {
                if next.starts_with(' ') || next.starts_with('\t') {
                    v.push(' ');
                    v.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return v;
        }
    }
    String::new()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header.
fn decode_words(v: &str) -> String {
    let mut out = String::new();
    for word in v.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        if let Some(rest) = lower
            .strip_prefix("=?utf-8?b?")
            .and_then(|r| r.strip_suffix("?="))
        {
            let start = word.len() - rest.len() - 2;
            let bytes = base64_decode(&word[start..word.len() - 2]);
            out.push_str(&String::from_utf8_lossy(&bytes));
        } else if lower.starts_with("=?utf-8?q?") && lower.ends_with("?=") {
            let inner = &word[10..word.len() - 2];
            out.push_str(&String::from_utf8_lossy(&qp_decode(
                &inner.replace('_', " "),
            )));
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = T.iter().position(|&t| t == c) else {
            continue;
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

fn qp_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if i + 2 < b.len() + 1 && b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if let Some(h) = s.get(i + 1..i + 3)
                && let Ok(v) = u8::from_str_radix(h, 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The decoded text of every part (quoted-printable or base64, as lettre chose).
fn bodies(raw: &str) -> String {
    let mut out = String::new();
    for part in raw.split("\nContent-Type: ").skip(1) {
        let head_end = part
            .find("\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| part.find("\n\n").map(|i| (i, 2)));
        let Some((i, n)) = head_end else { continue };
        let (head, body) = (&part[..i], &part[i + n..]);
        let body = body.split("\n--").next().unwrap_or(body);
        let head = head.to_ascii_lowercase();
        let decoded = if head.contains("content-transfer-encoding: base64") {
            base64_decode(body)
        } else if head.contains("content-transfer-encoding: quoted-printable") {
            qp_decode(body)
        } else {
            body.as_bytes().to_vec()
        };
        out.push_str(&String::from_utf8_lossy(&decoded));
        out.push('\n');
    }
    out
}

fn parse(raw: &str) -> Received {
    Received {
        envelope_to: header(raw, "X-Envelope-To"),
        message_id: header(raw, "Message-ID"),
        subject: decode_words(&header(raw, "Subject")),
        raw: raw.to_owned(),
        body: bodies(raw),
    }
}
