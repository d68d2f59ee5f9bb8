//! The one error type of the vault.
//!
//! Messages name what is wrong and how to fix it; they never carry plaintext, key bytes
//! or any part of a sealed value other than a key id (which is public by design).

use std::path::PathBuf;

use crate::key::KeyId;

/// Why a key could not be loaded or a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The sealed value is not in the `v1.<key id>.<wrapped key>.<nonce>.<ciphertext>`
    /// format (wrong segment count, bad base64, wrong lengths). The reason is fixed text.
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),

    /// The sealed value names a master key that is not in the keyring: load the retired
    /// key that sealed it (key rotation keeps old keys until `rewrap` has run everywhere).
    #[error("sealed with master key {0}, which is not in the keyring")]
    UnknownKeyId(KeyId),

    /// Decryption failed: wrong key, the value was moved to another record (different
    /// associated data), or it was altered.
    #[error("authentication failed: wrong key, wrong record, or the value was altered")]
    AuthenticationFailed,

    /// A master key's text (file or environment variable) is not a valid key. The reason
    /// is fixed text and never includes the key.
    #[error("invalid master key: {0}")]
    InvalidKey(&'static str),

    /// The key file could not be read.
    #[error("cannot read master key file {}", .path.display())]
    KeyFileIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The key file can be read by its group or by others (Unix), so it is refused.
    #[error(
        "master key file {} has mode {mode:o}, readable by group or others; \
         run `chmod 600 {}`",
        .path.display(),
        .path.display()
    )]
    InsecureKeyFile { path: PathBuf, mode: u32 },
}
