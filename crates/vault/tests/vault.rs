//! The vault's promises, tested through its public API: round trips, values bound to
//! their record, tamper evidence, key files, and rotation.

use circle_vault::{Aad, KeyId, Keyring, MasterKey, VaultError};
use proptest::prelude::*;

/// Two fixed keys (bytes 0..32 and 32..64) so the pinned vector below stays valid.
const KEY_A: &str = "circle-master-key v1 4c443ad9 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "circle-master-key v1 9295b7df ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const MARKER: &str = "PLAINTEXT-MARKER-do-not-leak";

fn key_a() -> MasterKey {
    MasterKey::from_file_string(KEY_A).expect("fixed key A parses")
}

fn key_b() -> MasterKey {
    MasterKey::from_file_string(KEY_B).expect("fixed key B parses")
}

fn ring() -> Keyring {
    Keyring::new(key_a(), Vec::new())
}

fn note(id: i64) -> Aad {
    Aad::record("note.body", id)
}

// --- round trips -----------------------------------------------------------------------

#[test]
fn sealed_text_opens_to_the_same_text_including_empty_and_long_unicode() {
    let ring = ring();
    let long: String = "Ünïcödé — 日本語のノート 🧠✨ résumé; "
        .repeat(400)
        .chars()
        .collect();
    assert!(long.len() > 16 * 1024);
    for text in [
        "",
        "a",
        MARKER,
        "line one\nline two\r\n\ttab",
        long.as_str(),
    ] {
        let sealed = ring.seal(text, &note(1));
        assert_eq!(ring.open(&sealed, &note(1)).expect("opens").as_str(), text);
    }
}

#[test]
fn sealing_the_same_text_twice_gives_different_values() {
    let ring = ring();
    let first = ring.seal(MARKER, &note(1));
    let second = ring.seal(MARKER, &note(1));
    assert_ne!(first, second);
    let segments = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
    let (a, b) = (segments(&first), segments(&second));
    // A fresh data key, wrap nonce and content nonce every time.
    assert_ne!(a[2], b[2]);
    assert_ne!(a[3], b[3]);
    assert_ne!(a[4], b[4]);
}

#[test]
fn the_sealed_value_is_one_ascii_string_of_five_segments_without_the_plaintext() {
    let sealed = ring().seal(MARKER, &note(1));
    assert!(sealed.is_ascii());
    assert!(!sealed.contains(MARKER));
    let segments: Vec<&str> = sealed.split('.').collect();
    assert_eq!(segments.len(), 5);
    assert_eq!(segments[0], "v1");
    assert_eq!(segments[1], "4c443ad9");
    assert_eq!(segments[2].len(), 96, "72 bytes of wrapped key in base64");
    assert_eq!(segments[3].len(), 32, "24 bytes of nonce in base64");
}

#[test]
fn a_value_sealed_by_an_earlier_build_still_opens() {
    // Sealed once with KEY_A for Aad::new("separation.reason", [("client_low", 3),
    // ("client_high", 9)]), and checked then against an independent implementation of the
    // format described in `keyring.rs` (Python: HChaCha20 + RFC 8439 ChaCha20-Poly1305).
    // If this fails, the format changed and existing data would be unreadable.
    let pinned = "v1.4c443ad9.\
        LBRQqFd02LPHgzo9lpHG_AohHBlljGIPV9cZvX-HvEBMZ_xOkWq8CqCQW1dRlB5OAGlE0EcZBvQBc4jTUia1CEz_3GZut5Zp.\
        zIsjCq6JqtwGJvjjUB4cQsAx6U7R4f-u.\
        ndnQsfoUaNBprxoIzH9SUuOIpb8-lLMyIMoZr_Qgt4ToNu4K5H3jY92iq5o-2rLC0ZkqlwvueAnSaMN-rvDC4Byu7pws";
    let aad = Aad::new(
        "separation.reason",
        &[("client_low", 3), ("client_high", 9)],
    );
    assert_eq!(
        ring()
            .open(pinned, &aad)
            .expect("pinned vector opens")
            .as_str(),
        "Moved out of state; referred to a local provider. ✓"
    );
}

// --- bound to the record ---------------------------------------------------------------

#[test]
fn a_value_moved_to_another_row_or_kind_does_not_open() {
    let ring = ring();
    let aad = Aad::new(
        "separation.reason",
        &[("client_low", 3), ("client_high", 9)],
    );
    let sealed = ring.seal(MARKER, &aad);
    let elsewhere = [
        Aad::new(
            "separation.reason",
            &[("client_low", 3), ("client_high", 10)],
        ),
        Aad::new(
            "separation.reason",
            &[("client_low", 9), ("client_high", 3)],
        ),
        Aad::new(
            "separation.reason",
            &[("client_high", 9), ("client_low", 3)],
        ),
        Aad::new("separation.reason", &[("client_low", 3)]),
        Aad::new(
            "separation.reason",
            &[("client_low", 3), ("client_high", 9), ("x", 0)],
        ),
        Aad::new("separation.note", &[("client_low", 3), ("client_high", 9)]),
        Aad::new("note.body", &[("client_low", 3), ("client_high", 9)]),
    ];
    for other in &elsewhere {
        assert!(
            matches!(
                ring.open(&sealed, other),
                Err(VaultError::AuthenticationFailed)
            ),
            "{other:?} must not open a value sealed for {aad:?}"
        );
    }
    assert!(matches!(
        ring.open(&ring.seal(MARKER, &note(42)), &note(43)),
        Err(VaultError::AuthenticationFailed)
    ));
}

#[test]
fn a_data_key_moved_from_another_record_does_not_open_the_content() {
    let ring = ring();
    let one = ring.seal(MARKER, &note(1));
    let two = ring.seal(MARKER, &note(1));
    let mut spliced: Vec<&str> = one.split('.').collect();
    let two_segments: Vec<&str> = two.split('.').collect();
    spliced[2] = two_segments[2];
    assert!(matches!(
        ring.open(&spliced.join("."), &note(1)),
        Err(VaultError::AuthenticationFailed)
    ));
}

// --- tamper evidence -------------------------------------------------------------------

/// Every way of changing one character: flip the low bit, flip the case bit, or replace
/// it with a letter, a digit, a base64 symbol or the separator.
fn single_character_changes(sealed: &str) -> Vec<String> {
    let bytes = sealed.as_bytes();
    let mut out = Vec::new();
    for i in 0..bytes.len() {
        let original = bytes[i];
        for replacement in [original ^ 1, original ^ 0x20, b'A', b'0', b'-', b'_', b'.'] {
            if replacement == original || !replacement.is_ascii() {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[i] = replacement;
            out.push(String::from_utf8(changed).expect("ASCII stays UTF-8"));
        }
    }
    out
}

#[test]
fn any_single_character_change_in_any_segment_fails_to_open() {
    let ring = ring();
    let sealed = ring.seal("short note", &note(5));
    let changes = single_character_changes(&sealed);
    assert!(changes.len() > 5 * sealed.len());
    for changed in changes {
        assert!(
            ring.open(&changed, &note(5)).is_err(),
            "a changed value opened: {changed}"
        );
    }
}

#[test]
fn truncated_extended_or_reshaped_values_do_not_open() {
    let ring = ring();
    let sealed = ring.seal(MARKER, &note(1));
    let segments: Vec<&str> = sealed.split('.').collect();
    let bad = [
        String::new(),
        "v1".to_owned(),
        format!("{sealed}."),
        format!(".{sealed}"),
        segments[..4].join("."),
        format!("v2.{}", segments[1..].join(".")),
        format!("V1.{}", segments[1..].join(".")),
        format!("v1.4C443AD9.{}", segments[2..].join(".")),
        format!(
            "{}.{}.{}.{}=",
            segments[0], segments[1], segments[2], segments[3]
        ) + segments[4],
        format!(
            "{}.{}.{}.{}.",
            segments[0], segments[1], segments[2], segments[3]
        ),
    ];
    for value in &bad {
        assert!(
            matches!(ring.open(value, &note(1)), Err(VaultError::Malformed(_))),
            "expected Malformed for {value:?}"
        );
    }
    // Shorter or longer ciphertext can be well-formed base64; it still fails.
    for value in [
        sealed[..sealed.len() - 1].to_owned(),
        sealed[..sealed.len() - 4].to_owned(),
        format!("{sealed}AAAA"),
    ] {
        assert!(ring.open(&value, &note(1)).is_err(), "{value:?} opened");
    }
}

#[test]
fn a_value_under_an_unknown_key_names_that_key_id() {
    let sealed = Keyring::new(key_b(), Vec::new()).seal(MARKER, &note(1));
    let err = ring()
        .open(&sealed, &note(1))
        .expect_err("key B is not in the ring");
    assert!(matches!(err, VaultError::UnknownKeyId(id) if id.to_string() == "9295b7df"));
    assert!(err.to_string().contains("9295b7df"));
}

#[test]
fn a_value_relabelled_with_another_keys_id_fails_authentication() {
    let sealed = Keyring::new(key_b(), Vec::new()).seal(MARKER, &note(1));
    let relabelled = sealed.replacen("9295b7df", "4c443ad9", 1);
    assert!(matches!(
        ring().open(&relabelled, &note(1)),
        Err(VaultError::AuthenticationFailed)
    ));
}

#[test]
fn error_messages_never_carry_plaintext_or_key_material() {
    let ring = ring();
    let sealed = ring.seal(MARKER, &note(1));
    let mut errors: Vec<VaultError> = single_character_changes(&sealed)
        .iter()
        .filter_map(|changed| ring.open(changed, &note(1)).err())
        .collect();
    errors.extend(ring.open(&sealed, &note(2)).err());
    let key_b64 = KEY_A.rsplit(' ').next().expect("key token");
    for err in &errors {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(MARKER), "{text}");
            assert!(!text.contains(key_b64), "{text}");
            assert!(!text.contains(&sealed), "{text}");
        }
    }
}

// --- rotation --------------------------------------------------------------------------

#[test]
fn rotation_opens_old_values_and_rewrap_moves_them_to_the_new_key() {
    let aad = note(77);
    let sealed_by_a = Keyring::new(key_a(), Vec::new()).seal(MARKER, &aad);

    let rotated = Keyring::new(key_b(), vec![key_a()]);
    assert_eq!(
        rotated
            .open(&sealed_by_a, &aad)
            .expect("retired key opens")
            .as_str(),
        MARKER
    );
    assert!(rotated.needs_rewrap(&sealed_by_a));

    let rewrapped = rotated.rewrap(&sealed_by_a, &aad).expect("rewraps");
    assert!(!rotated.needs_rewrap(&rewrapped));
    assert_eq!(
        Keyring::key_id_of(&rewrapped).expect("well formed"),
        rotated.current_key_id()
    );
    // The content segments are untouched; only the key id and wrapped key change.
    let old: Vec<&str> = sealed_by_a.split('.').collect();
    let new: Vec<&str> = rewrapped.split('.').collect();
    assert_eq!(old[0], new[0]);
    assert_eq!(old[3..], new[3..]);
    assert_ne!(old[1], new[1]);
    assert_ne!(old[2], new[2]);

    let b_alone = Keyring::new(key_b(), Vec::new());
    assert_eq!(
        b_alone
            .open(&rewrapped, &aad)
            .expect("opens with B alone")
            .as_str(),
        MARKER
    );
    assert!(matches!(
        b_alone.open(&sealed_by_a, &aad),
        Err(VaultError::UnknownKeyId(_))
    ));
}

#[test]
fn rewrap_of_a_current_value_returns_it_unchanged() {
    let ring = ring();
    let sealed = ring.seal(MARKER, &note(1));
    assert!(!ring.needs_rewrap(&sealed));
    assert_eq!(ring.rewrap(&sealed, &note(1)).expect("rewraps"), sealed);
}

#[test]
fn rewrap_refuses_the_wrong_record_or_a_damaged_value() {
    let sealed_by_a = Keyring::new(key_a(), Vec::new()).seal(MARKER, &note(1));
    let rotated = Keyring::new(key_b(), vec![key_a()]);
    assert!(matches!(
        rotated.rewrap(&sealed_by_a, &note(2)),
        Err(VaultError::AuthenticationFailed)
    ));
    // Damage in the content is caught before the value is carried forward.
    let mut segments: Vec<String> = sealed_by_a.split('.').map(str::to_owned).collect();
    let last = segments[4].pop().expect("non-empty");
    segments[4].push(if last == 'A' { 'B' } else { 'A' });
    let damaged = segments.join(".");
    assert!(rotated.rewrap(&damaged, &note(1)).is_err());
    assert!(rotated.rewrap("not a sealed value", &note(1)).is_err());
}

#[test]
fn a_malformed_value_is_sent_to_rewrap_so_that_it_gets_reported() {
    assert!(ring().needs_rewrap("garbage"));
    assert!(Keyring::key_id_of("garbage").is_err());
}

// --- keys ------------------------------------------------------------------------------

#[test]
fn a_key_file_round_trips_and_opens_what_the_original_sealed() {
    let key = MasterKey::generate();
    let id = key.id();
    let text = key.to_file_string();
    assert!(text.starts_with("# "));
    assert_eq!(text.lines().count(), 2);
    let sealed = Keyring::new(key, Vec::new()).seal(MARKER, &note(1));

    let reloaded = MasterKey::from_file_string(&text).expect("round trips");
    assert_eq!(reloaded.id(), id);
    let ring = Keyring::new(reloaded, Vec::new());
    assert_eq!(
        ring.open(&sealed, &note(1)).expect("opens").as_str(),
        MARKER
    );
}

#[test]
fn key_text_tolerates_comments_blank_lines_crlf_and_surrounding_space() {
    for text in [
        format!("{KEY_A}\n"),
        format!("# comment\n\n  {KEY_A}  \r\n# trailing comment\r\n"),
        format!("\t{KEY_A}"),
    ] {
        assert_eq!(
            MasterKey::from_file_string(&text).expect("parses").id(),
            key_a().id()
        );
    }
    assert_eq!(
        MasterKey::from_env_value(KEY_A)
            .expect("env value parses")
            .id()
            .to_string(),
        "4c443ad9"
    );
}

#[test]
fn malformed_key_text_is_refused_with_a_reason_and_without_echoing_the_key() {
    let short = "circle-master-key v1 4c443ad9 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==";
    let long = "circle-master-key v1 4c443ad9 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g";
    let cases: [(&str, &str); 14] = [
        ("", "no key line"),
        ("# only a comment\n\n", "no key line"),
        (&KEY_A[..29], "expected `circle-master-key v1"),
        (&format!("{KEY_A} extra"), "expected `circle-master-key v1"),
        (
            &KEY_A.replace("circle-master-key", "other-key"),
            "not a Circle master key",
        ),
        (
            &KEY_A.replace(" v1 ", " v2 "),
            "unsupported key format version",
        ),
        (&KEY_A.replace("4c443ad9", "4C443AD9"), "8 lowercase hex"),
        (&KEY_A.replace("4c443ad9", "4c443ad"), "8 lowercase hex"),
        (&KEY_A.replace("4c443ad9", "00000000"), "does not match"),
        (&KEY_A.replace("AAEC", "AA*C"), "not valid base64"),
        (short, "must be 32 bytes"),
        (long, "must be 32 bytes"),
        (
            "circle-master-key v1 00000000 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "all zeros",
        ),
        (&format!("{KEY_A}\n{KEY_B}"), "more than one key line"),
    ];
    let key_b64 = KEY_A.rsplit(' ').next().expect("key token");
    for (text, reason) in cases {
        let err = MasterKey::from_file_string(text).expect_err(text);
        let message = err.to_string();
        assert!(
            matches!(err, VaultError::InvalidKey(_)),
            "{text:?}: {err:?}"
        );
        assert!(message.contains(reason), "{text:?}: {message}");
        assert!(!message.contains(&key_b64[..12]), "{message}");
    }
}

#[test]
fn debug_output_shows_key_ids_and_never_key_bytes() {
    let key = key_a();
    let shown = format!("{key:?} {:?}", Keyring::new(key_b(), vec![key_a()]));
    assert!(
        shown.contains("4c443ad9") && shown.contains("9295b7df"),
        "{shown}"
    );
    for secret in [
        "AAECAwQF",
        "ICEiIyQl",
        "000102030405",
        "[0, 1, 2, 3",
        "202122232425",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert_eq!(format!("{key:?}"), "MasterKey { id: KeyId(4c443ad9), .. }");
}

#[test]
fn generated_keys_differ_and_carry_their_derived_id() {
    let (one, two) = (MasterKey::generate(), MasterKey::generate());
    assert_ne!(one.id(), two.id());
    let reparsed = MasterKey::from_file_string(&one.to_file_string()).expect("parses");
    assert_eq!(reparsed.id(), one.id());
}

#[test]
fn key_ids_have_one_spelling() {
    assert_eq!(
        "4c443ad9".parse::<KeyId>().expect("parses").to_string(),
        "4c443ad9"
    );
    for bad in ["4C443AD9", "4c443ad", "4c443ad90", "4c443adg", ""] {
        assert!(bad.parse::<KeyId>().is_err(), "{bad}");
    }
}

#[cfg(unix)]
mod key_files {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write_key(mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("master.key");
        fs::write(&path, key_a().to_file_string().as_bytes()).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        (dir, path)
    }

    #[test]
    fn a_key_file_readable_only_by_its_owner_loads() {
        for mode in [0o600, 0o400] {
            let (_dir, path) = write_key(mode);
            assert_eq!(MasterKey::load(&path).expect("loads").id(), key_a().id());
        }
    }

    #[test]
    fn a_key_file_open_to_group_or_others_is_refused_with_the_fix() {
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            let (_dir, path) = write_key(mode);
            let err = MasterKey::load(&path).expect_err("refused");
            assert!(
                matches!(err, VaultError::InsecureKeyFile { mode: m, .. } if m == mode),
                "{err:?}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn a_missing_key_file_names_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("absent.key");
        let err = MasterKey::load(&path).expect_err("missing");
        assert!(matches!(err, VaultError::KeyFileIo { .. }));
        assert!(err.to_string().contains("absent.key"));
    }

    #[test]
    fn an_oversized_key_file_is_refused() {
        let (_dir, path) = write_key(0o600);
        let padding = "#".repeat(5000);
        fs::write(&path, format!("{padding}\n{KEY_A}\n")).expect("write");
        assert!(matches!(
            MasterKey::load(&path),
            Err(VaultError::InvalidKey(_))
        ));
    }
}

// --- properties ------------------------------------------------------------------------

fn arb_aad() -> impl Strategy<Value = Aad> {
    (
        "[a-z_.]{1,20}",
        proptest::collection::vec(("[a-z_]{1,12}", any::<i64>()), 0..4),
    )
        .prop_map(|(kind, ids)| {
            let ids: Vec<(&str, i64)> = ids.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            Aad::new(&kind, &ids)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_text_round_trips_for_any_record(text in any::<String>(), aad in arb_aad()) {
        let ring = ring();
        let sealed = ring.seal(&text, &aad);
        prop_assert!(sealed.is_ascii());
        let opened = ring.open(&sealed, &aad).expect("opens");
        prop_assert_eq!(opened.as_str(), text.as_str());
    }

    #[test]
    fn a_different_record_never_opens(text in any::<String>(), aad in arb_aad(), other in arb_aad()) {
        prop_assume!(aad != other);
        let ring = ring();
        let sealed = ring.seal(&text, &aad);
        prop_assert!(matches!(ring.open(&sealed, &other), Err(VaultError::AuthenticationFailed)));
    }

    #[test]
    fn any_single_byte_change_fails(
        text in ".{0,64}",
        position in any::<prop::sample::Index>(),
        replacement in 0x21u8..0x7f,
    ) {
        let ring = ring();
        let sealed = ring.seal(&text, &note(9));
        let mut bytes = sealed.into_bytes();
        let i = position.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let changed = String::from_utf8(bytes).expect("ASCII");
        prop_assert!(ring.open(&changed, &note(9)).is_err());
    }
}

#[test]
fn subkeys_are_stable_per_label_and_independent_across_labels() {
    let key = circle_vault::MasterKey::generate();
    let again = circle_vault::MasterKey::from_file_string(&key.to_file_string()).unwrap();
    assert_eq!(*key.derive_subkey("audit"), *again.derive_subkey("audit"));
    assert_ne!(*key.derive_subkey("audit"), *key.derive_subkey("other"));
    assert_ne!(
        *key.derive_subkey("audit"),
        *circle_vault::MasterKey::generate().derive_subkey("audit")
    );
}
