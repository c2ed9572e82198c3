//! The secret behind tokens, branches and tags, from a key file or made per
//! process, and the random seed for DNS query IDs. Shell code: it reads
//! files and /dev/urandom.
//!
//! A key file lets tokens survive restarts. It is created on first use with
//! mode 0600 and refused if others could read or change it, since anyone with
//! the key can forge tokens. Start-up only, so allocating here is fine.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::hmac::hmac_md5;

/// Bytes in a secret, and in a key file we create.
pub const SECRET_LEN: usize = 32;
/// Shortest key file we accept.
pub const MIN_KEY_FILE_LEN: usize = 16;
/// Longest key file we read; anything bigger is surely the wrong file.
pub const MAX_KEY_FILE_LEN: usize = 4096;

const RANDOM_SOURCE: &str = "/dev/urandom";

/// Key material. Debug output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        Secret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// Takes a key file's contents: exactly 32 bytes as they are, any other
    /// length hashed to 32 so every byte counts and the result is stable.
    fn from_file_bytes(bytes: &[u8]) -> Self {
        if let Ok(exact) = <[u8; SECRET_LEN]>::try_from(bytes) {
            return Secret(exact);
        }
        let mut s = [0u8; SECRET_LEN];
        let (lo, hi) = s.split_at_mut(16);
        lo.copy_from_slice(&hmac_md5(bytes, &[b"edgesip key 0"]));
        hi.copy_from_slice(&hmac_md5(bytes, &[b"edgesip key 1"]));
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What is wrong with a key file.
#[derive(Debug)]
pub enum KeyProblem {
    Open(io::Error),
    Read(io::Error),
    Create(io::Error),
    Random(io::Error),
    NotRegular,
    TooShort(usize),
    TooLong,
    /// Group or others have access; holds the permission bits.
    Permissive(u32),
}

/// A key file that could not be used, naming the file.
#[derive(Debug)]
pub struct KeyError {
    pub path: PathBuf,
    pub problem: KeyProblem,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key file {}: ", self.path.display())?;
        match &self.problem {
            KeyProblem::Open(e) => write!(f, "cannot open: {e}"),
            KeyProblem::Read(e) => write!(f, "cannot read: {e}"),
            KeyProblem::Create(e) => write!(f, "cannot create: {e}"),
            KeyProblem::Random(e) => write!(f, "cannot get random bytes: {e}"),
            KeyProblem::NotRegular => f.write_str("not a regular file"),
            KeyProblem::TooShort(n) => {
                write!(f, "too short ({n} bytes, need {MIN_KEY_FILE_LEN})")
            }
            KeyProblem::TooLong => write!(f, "too long (over {MAX_KEY_FILE_LEN} bytes)"),
            KeyProblem::Permissive(m) => write!(
                f,
                "mode {m:04o} lets group or others access it; chmod 600 it"
            ),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            KeyProblem::Open(e)
            | KeyProblem::Read(e)
            | KeyProblem::Create(e)
            | KeyProblem::Random(e) => Some(e),
            _ => None,
        }
    }
}

/// A fresh secret from the kernel, for a per-process key.
pub fn random_secret() -> io::Result<Secret> {
    let mut s = [0u8; SECRET_LEN];
    File::open(RANDOM_SOURCE)?.read_exact(&mut s)?;
    Ok(Secret(s))
}

/// A random 64-bit seed from the kernel, for DNS query IDs and ports.
pub fn random_seed() -> io::Result<u64> {
    let mut s = [0u8; 8];
    File::open(RANDOM_SOURCE)?.read_exact(&mut s)?;
    Ok(u64::from_ne_bytes(s))
}

/// Loads the key file at `path`, creating it (0600, 32 random bytes) if it
/// does not exist.
pub fn load_or_create(path: &Path) -> Result<Secret, KeyError> {
    let err = |problem| KeyError {
        path: path.to_path_buf(),
        problem,
    };
    match load(path) {
        Err(KeyProblem::Open(e)) if e.kind() == io::ErrorKind::NotFound => {}
        r => return r.map_err(err),
    }
    match create(path) {
        Ok(s) => Ok(s),
        // Another process made it first: use theirs.
        Err(KeyProblem::Create(e)) if e.kind() == io::ErrorKind::AlreadyExists => {
            load(path).map_err(err)
        }
        Err(p) => Err(err(p)),
    }
}

fn load(path: &Path) -> Result<Secret, KeyProblem> {
    let file = File::open(path).map_err(KeyProblem::Open)?;
    // Check the opened file, not the path, so a swap in between is harmless.
    let meta = file.metadata().map_err(KeyProblem::Read)?;
    if !meta.is_file() {
        return Err(KeyProblem::NotRegular);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyProblem::Permissive(mode));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(KeyProblem::Read)?;
    if bytes.len() < MIN_KEY_FILE_LEN {
        return Err(KeyProblem::TooShort(bytes.len()));
    }
    if bytes.len() > MAX_KEY_FILE_LEN {
        return Err(KeyProblem::TooLong);
    }
    Ok(Secret::from_file_bytes(&bytes))
}

fn create(path: &Path) -> Result<Secret, KeyProblem> {
    let secret = random_secret().map_err(KeyProblem::Random)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(KeyProblem::Create)?;
    let written = file
        .write_all(secret.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // A short key file would be refused at the next start; remove it.
        let _ = fs::remove_file(path);
        return Err(KeyProblem::Create(e));
    }
    Ok(secret)
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory per test, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p =
                std::env::temp_dir().join(format!("edgesip-key-test-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) {
        fs::write(path, bytes).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn creates_then_reloads() {
        let dir = TempDir::new();
        let path = dir.0.join("key");
        let first = load_or_create(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), SECRET_LEN as u64);
        assert_eq!(&fs::read(&path).unwrap()[..], first.as_bytes());
        assert_eq!(load_or_create(&path).unwrap(), first);
    }

    #[test]
    fn long_files_hash_deterministically() {
        let dir = TempDir::new();
        let path = dir.0.join("key");
        write_with_mode(&path, &[7u8; 100], 0o600);
        let a = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), a);
        assert_ne!(a.as_bytes(), &[7u8; SECRET_LEN]);
        write_with_mode(&path, &[7u8; 16], 0o400);
        assert!(load_or_create(&path).is_ok());
    }

    #[test]
    fn refuses_open_permissions() {
        let dir = TempDir::new();
        let path = dir.0.join("key");
        write_with_mode(&path, &[1u8; 32], 0o644);
        let e = load_or_create(&path).unwrap_err();
        assert!(matches!(e.problem, KeyProblem::Permissive(0o644)));
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("0644"), "{msg}");
    }

    #[test]
    fn refuses_short_file() {
        let dir = TempDir::new();
        let path = dir.0.join("key");
        write_with_mode(&path, &[1u8; 15], 0o600);
        let e = load_or_create(&path).unwrap_err();
        assert!(matches!(e.problem, KeyProblem::TooShort(15)));
        assert!(e.to_string().contains("too short"));
        assert!(e.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn refuses_directory() {
        let dir = TempDir::new();
        let e = load_or_create(&dir.0).unwrap_err();
        assert!(matches!(e.problem, KeyProblem::NotRegular));
        assert!(e.to_string().contains(&dir.0.display().to_string()));
    }

    #[test]
    fn refuses_missing_parent() {
        let dir = TempDir::new();
        let path = dir.0.join("no/such/key");
        let e = load_or_create(&path).unwrap_err();
        assert!(matches!(e.problem, KeyProblem::Create(_)));
    }

    #[test]
    fn random_secrets_differ() {
        assert_ne!(random_secret().unwrap(), random_secret().unwrap());
        assert_eq!(format!("{:?}", random_secret().unwrap()), "Secret(..)");
    }
}
