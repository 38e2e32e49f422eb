//! The credential cache: one `credential.json` (certificate, private key, CA, who it names)
//! per gateway in `~/.kube/cache/jitgate/<hash of the server URL>/`, or under
//! `$JITGATE_CACHE_DIR`. Directories are 0700, the file 0600 and replaced atomically, so that
//! key and certificate always belong together.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jitgate_api::{GoDuration, Timestamp};
use jitgate_ca::{ClientIdentity, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, write_private_file};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};

use crate::CliError;

/// Overrides the cache's root directory.
pub const CACHE_DIR_ENV: &str = "JITGATE_CACHE_DIR";

/// The file in each server's directory.
pub const CREDENTIAL_FILE: &str = "credential.json";

/// A credential this close to its end counts as expired: kubectl must not start a command
/// with a certificate that dies mid-way.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Largest cache file read.
const MAX_CACHE_FILE_BYTES: u64 = 256 * 1024;

/// How the last login went, so that the credential plugin logs in the same way again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginPreferences {
    /// The device-code flow rather than the browser.
    #[serde(default)]
    pub device_code: bool,
    /// Print the URL rather than open a browser.
    #[serde(default)]
    pub no_browser: bool,
    /// The certificate lifetime asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<GoDuration>,
}

/// What the cache holds for one gateway.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedCredential {
    /// The gateway URL, as given to `login --server`.
    pub server: String,
    /// The CA (PEM) trusted for the gateway.
    pub ca_certificate: String,
    /// The client certificate, PEM.
    pub certificate: String,
    /// Its private key, PKCS#8 PEM; made on this machine and never sent anywhere.
    pub private_key: String,
    /// The user the certificate names.
    pub user: String,
    /// The groups it names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The certificate's notAfter.
    pub expires_at: Timestamp,
    /// When it was obtained.
    pub issued_at: Timestamp,
    /// How to log in again.
    #[serde(default)]
    pub login: LoginPreferences,
}

impl std::fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedCredential")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("groups", &self.groups)
            .field("expires_at", &self.expires_at)
            .field("private_key", &"[secret]")
            .finish_non_exhaustive()
    }
}

impl CachedCredential {
    /// Whether it may be used at `now`: it lasts more than [`EXPIRY_MARGIN`] longer.
    pub fn usable_at(&self, now: Timestamp) -> bool {
        now.plus(EXPIRY_MARGIN) < self.expires_at
    }
}

/// The URL as the cache keys it: without trailing slashes.
pub fn normalize_server(server: &str) -> String {
    server.trim_end_matches('/').to_owned()
}

/// The cache's root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialCache {
    root: PathBuf,
}

impl CredentialCache {
    /// A cache rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$JITGATE_CACHE_DIR`, else `$HOME/.kube/cache/jitgate`.
    pub fn from_env() -> Result<Self, CliError> {
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
            return Ok(Self::new(dir));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "HOME is not set, so the credential cache has no place; set {CACHE_DIR_ENV} to a private directory"
                ))
            })?;
        Ok(Self::new(Path::new(&home).join(".kube/cache/jitgate")))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one gateway: the first 128 bits of SHA-256 of its URL, in hex.
    pub fn dir_for(&self, server: &str) -> PathBuf {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, normalize_server(server).as_bytes());
        let name: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.root.join(name)
    }

    /// The credential file of one gateway.
    pub fn path_for(&self, server: &str) -> PathBuf {
        self.dir_for(server).join(CREDENTIAL_FILE)
    }

    /// The cached credential for `server`, if any. Its expiry is read from the certificate
    /// itself. Refuses a file others may read, a symbolic link, or one for another server.
    pub fn load(&self, server: &str) -> Result<Option<CachedCredential>, CliError> {
        let path = self.path_for(server);
        let server = normalize_server(server);
        let corrupt = |reason: String| CliError::CorruptCache {
            path: path.clone(),
            server: server.clone(),
            reason,
        };
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CliError::io("inspect", &path, e)),
        };
        if !meta.file_type().is_file() {
            return Err(corrupt("it is not a regular file".to_owned()));
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(CliError::InsecureCache {
                path,
                mode,
                wanted: PRIVATE_FILE_MODE,
            });
        }
        let mut text = String::new();
        fs::File::open(&path)
            .and_then(|f| f.take(MAX_CACHE_FILE_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| CliError::io("read", &path, e))?;
        if text.len() as u64 > MAX_CACHE_FILE_BYTES {
            return Err(corrupt(format!(
                "it is larger than {MAX_CACHE_FILE_BYTES} bytes"
            )));
        }
        let mut cred: CachedCredential =
            serde_json::from_str(&text).map_err(|e| corrupt(format!("it is not valid ({e})")))?;
        if normalize_server(&cred.server) != server {
            return Err(corrupt(format!(
                "it is for {:?}, not this server",
                cred.server
            )));
        }
        let der = CertificateDer::from_pem_slice(cred.certificate.as_bytes())
            .map_err(|e| corrupt(format!("its certificate is not PEM ({e})")))?;
        let identity = ClientIdentity::from_der(der.as_ref())
            .map_err(|e| corrupt(format!("its certificate is unusable ({e})")))?;
        cred.expires_at = cred.expires_at.min(Timestamp::from(identity.not_after));
        Ok(Some(cred))
    }

    /// Writes `cred` for its server: directories 0700 (narrowed if they were wider), the
    /// file 0600, atomically. Returns the file's path.
    pub fn store(&self, cred: &CachedCredential) -> Result<PathBuf, CliError> {
        let dir = self.dir_for(&cred.server);
        private_dir(&self.root)?;
        private_dir(&dir)?;
        let path = dir.join(CREDENTIAL_FILE);
        let json = serde_json::to_vec_pretty(cred)
            .map_err(|e| CliError::Output(format!("encoding the credential: {e}")))?;
        write_private_file(&path, &json)?;
        Ok(path)
    }

    /// Deletes the credential for `server`; whether there was one.
    pub fn remove(&self, server: &str) -> Result<bool, CliError> {
        let path = self.path_for(server);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CliError::io("delete", &path, e)),
        }
    }
}

/// Creates `dir` (and missing parents) 0700, or narrows an existing one to 0700.
fn private_dir(dir: &Path) -> Result<(), CliError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if meta.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR_MODE))
                    .map_err(|e| CliError::io("restrict permissions of", dir, e))?;
            }
            Ok(())
        }
        Ok(_) => Err(CliError::io(
            "use directory",
            dir,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it is not a directory (or is a symbolic link)",
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR_MODE)
            .create(dir)
            .map_err(|e| CliError::io("create directory", dir, e)),
        Err(e) => Err(CliError::io("inspect", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::issued_credential;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn stored_with_private_modes_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(tmp.path().join("cache/jitgate"));
        let cred = issued_credential("https://gw.example:8443", Duration::from_secs(3600));
        let path = cache.store(&cred).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(cache.root()), 0o700);
        let back = cache.load("https://gw.example:8443/").unwrap().unwrap();
        assert_eq!(back, cred);
        assert!(cache.load("https://other:8443").unwrap().is_none());
    }

    #[test]
    fn existing_wide_directories_are_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("jitgate");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let cache = CredentialCache::new(&root);
        cache
            .store(&issued_credential("https://gw", Duration::from_secs(3600)))
            .unwrap();
        assert_eq!(mode(&root), 0o700);
    }

    #[test]
    fn a_readable_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(tmp.path());
        let path = cache
            .store(&issued_credential("https://gw", Duration::from_secs(3600)))
            .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = cache.load("https://gw").unwrap_err();
        assert!(
            matches!(err, CliError::InsecureCache { mode: 0o644, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_file_for_another_server_or_garbage_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(tmp.path());
        let cred = issued_credential("https://gw", Duration::from_secs(3600));
        let elsewhere = cache.path_for("https://elsewhere");
        fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
        write_private_file(&elsewhere, &serde_json::to_vec(&cred).unwrap()).unwrap();
        let err = cache.load("https://elsewhere").unwrap_err().to_string();
        assert!(err.contains("is for \"https://gw\""), "{err}");
        write_private_file(&elsewhere, b"{not json").unwrap();
        let err = cache.load("https://elsewhere").unwrap_err().to_string();
        assert!(
            err.contains("run kubectl jit login --server https://elsewhere"),
            "{err}"
        );
    }

    #[test]
    fn expiry_comes_from_the_certificate() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(tmp.path());
        let mut cred = issued_credential("https://gw", Duration::from_secs(600));
        let real_end = cred.expires_at;
        cred.expires_at = real_end.plus(Duration::from_secs(86_400));
        cache.store(&cred).unwrap();
        assert_eq!(
            cache.load("https://gw").unwrap().unwrap().expires_at,
            real_end
        );
    }

    #[test]
    fn usable_until_a_minute_before_the_end() {
        let cred = issued_credential("https://gw", Duration::from_secs(600));
        let end = cred.expires_at;
        let cases = [
            ("well before", end.minus(Duration::from_secs(300)), true),
            ("61 s before", end.minus(Duration::from_secs(61)), true),
            ("60 s before", end.minus(Duration::from_secs(60)), false),
            ("at the end", end, false),
            ("after", end.plus(Duration::from_secs(1)), false),
        ];
        for (name, now, want) in cases {
            assert_eq!(cred.usable_at(now), want, "{name}");
        }
    }

    #[test]
    fn the_key_is_not_printed() {
        let cred = issued_credential("https://gw", Duration::from_secs(600));
        assert!(!format!("{cred:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn directories_differ_per_server_but_not_per_trailing_slash() {
        let cache = CredentialCache::new("/c");
        assert_eq!(cache.dir_for("https://a:1"), cache.dir_for("https://a:1/"));
        assert_ne!(cache.dir_for("https://a:1"), cache.dir_for("https://a:2"));
        let name = cache.dir_for("https://a:1");
        assert_eq!(name.file_name().unwrap().len(), 32);
    }
}
