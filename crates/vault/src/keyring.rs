//! Sealing and opening: envelope encryption with XChaCha20-Poly1305.
//!
//! Each [`Keyring::seal`] draws a fresh random 256-bit data key (DEK), encrypts the text
//! with it, and wraps (encrypts) the DEK with the current master key. Both encryptions
//! authenticate the record's [`Aad`], so a value only opens for the record it was sealed
//! for. Rotation re-wraps the 72-byte DEK under the new master key and leaves the content
//! untouched ([`Keyring::rewrap`]).
//!
//! The sealed value is one ASCII string, five segments joined by `.`:
//!
//! ```text
//! v1.<key id>.<wrapped DEK>.<nonce>.<ciphertext>
//! ```
//!
//! - `key id`: 8 lowercase hex digits naming the master key that wrapped the DEK;
//! - `wrapped DEK`: 24-byte wrap nonce ‖ 32-byte encrypted DEK ‖ 16-byte tag (72 bytes);
//! - `nonce`: the 24-byte content nonce;
//! - `ciphertext`: the encrypted UTF-8 text ‖ 16-byte tag;
//!
//! all binary segments in unpadded URL-safe base64 (RFC 4648 §5), decoded strictly so
//! each value has exactly one spelling. Associated data, with a distinct label per use:
//!
//! - wrap: `"circle-vault v1 wrap\0"` ‖ key id (4 bytes) ‖ [`Aad`] encoding;
//! - content: `"circle-vault v1 content\0"` ‖ [`Aad`] encoding.
//!
//! Why XChaCha20-Poly1305 rather than AES-256-GCM: every nonce here is random, and the
//! master key wraps one DEK per record for the life of the clinic, re-wrapping them all at
//! each rotation. GCM's 96-bit random nonces limit a key to about 2^32 messages before a
//! collision becomes a real risk (NIST SP 800-38D §8.3); XChaCha's 192-bit nonces make
//! that a non-question, and it is constant-time in software on any CPU.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rand::rngs::OsRng;
use zeroize::{Zeroize, Zeroizing};

use crate::key::{KeyId, MASTER_KEY_LEN, MasterKey};
use crate::{Aad, VaultError};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const DEK_LEN: usize = 32;
const WRAPPED_LEN: usize = NONCE_LEN + DEK_LEN + TAG_LEN;
const WRAP_LABEL: &[u8] = b"circle-vault v1 wrap\0";
const CONTENT_LABEL: &[u8] = b"circle-vault v1 content\0";

type Dek = Zeroizing<[u8; DEK_LEN]>;

/// The master keys in use: the current one seals and re-wraps; retired ones only open
/// values sealed before a rotation, until [`Keyring::rewrap`] has moved them all.
#[derive(Debug)]
pub struct Keyring {
    current: MasterKey,
    retired: Vec<MasterKey>,
}

/// A sealed value split into its segments, every one checked for form.
struct Parsed<'a> {
    key_id: KeyId,
    wrapped: [u8; WRAPPED_LEN],
    nonce_b64: &'a str,
    nonce: [u8; NONCE_LEN],
    ciphertext_b64: &'a str,
    ciphertext: Vec<u8>,
}

impl Keyring {
    /// A keyring that seals with `current` and also opens values wrapped by `retired`.
    pub fn new(current: MasterKey, retired: Vec<MasterKey>) -> Keyring {
        Keyring { current, retired }
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> KeyId {
        self.current.id()
    }

    /// The ids of the retired keys, in the order given.
    pub fn retired_key_ids(&self) -> Vec<KeyId> {
        self.retired.iter().map(MasterKey::id).collect()
    }

    /// Encrypts `plaintext` for the record `aad` under a fresh data key wrapped by the
    /// current master key. Sealing the same text twice gives different values.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes, or the text exceeds
    /// XChaCha20-Poly1305's limit of 256 GiB.
    pub fn seal(&self, plaintext: &str, aad: &Aad) -> String {
        let mut dek: Dek = Zeroizing::new([0u8; DEK_LEN]);
        OsRng.fill_bytes(&mut dek[..]);
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = XChaCha20Poly1305::new(Key::from_slice(&dek[..]))
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &content_aad(aad),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any text under 256 GiB");
        let wrapped = wrap(&self.current, &dek, aad);
        format!(
            "{VERSION}.{}.{}.{}.{}",
            self.current.id(),
            URL_SAFE_NO_PAD.encode(wrapped),
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ciphertext)
        )
    }

    /// Decrypts a value sealed for the record `aad` by this keyring's current or a
    /// retired key. The text is zeroized when the result is dropped.
    pub fn open(&self, sealed: &str, aad: &Aad) -> Result<Zeroizing<String>, VaultError> {
        let parsed = parse(sealed)?;
        let dek = self.unwrap(&parsed, aad)?;
        open_content(&parsed, &dek, aad)
    }

    /// Re-wraps the data key of `sealed` with the current master key, keeping the content
    /// segments byte for byte, for key rotation (`circle rotate-key`).
    ///
    /// It needs the record's `aad` because the wrapping authenticates it too. It checks
    /// that the value opens before touching it (so a damaged value is reported, not
    /// carried forward), and returns it unchanged when it is already under the current key.
    pub fn rewrap(&self, sealed: &str, aad: &Aad) -> Result<String, VaultError> {
        let parsed = parse(sealed)?;
        let dek = self.unwrap(&parsed, aad)?;
        drop(open_content(&parsed, &dek, aad)?);
        if parsed.key_id == self.current.id() {
            return Ok(sealed.to_owned());
        }
        let wrapped = wrap(&self.current, &dek, aad);
        Ok(format!(
            "{VERSION}.{}.{}.{}.{}",
            self.current.id(),
            URL_SAFE_NO_PAD.encode(wrapped),
            parsed.nonce_b64,
            parsed.ciphertext_b64
        ))
    }

    /// Whether [`Keyring::rewrap`] should be called on `sealed`: true unless it is well
    /// formed and names the current key. A malformed value answers true, so that a
    /// rotation pass sends it to `rewrap`, which reports it, instead of skipping it.
    pub fn needs_rewrap(&self, sealed: &str) -> bool {
        Keyring::key_id_of(sealed).map_or(true, |id| id != self.current.id())
    }

    /// The id of the master key that wrapped `sealed`'s data key (checks the whole form).
    pub fn key_id_of(sealed: &str) -> Result<KeyId, VaultError> {
        parse(sealed).map(|p| p.key_id)
    }

    /// Unwraps the data key with whichever key of the ring carries the value's key id.
    /// (Two keys sharing a 32-bit id is unlikely but harmless: each is tried.)
    fn unwrap(&self, parsed: &Parsed<'_>, aad: &Aad) -> Result<Dek, VaultError> {
        let mut candidates = std::iter::once(&self.current)
            .chain(&self.retired)
            .filter(|k| k.id() == parsed.key_id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(VaultError::UnknownKeyId(parsed.key_id));
        }
        let (nonce, rest) = parsed.wrapped.split_at(NONCE_LEN);
        let (encrypted_dek, tag) = rest.split_at(DEK_LEN);
        for key in candidates {
            let mut dek: Dek = Zeroizing::new([0u8; DEK_LEN]);
            dek.copy_from_slice(encrypted_dek);
            let ok = master_cipher(key)
                .decrypt_in_place_detached(
                    XNonce::from_slice(nonce),
                    &wrap_aad(key.id(), aad),
                    &mut dek[..],
                    Tag::from_slice(tag),
                )
                .is_ok();
            if ok {
                return Ok(dek);
            }
        }
        Err(VaultError::AuthenticationFailed)
    }
}

fn master_cipher(key: &MasterKey) -> XChaCha20Poly1305 {
    let bytes: &[u8; MASTER_KEY_LEN] = key.bytes();
    XChaCha20Poly1305::new(Key::from_slice(bytes))
}

/// Wrap nonce ‖ DEK encrypted under `key` ‖ tag.
fn wrap(key: &MasterKey, dek: &Dek, aad: &Aad) -> [u8; WRAPPED_LEN] {
    let mut out = [0u8; WRAPPED_LEN];
    let (nonce, rest) = out.split_at_mut(NONCE_LEN);
    let (body, tag_out) = rest.split_at_mut(DEK_LEN);
    OsRng.fill_bytes(nonce);
    body.copy_from_slice(&dek[..]);
    let tag = master_cipher(key)
        .encrypt_in_place_detached(XNonce::from_slice(nonce), &wrap_aad(key.id(), aad), body)
        .expect("XChaCha20-Poly1305 encrypts 32 bytes");
    tag_out.copy_from_slice(&tag);
    out
}

fn open_content(
    parsed: &Parsed<'_>,
    dek: &Dek,
    aad: &Aad,
) -> Result<Zeroizing<String>, VaultError> {
    let plaintext = XChaCha20Poly1305::new(Key::from_slice(&dek[..]))
        .decrypt(
            XNonce::from_slice(&parsed.nonce),
            Payload {
                msg: &parsed.ciphertext,
                aad: &content_aad(aad),
            },
        )
        .map_err(|_| VaultError::AuthenticationFailed)?;
    // Authenticated bytes came from a `&str` at sealing, so this fails only if someone
    // holding the key forged a value; the bytes are wiped either way.
    String::from_utf8(plaintext)
        .map(Zeroizing::new)
        .map_err(|e| {
            e.into_bytes().zeroize();
            VaultError::Malformed("decrypted text is not UTF-8")
        })
}

fn wrap_aad(key_id: KeyId, aad: &Aad) -> Vec<u8> {
    let mut out = WRAP_LABEL.to_vec();
    out.extend_from_slice(key_id.as_bytes());
    aad.encode_into(&mut out);
    out
}

fn content_aad(aad: &Aad) -> Vec<u8> {
    let mut out = CONTENT_LABEL.to_vec();
    aad.encode_into(&mut out);
    out
}

fn parse(sealed: &str) -> Result<Parsed<'_>, VaultError> {
    let mut segments = sealed.split('.');
    let (
        Some(version),
        Some(key_id),
        Some(wrapped_b64),
        Some(nonce_b64),
        Some(ciphertext_b64),
        None,
    ) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    )
    else {
        return Err(VaultError::Malformed(
            "expected five `.`-separated segments",
        ));
    };
    if version != VERSION {
        return Err(VaultError::Malformed(
            "unknown format version (this build reads v1)",
        ));
    }
    let key_id = KeyId::parse(key_id).ok_or(VaultError::Malformed(
        "key id must be 8 lowercase hex digits",
    ))?;
    let wrapped = decode_fixed::<WRAPPED_LEN>(wrapped_b64, "wrapped key must be 72 bytes")?;
    let nonce = decode_fixed::<NONCE_LEN>(nonce_b64, "nonce must be 24 bytes")?;
    let ciphertext = URL_SAFE_NO_PAD
        .decode(ciphertext_b64)
        .map_err(|_| VaultError::Malformed("ciphertext is not unpadded URL-safe base64"))?;
    if ciphertext.len() < TAG_LEN {
        return Err(VaultError::Malformed("ciphertext is shorter than its tag"));
    }
    Ok(Parsed {
        key_id,
        wrapped,
        nonce_b64,
        nonce,
        ciphertext_b64,
        ciphertext,
    })
}

fn decode_fixed<const N: usize>(b64: &str, reason: &'static str) -> Result<[u8; N], VaultError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| VaultError::Malformed(reason))?;
    bytes.try_into().map_err(|_| VaultError::Malformed(reason))
}
