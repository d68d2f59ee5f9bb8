//! Where the keys come from: the master key (encrypts clinical free text) and the audit
//! key (keys the audit chain's HMAC). Each is read from an environment variable holding
//! the key file's text, or from a key file; never from the database. The audit key is its
//! own file because it must never rotate: old entries are verified with it forever.
//!
//! `--demo` generates missing key files next to the demo database and says so.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use circle_store::audit::AuditKey;
use circle_vault::{Keyring, MasterKey};

pub const MASTER_ENV: &str = "CIRCLE_MASTER_KEY";
pub const AUDIT_ENV: &str = "CIRCLE_AUDIT_KEY";

/// The label the audit HMAC key is derived under from the audit key file.
const AUDIT_LABEL: &str = "circle audit chain v1";

/// Paths of the key files, if configured.
#[derive(Debug, Clone, Default)]
pub struct KeyPaths {
    pub master: Option<PathBuf>,
    /// Earlier master keys, kept readable until `circle keys rotate` has re-wrapped
    /// everything sealed with them.
    pub retired: Vec<PathBuf>,
    pub audit: Option<PathBuf>,
}

/// Default key file paths of the demo: beside a SQLite demo database, else in the
/// current directory.
pub fn demo_paths(db_url: &str) -> KeyPaths {
    let dir = db_url
        .strip_prefix("sqlite://")
        .map(|p| p.split('?').next().unwrap_or(p))
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    KeyPaths {
        master: Some(dir.join("circle-demo.key")),
        retired: vec![],
        audit: Some(dir.join("circle-demo-audit.key")),
    }
}

fn load_one(
    env: &str,
    path: Option<&Path>,
    generate: bool,
    what: &str,
    flag: &str,
) -> Result<MasterKey> {
    if let Ok(value) = std::env::var(env) {
        return MasterKey::from_env_value(&value)
            .with_context(|| format!("{env} does not hold a valid key"));
    }
    let Some(path) = path else {
        bail!(
            "no {what}: run `circle keys keygen --out FILE` and pass {flag} FILE (or set {env} to the file's text)"
        );
    };
    if !path.exists() {
        if !generate {
            bail!(
                "no {what} at {}: run `circle keys keygen --out {}`",
                path.display(),
                path.display()
            );
        }
        crate::keys::write_new_key(path, false)?;
        tracing::info!(
            path = %path.display(),
            "generated a demo {what} (keep it with the demo database)"
        );
    }
    MasterKey::load(path).with_context(|| format!("cannot load the {what} from {}", path.display()))
}

/// The keyring for clinical text and the audit chain key.
pub fn load(paths: &KeyPaths, generate: bool) -> Result<(Keyring, AuditKey)> {
    let master = load_one(
        MASTER_ENV,
        paths.master.as_deref(),
        generate,
        "master key",
        "--key-file",
    )?;
    let audit = load_audit(paths, generate)?;
    let retired = paths
        .retired
        .iter()
        .map(|p| {
            MasterKey::load(p)
                .with_context(|| format!("cannot load the retired key {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((Keyring::new(master, retired), audit))
}

/// Only the audit chain key (for `circle audit verify`).
pub fn load_audit(paths: &KeyPaths, generate: bool) -> Result<AuditKey> {
    let audit = load_one(
        AUDIT_ENV,
        paths.audit.as_deref(),
        generate,
        "audit key",
        "--audit-key-file",
    )?;
    Ok(AuditKey::new(*audit.derive_subkey(AUDIT_LABEL)))
}
