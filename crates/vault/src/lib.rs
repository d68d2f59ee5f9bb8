//! Encryption at rest for Circle's clinical free text (notes, addenda, screening
//! comments, separation reasons, alert actions).
//!
//! Envelope encryption: every sealed value has its own random data key, wrapped by a
//! master key that never lives in the database; the record's kind and ids are bound as
//! associated data, so a value moved to another row does not open; and each value names
//! its master key by id, so keys can rotate without re-encrypting content.
//!
//! ```
//! use circle_vault::{Aad, Keyring, MasterKey};
//!
//! let keyring = Keyring::new(MasterKey::generate(), Vec::new());
//! let aad = Aad::record("note.body", 42);
//! let sealed = keyring.seal("Discussed coping strategies.", &aad);
//! assert_eq!(keyring.open(&sealed, &aad)?.as_str(), "Discussed coping strategies.");
//! assert!(keyring.open(&sealed, &Aad::record("note.body", 43)).is_err());
//! # Ok::<(), circle_vault::VaultError>(())
//! ```
//!
//! The formats are described in [`key`] (master key files) and [`keyring`] (sealed values).

mod aad;
mod error;
pub mod key;
pub mod keyring;

pub use aad::Aad;
pub use error::VaultError;
pub use key::{KeyId, MASTER_KEY_ENV_VAR, MasterKey};
pub use keyring::Keyring;
pub use zeroize::Zeroizing;
