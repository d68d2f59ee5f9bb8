//! Master keys: 32 random bytes that wrap every record's data key, and the public key id
//! that names a key inside each sealed value so keys can rotate.
//!
//! A master key lives in a key file or in the `CIRCLE_MASTER_KEY` environment variable,
//! never in the database (a database backup alone must not be enough to read notes).
//! Both hold the same one-line text format:
//!
//! ```text
//! # optional comment lines
//! circle-master-key v1 <key id: 8 lowercase hex> <key: 32 bytes, standard base64 with padding>
//! ```
//!
//! The key id is derived, not chosen: the first four bytes of
//! SHA-256(`"circle-vault key-id v1\0"` ‖ key), in lowercase hex. Deriving it means the
//! same key always has the same id (however it was copied), and the id written in the
//! file doubles as a checksum: a key whose bytes were damaged or mistyped is refused
//! instead of silently sealing data nobody can open. 32 bits of a hash of 256 random bits
//! say nothing useful about the key; the domain-separation prefix keeps the id from being
//! a plain hash of the key that could collide with any other use of one.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::VaultError;

/// The environment variable that may hold the master key, in the key file format.
pub const MASTER_KEY_ENV_VAR: &str = "CIRCLE_MASTER_KEY";

/// Length of a master key in bytes (XChaCha20-Poly1305 keys are 256 bits).
pub const MASTER_KEY_LEN: usize = 32;

const MAGIC: &str = "circle-master-key";
const FORMAT_VERSION: &str = "v1";
const KEY_ID_DOMAIN: &[u8] = b"circle-vault key-id v1\0";
/// A key file is one short line plus comments; anything bigger is not a key file.
const MAX_KEY_FILE_LEN: usize = 4096;
const FORMAT_HINT: &str = "expected `circle-master-key v1 <key id> <base64 key>`";

/// The public name of a master key: 8 lowercase hex digits. Not secret; it appears in
/// every sealed value and in error messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 4]);

impl KeyId {
    fn of(key: &[u8; MASTER_KEY_LEN]) -> KeyId {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(key)
            .finalize();
        KeyId([digest[0], digest[1], digest[2], digest[3]])
    }

    /// Parses exactly 8 lowercase hex digits. Upper case is refused so that every key id
    /// has one spelling, and a sealed value cannot be altered without failing to open.
    pub(crate) fn parse(text: &str) -> Option<KeyId> {
        let bytes = text.as_bytes();
        if bytes.len() != 8 {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut id = [0u8; 4];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            id[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(KeyId(id))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<KeyId, VaultError> {
        KeyId::parse(s).ok_or(VaultError::Malformed(
            "key id must be 8 lowercase hex digits",
        ))
    }
}

/// A 256-bit master key. It cannot be cloned or serialized, its `Debug` shows only its
/// id, and its bytes are zeroized when it is dropped. They live on the heap so that
/// moving a `MasterKey` around does not leave copies on the stack.
///
/// ```compile_fail
/// let key = circle_vault::MasterKey::generate();
/// let copy = key.clone(); // a master key has exactly one owner
/// ```
pub struct MasterKey {
    bytes: Box<Zeroizing<[u8; MASTER_KEY_LEN]>>,
    id: KeyId,
}

impl MasterKey {
    /// A fresh random key from the operating system's CSPRNG.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes (nothing safe can go on then).
    pub fn generate() -> MasterKey {
        let mut bytes = Box::new(Zeroizing::new([0u8; MASTER_KEY_LEN]));
        OsRng.fill_bytes(&mut bytes[..]);
        MasterKey::from_boxed(bytes)
    }

    fn from_boxed(bytes: Box<Zeroizing<[u8; MASTER_KEY_LEN]>>) -> MasterKey {
        let id = KeyId::of(&bytes);
        MasterKey { bytes, id }
    }

    /// This key's public id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }

    /// A 32-byte key for another purpose (such as the audit chain's HMAC), derived as
    /// HMAC-SHA-256(key, `"circle-vault subkey v1\0"` ‖ label), so the master key itself is
    /// never used twice and different labels give independent keys.
    pub fn derive_subkey(&self, label: &str) -> Zeroizing<[u8; 32]> {
        use hmac::Mac;
        let mut out = Zeroizing::new([0u8; 32]);
        // HMAC accepts keys of any length: constructing it cannot fail.
        if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.bytes()) {
            mac.update(b"circle-vault subkey v1\0");
            mac.update(label.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// The key file text: a comment line, then
    /// `circle-master-key v1 <key id> <base64 key>` and a newline. Zeroized on drop.
    pub fn to_file_string(&self) -> Zeroizing<String> {
        // Room for everything up front, so the key's base64 is never copied by a regrowth.
        let mut text = Zeroizing::new(String::with_capacity(256));
        text.push_str("# Circle master key ");
        text.push_str(&self.id.to_string());
        text.push_str(
            ". Keep it secret and backed up: without it, encrypted clinical text cannot be read.\n",
        );
        text.push_str(MAGIC);
        text.push(' ');
        text.push_str(FORMAT_VERSION);
        text.push(' ');
        text.push_str(&self.id.to_string());
        text.push(' ');
        STANDARD.encode_string(&self.bytes[..], &mut text);
        text.push('\n');
        text
    }

    /// Parses the key file format. Blank lines and lines starting with `#` are ignored;
    /// exactly one key line must remain, and its key id must match its key.
    pub fn from_file_string(text: &str) -> Result<MasterKey, VaultError> {
        let mut key_line = None;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if key_line.replace(line).is_some() {
                return Err(VaultError::InvalidKey(
                    "more than one key line; a key file holds exactly one key",
                ));
            }
        }
        let line = key_line.ok_or(VaultError::InvalidKey(
            "no key line; expected `circle-master-key v1 <key id> <base64 key>`",
        ))?;
        let mut tokens = line.split_ascii_whitespace();
        let (Some(magic), Some(version), Some(id), Some(encoded), None) = (
            tokens.next(),
            tokens.next(),
            tokens.next(),
            tokens.next(),
            tokens.next(),
        ) else {
            return Err(VaultError::InvalidKey(FORMAT_HINT));
        };
        if magic != MAGIC {
            return Err(VaultError::InvalidKey(
                "not a Circle master key; expected `circle-master-key v1 <key id> <base64 key>`",
            ));
        }
        if version != FORMAT_VERSION {
            return Err(VaultError::InvalidKey(
                "unsupported key format version (this build reads v1)",
            ));
        }
        let id = KeyId::parse(id).ok_or(VaultError::InvalidKey(
            "key id must be 8 lowercase hex digits",
        ))?;
        // The decode error is dropped on purpose: it can quote a byte of the key.
        let decoded = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| VaultError::InvalidKey("key is not valid base64"))?,
        );
        if decoded.len() != MASTER_KEY_LEN {
            return Err(VaultError::InvalidKey(
                "key must be 32 bytes (44 base64 characters)",
            ));
        }
        if decoded.iter().all(|&b| b == 0) {
            return Err(VaultError::InvalidKey("key is all zeros"));
        }
        let mut bytes = Box::new(Zeroizing::new([0u8; MASTER_KEY_LEN]));
        bytes.copy_from_slice(&decoded);
        let key = MasterKey::from_boxed(bytes);
        if key.id != id {
            return Err(VaultError::InvalidKey(
                "key id does not match the key: the key was damaged or edited",
            ));
        }
        Ok(key)
    }

    /// Parses the value of [`MASTER_KEY_ENV_VAR`]: the same text as a key file.
    pub fn from_env_value(value: &str) -> Result<MasterKey, VaultError> {
        MasterKey::from_file_string(value)
    }

    /// Reads a key file. On Unix a file that its group or others may read, write or
    /// execute is refused with [`VaultError::InsecureKeyFile`], which names the `chmod`
    /// that fixes it.
    pub fn load(path: impl AsRef<Path>) -> Result<MasterKey, VaultError> {
        let path = path.as_ref();
        let io = |source| VaultError::KeyFileIo {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let metadata = file.metadata().map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(VaultError::InsecureKeyFile {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        if metadata.len() > MAX_KEY_FILE_LEN as u64 {
            return Err(VaultError::InvalidKey(
                "key file is too large to be a key file",
            ));
        }
        // Capacity for the whole file up front: a regrowth would leave a copy behind.
        let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE_LEN + 1));
        file.take(MAX_KEY_FILE_LEN as u64)
            .read_to_string(&mut text)
            .map_err(io)?;
        MasterKey::from_file_string(&text)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
