//! `circle keys …`: master key management for encryption at rest.
//!
//! The master key wraps the data key of every encrypted note, so the file that holds it is
//! created readable by its owner only (mode 0600 on Unix) and written whole or not at all:
//! a crash never leaves a half-written key, and an existing key is never replaced without
//! `--force`. Only the key id is ever printed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use circle_vault::MasterKey;

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Create a new key file (mode 0600): the master key (--key-file) or the audit key
    /// (--audit-key-file); each is a key of its own, created the same way.
    Keygen {
        /// Where to write the key file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace an existing key file. Anything sealed with the old key becomes
        /// unreadable unless that key is kept (as a retired key) elsewhere.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Keygen { out, force } => {
            let key = MasterKey::generate();
            write_key_file(&out, &key, force)?;
            println!("{}", key.id());
            eprintln!(
                "Wrote master key {} to {}. Back it up somewhere safe: without it, \
                 encrypted clinical text cannot be read.",
                key.id(),
                out.display()
            );
            Ok(())
        }
    }
}

/// Generates a key and writes it to `path` (used by `--demo` for missing key files).
pub fn write_new_key(path: &Path, force: bool) -> Result<()> {
    write_key_file(path, &MasterKey::generate(), force)
}

/// Writes `key` to `path`, owner-only from the first byte.
///
/// Without `force` the file is created with `create_new`, so an existing key (or a file
/// appearing meanwhile) is refused atomically. With `force` the key goes to a temporary
/// file beside `path` which is then renamed over it, so the old key is replaced whole.
fn write_key_file(path: &Path, key: &MasterKey, force: bool) -> Result<()> {
    if !force {
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite a master key (use --force to replace it)",
                path.display()
            );
        }
        let file = create_owner_only(path)
            .with_context(|| format!("cannot create key file {}", path.display()))?;
        return fill(file, path, key);
    }

    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = create_owner_only(&temp)
        .with_context(|| format!("cannot create temporary key file {}", temp.display()))
        .and_then(|file| fill(file, &temp, key))
        .and_then(|()| {
            fs::rename(&temp, path)
                .with_context(|| format!("cannot move the new key into {}", path.display()))
        });
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&temp);
    }
    written
}

fn create_owner_only(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn fill(mut file: File, path: &Path, key: &MasterKey) -> Result<()> {
    // The umask can only narrow 0600; set it exactly anyway so the file never depends on
    // the caller's umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot set mode 0600 on {}", path.display()))?;
    }
    file.write_all(key.to_file_string().as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_a_loadable_owner_only_key_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("master.key");
        run(KeyCommand::Keygen {
            out: out.clone(),
            force: false,
        })
        .expect("keygen");
        let key = MasterKey::load(&out).expect("the new file loads");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&out).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let text = fs::read_to_string(&out).expect("read");
        assert!(text.contains(&key.id().to_string()));
    }

    #[test]
    fn keygen_refuses_to_overwrite_a_key_without_force() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("master.key");
        let keygen = |force| {
            run(KeyCommand::Keygen {
                out: out.clone(),
                force,
            })
        };
        keygen(false).expect("first keygen");
        let before = fs::read_to_string(&out).expect("read");

        let err = keygen(false).expect_err("second keygen without --force");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(fs::read_to_string(&out).expect("read"), before);

        keygen(true).expect("keygen --force");
        let after = fs::read_to_string(&out).expect("read");
        assert_ne!(after, before);
        MasterKey::load(&out).expect("the replacement loads");
        let leftovers = fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn keygen_force_tightens_the_mode_of_the_replaced_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("master.key");
        fs::write(&out, "old").expect("write");
        fs::set_permissions(&out, fs::Permissions::from_mode(0o644)).expect("chmod");
        run(KeyCommand::Keygen {
            out: out.clone(),
            force: true,
        })
        .expect("keygen --force");
        let mode = fs::metadata(&out).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
