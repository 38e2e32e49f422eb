//! Files that hold secrets: created 0600, in directories created 0700, replaced atomically.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};

use crate::CaError;

/// Mode of every secret file this crate writes.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Mode of every directory this crate creates for secrets.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Writes `contents` to `path` with mode 0600, replacing any existing file atomically (a reader
/// sees the old file or the new one, never half of one). Missing parent directories are
/// created with mode 0700.
///
/// Use it for kubeconfigs, client keys and certificate caches.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), CaError> {
    let parent = parent_dir(path);
    ensure_private_dir(&parent, false)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| {
            CaError::io(
                "write",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = parent.join(format!(".{file_name}.tmp-{}", random_suffix()));
    let result = write_new(&tmp, contents).and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| CaError::io("replace", path, e))?;
        sync_dir(&parent)
    });
    if result.is_err() {
        // Best effort: the write already failed, and a stray temp file holds no more than the
        // caller was about to write.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` with mode 0600 and writes `contents`; fails if the file already exists.
pub(crate) fn write_new(path: &Path, contents: &[u8]) -> Result<(), CaError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
        .map_err(|e| CaError::io("create", path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| CaError::io("write", path, e))
}

/// Creates `dir` (and its parents) with mode 0700 if missing. With `tighten`, an existing
/// directory that group or others can enter is narrowed to 0700.
pub(crate) fn ensure_private_dir(dir: &Path, tighten: bool) -> Result<(), CaError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if tighten && meta.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR_MODE))
                    .map_err(|e| CaError::io("restrict permissions of", dir, e))?;
            }
            Ok(())
        }
        Ok(_) => Err(CaError::io(
            "use directory",
            dir,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "it is not a directory"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR_MODE)
            .create(dir)
            .map_err(|e| CaError::io("create directory", dir, e)),
        Err(e) => Err(CaError::io("inspect", dir, e)),
    }
}

/// Fails if group or others may read or write `path`.
pub(crate) fn check_private_file(path: &Path) -> Result<(), CaError> {
    let mode = fs::metadata(path)
        .map_err(|e| CaError::io("inspect", path, e))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CaError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
            wanted: PRIVATE_FILE_MODE,
        });
    }
    Ok(())
}

/// Reads a small text file, refusing anything over `limit` bytes.
pub(crate) fn read_limited(path: &Path, limit: u64) -> Result<String, CaError> {
    use std::io::Read;
    let file = File::open(path).map_err(|e| CaError::io("open", path, e))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| CaError::io("read", path, e))?;
    if text.len() as u64 > limit {
        return Err(CaError::io(
            "read",
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("file is larger than {limit} bytes"),
            ),
        ));
    }
    Ok(text)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> Result<(), CaError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CaError::io("sync directory", dir, e))
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    // A failing system RNG leaves zeros; `create_new` still refuses to clobber a file.
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_file_is_0600_in_new_0700_dir_and_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("nested/dir/config");
        write_private_file(&path, b"one").unwrap();
        write_private_file(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("nested/dir")), 0o700);
        assert_eq!(mode(&tmp.path().join("nested")), 0o700);
        let leftovers: Vec<_> = fs::read_dir(tmp.path().join("nested/dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec!["config"]);
    }

    #[test]
    fn replacing_a_world_readable_file_makes_it_private() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("kubeconfig");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private_file(&path, b"new").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
