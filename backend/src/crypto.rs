//! Keys derived from the server secret: JWT signing, encryption at rest, keyed digests;
//! and argon2id password hashing.

use std::path::Path;

use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext is malformed or was encrypted with another secret key")]
    Decrypt,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("secret key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("secret key file {path} {problem}")]
    KeyRefused { path: String, problem: String },
}

/// The shortest secret accepted, in characters: a generated one has 43.
pub const MIN_SECRET_CHARS: usize = 32;

/// Refuses a secret too short to keep the derived keys unguessable.
pub fn check_secret(secret: &str) -> Result<(), String> {
    match secret.trim().chars().count() {
        0 => Err("is empty".into()),
        n if n < MIN_SECRET_CHARS => {
            Err(format!("is too short: {n} characters, at least {MIN_SECRET_CHARS} are needed"))
        }
        _ => Ok(()),
    }
}

const CIPHER_PREFIX: &str = "v1:";

/// Every key the server derives from its one secret.
pub struct Keys {
    pub jwt_encoding: jsonwebtoken::EncodingKey,
    pub jwt_decoding: jsonwebtoken::DecodingKey,
    cipher: LessSafeKey,
    mac: hmac::Key,
}

impl Keys {
    pub fn from_secret(secret: &[u8]) -> Keys {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derive = |label: &str| hmac::sign(&root, label.as_bytes()).as_ref().to_vec();
        let jwt = derive("taskgate/jwt");
        let enc = derive("taskgate/encryption");
        Keys {
            jwt_encoding: jsonwebtoken::EncodingKey::from_secret(&jwt),
            jwt_decoding: jsonwebtoken::DecodingKey::from_secret(&jwt),
            cipher: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &enc).expect("32-byte key")),
            mac: hmac::Key::new(hmac::HMAC_SHA256, &derive("taskgate/digest")),
        }
    }

    /// AES-256-GCM with a random nonce: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("system random");
        let mut buf = plaintext.as_bytes().to_vec();
        self.cipher
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .expect("AES-GCM seal");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!("{CIPHER_PREFIX}{}", STANDARD.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let raw = stored
            .strip_prefix(CIPHER_PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|r| r.len() > NONCE_LEN)
            .ok_or(CryptoError::Decrypt)?;
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
        let mut sealed = sealed.to_vec();
        let plain = self.cipher.open_in_place(nonce, Aad::empty(), &mut sealed).map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain.to_vec()).map_err(|_| CryptoError::Decrypt)
    }

    pub fn is_encrypted(stored: &str) -> bool {
        stored.starts_with(CIPHER_PREFIX)
    }

    /// Keyed SHA-256, hex: a digest that cannot be recomputed (or brute-forced) without the secret.
    pub fn digest(&self, data: &[u8]) -> String {
        hex::encode(hmac::sign(&self.mac, data).as_ref())
    }
}

/// A random URL-safe string with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).expect("system random");
    URL_SAFE_NO_PAD.encode(buf)
}

/// Reads the secret from `data_dir/secret.key`, creating it (mode 0600, in a 0700
/// directory) on first start. An existing file that other users can read, or that is too
/// short, is refused: every key derives from it.
pub fn load_or_create_secret(data_dir: &Path) -> Result<Vec<u8>, CryptoError> {
    use std::io::Read;
    let path = data_dir.join("secret.key");
    let shown = path.display().to_string();
    let err = |source| CryptoError::KeyFile { path: shown.clone(), source };
    let refused = |problem: String| CryptoError::KeyRefused { path: shown.clone(), problem };
    match std::fs::File::open(&path) {
        Ok(mut file) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = file.metadata().map_err(err)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(refused(format!(
                        "can be read by other users (mode {mode:04o}): run `chmod 600 {shown}`, \
                         and replace the key if others may have read it"
                    )));
                }
            }
            let mut text = String::new();
            file.read_to_string(&mut text).map_err(err)?;
            check_secret(&text).map_err(|problem| {
                refused(format!(
                    "{problem}: restore it from a backup, or, if this server has never used it, \
                     delete it and a new key is made at the next start"
                ))
            })?;
            Ok(text.trim().as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(data_dir).map_err(err)?;
            let secret = random_token(32);
            write_private(&path, &secret).map_err(err)?;
            Ok(secret.into_bytes())
        }
        Err(e) => Err(err(e)),
    }
}

/// Creates `dir` and any missing parents with mode 0700 (an existing one is left as it is).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` with mode 0600 and writes `contents`; fails if it exists.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

/// argon2id with the crate's recommended parameters (19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_and_other_keys_cannot_read_it() {
        let keys = Keys::from_secret(b"one");
        let sealed = keys.encrypt("-----BEGIN OPENSSH PRIVATE KEY-----");
        assert!(!sealed.contains("OPENSSH"));
        assert_eq!(keys.decrypt(&sealed).unwrap(), "-----BEGIN OPENSSH PRIVATE KEY-----");
        assert!(Keys::from_secret(b"two").decrypt(&sealed).is_err());
        assert_ne!(sealed, keys.encrypt("-----BEGIN OPENSSH PRIVATE KEY-----"), "nonces differ");
    }

    #[test]
    fn short_or_empty_secrets_are_refused() {
        assert_eq!(check_secret(" \n"), Err("is empty".to_string()));
        assert!(check_secret("short").unwrap_err().contains("too short"));
        assert!(check_secret(&random_token(32)).is_ok());
    }

    #[test]
    fn passwords_hash_with_argon2id() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
    }
}
