//! One vocabulary for the screen (issue 14): signed in as each demo account on one
//! `serve --demo`, every page reachable by links from the role's first page is fetched and
//! its visible text (tags, attributes, scripts and styles removed) must hold no raw stored
//! code — no `snake_case` token, no wire value of a vocabulary written as is ("iop",
//! "MINDFULNESS", "Ptsd trauma"), no "offer(s)" or "1. 1.", and hours written one way
//! ("18 h 15 min", never "18.2 h"). Runs on SQLite or PostgreSQL (`TEST_DATABASE_URL`).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

mod common;
use common::{serve, shape, unescape};

/// Pages of one shape (ids replaced) per role: enough to meet each page's vocabulary.
const PER_SHAPE: usize = 2;

/// Words people write that look like codes but are not (none yet): kept explicit so a
/// new exception is a visible decision.
const ALLOWED: &[&str] = &[];

/// Same-site links (`<a href>`) of a page, without fragments.
fn links(html: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = html;
    while let Some(i) = rest.find("<a ") {
        rest = &rest[i + 3..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        if let Some(s) = tag.find("href=\"") {
            let v = &tag[s + 6..];
            if let Some(e) = v.find('"') {
                let href = unescape(&v[..e]);
                let href = href.split('#').next().unwrap_or("").to_owned();
                if href.starts_with('/') && !href.starts_with("//") {
                    out.push(href);
                }
            }
        }
    }
    out
}

/// The text a person sees: everything outside tags, without `<script>`, `<style>` and
/// `<textarea>` contents (a textarea holds what someone typed, not the page's words).
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    loop {
        let Some(i) = rest.find('<') else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let lower: String = rest.chars().take(10).collect::<String>().to_lowercase();
        let skip_to = ["script", "style", "textarea"]
            .into_iter()
            .find(|t| lower.starts_with(&format!("<{t}")))
            .map(|t| format!("</{t}>"));
        if let Some(close) = skip_to {
            match rest.find(&close) {
                Some(e) => rest = &rest[e + close.len()..],
                None => break,
            }
            out.push(' ');
            continue;
        }
        match rest.find('>') {
            Some(e) => rest = &rest[e + 1..],
            None => break,
        }
        out.push(' ');
    }
    unescape(&out)
}

/// What in `text` is a raw code rather than a word for people.
fn raw_codes(text: &str) -> Vec<String> {
    let mut found = vec![];
    for word in text.split(|c: char| c.is_whitespace() || ",;:()[]\"“”'‘’/·—–".contains(c))
    {
        let w = word.trim_matches(|c: char| c == '.' || c == '!' || c == '?');
        if w.is_empty() || ALLOWED.contains(&w) {
            continue;
        }
        let snake = w.contains('_')
            && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && w.chars().any(|c| c.is_ascii_alphabetic());
        // Levels of care and modalities as stored ("iop", "php", "cbt"): people write
        // them in capitals as abbreviations, or as words.
        let lower_code = matches!(w, "iop" | "php" | "cbt" | "dbt" | "sud" | "act");
        // A modality shouted from its code ("MINDFULNESS", "TRAUMA_FOCUSED").
        let shouted = w.len() > 4
            && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            && matches!(w, "MINDFULNESS" | "TRAUMA_FOCUSED" | "TRAUMA FOCUSED");
        if snake || lower_code || shouted {
            found.push(w.to_owned());
        }
    }
    for phrase in ["offer(s)", "1. 1.", "Ptsd", "ptsd trauma", "Anxiety panic"] {
        if text.contains(phrase) {
            found.push(phrase.to_owned());
        }
    }
    // Hours one way: "18 h 15 min", never a decimal hour.
    let bytes: Vec<char> = text.chars().collect();
    for i in 0..bytes.len().saturating_sub(4) {
        if bytes[i].is_ascii_digit()
            && bytes[i + 1] == '.'
            && bytes[i + 2].is_ascii_digit()
            && bytes[i + 3] == ' '
            && bytes[i + 4] == 'h'
            && bytes.get(i + 5).is_none_or(|c| !c.is_alphabetic())
        {
            found.push(bytes[i.saturating_sub(3)..i + 5].iter().collect());
        }
    }
    found
}

/// Every raw code one role's pages show, as "page: code"; and how many pages were read.
async fn walk(http: &reqwest::Client, base: &str, token: &str) -> (Vec<String>, usize) {
    let cookie = format!("circle_session={token}");
    let mut seen = BTreeSet::new();
    let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue = VecDeque::from(["/".to_owned()]);
    let mut problems = vec![];
    let mut pages = 0;
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || path.starts_with("/static/") {
            continue;
        }
        let n = shapes.entry(shape(&path)).or_default();
        if *n >= PER_SHAPE {
            continue;
        }
        *n += 1;
        let r = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        if r.status().is_redirection() {
            if let Some(to) = r.headers().get("location").and_then(|l| l.to_str().ok())
                && to.starts_with('/')
            {
                queue.push_back(to.to_owned());
            }
            continue;
        }
        let is_html = r
            .headers()
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("text/html"));
        if !r.status().is_success() || !is_html {
            continue;
        }
        pages += 1;
        let html = r.text().await.unwrap();
        for code in raw_codes(&visible_text(&html)) {
            problems.push(format!("{path}: {code}"));
        }
        queue.extend(links(&html));
    }
    (problems, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_shows_a_raw_code_to_any_demo_role() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = common::fresh_db(&dir, "vocabulary.db").await;
    let key = dir.path().join("demo.key").display().to_string();
    let audit_key = dir.path().join("demo-audit.key").display().to_string();
    let server = serve(&[
        "--demo",
        "--db",
        &url,
        "--key-file",
        &key,
        "--audit-key-file",
        &audit_key,
    ]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut report = BTreeSet::new();
    for (email, secret) in common::DEMO_ROLES {
        let token =
            common::sign_in(&http, &server.base, email, common::DEMO_PASSWORD, secret).await;
        let (problems, pages) = walk(&http, &server.base, &token).await;
        eprintln!("{email}: {pages} pages");
        assert!(pages >= 3, "{email}: only {pages} pages were reached");
        report.extend(problems.into_iter().map(|p| format!("{email} {p}")));
    }
    assert!(
        report.is_empty(),
        "raw codes on screen:\n{}",
        report.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_finds_codes_and_passes_words() {
    let text = visible_text(
        "<p>Level: iop, focus anxiety_panic</p><style>a_b{}</style>\
         <textarea>my_note</textarea><p>MINDFULNESS, 2 offer(s), 18.2 h</p>",
    );
    let found = raw_codes(&text);
    for code in ["iop", "anxiety_panic", "MINDFULNESS", "offer(s)", "18.2 h"] {
        assert!(
            found.iter().any(|f| f.contains(code)),
            "{code} missed: {found:?}"
        );
    }
    assert!(
        !found
            .iter()
            .any(|f| f.contains("a_b") || f.contains("my_note"))
    );
    let words = visible_text(
        "<p>Intensive outpatient (IOP), anxiety and panic, Mindfulness, 18 h 15 min, \
         2 offers, PTSD and trauma</p>",
    );
    assert_eq!(raw_codes(&words), Vec::<String>::new());
}
