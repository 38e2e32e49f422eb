//! What an upload's archive may hold: `kubectl cp FILE POD:/tmp/FILE` runs `tar -xmf - -C /tmp`
//! and streams a tar archive to its stdin. The `-C` directory is only a starting point: a member
//! named `../../etc/passwd`, a symbolic link to `/etc` followed by `link/passwd`, or a hard link
//! to `/etc/shadow` would write outside it. [`UploadWatch`] reads the archive as it streams by
//! — headers, PAX and GNU long names, link targets — and refuses the first member that would
//! leave the directory: the piece of the stream that completes its header is not passed on, nor
//! anything after it, so tar in the container never sees that member.
//!
//! What passes: regular files, directories, symbolic links that descend (relative, no `..`: a
//! `..` resolves through what the components before it really are, which names cannot show),
//! hard links to other members. Everything else is refused
//! as undecidable: absolute names, `..`, members below a symbolic link of the same archive,
//! devices, FIFOs, sparse files, global PAX headers, a header whose checksum is wrong (GNU tar
//! would skip ahead and resynchronise on whatever looks like the next header), non-zero data
//! after the end of the archive.
//!
//! Not seen from the stream: links that already exist in the container's directory (tar follows
//! an existing symbolic link to a directory). Placing one needs a command the profile allows.

use std::collections::BTreeSet;

const BLOCK: usize = 512;
/// The largest PAX or GNU long-name record read.
const MAX_META: u64 = 64 * 1024;

/// Reads an upload's tar stream; see the module documentation.
#[derive(Debug)]
pub struct UploadWatch {
    dir: String,
    state: State,
    /// A partial header block, or a PAX / long-name record being collected.
    buf: Vec<u8>,
    /// From PAX `path` / GNU `L`: the next member's name.
    next_name: Option<Vec<u8>>,
    /// From PAX `linkpath` / GNU `K`: the next member's link target.
    next_link: Option<Vec<u8>>,
    /// From PAX `size`: the next member's size.
    next_size: Option<u64>,
    /// Symbolic links placed by this archive (normalised names).
    symlinks: BTreeSet<Vec<u8>>,
    members: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    /// Member data and its padding to skip.
    Skip(u64),
    /// A metadata record: bytes still to collect, then padding to skip.
    Meta {
        kind: Meta,
        left: u64,
        pad: u64,
    },
    /// Past the end-of-archive block: only zeros may follow.
    End,
    /// A refusal was returned; nothing more is accepted.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    Pax,
    LongName,
    LongLink,
}

impl UploadWatch {
    /// A watch for an archive extracted into `dir` (for messages).
    pub fn new(dir: &str) -> Self {
        Self {
            dir: dir.to_owned(),
            state: State::Header,
            buf: Vec::with_capacity(BLOCK),
            next_name: None,
            next_link: None,
            next_size: None,
            symlinks: BTreeSet::new(),
            members: 0,
        }
    }

    /// Members accepted so far.
    pub fn members(&self) -> u64 {
        self.members
    }

    /// Reads the next bytes of the stream. `Err` means these bytes must not reach tar: the
    /// sentence says which member and why. Every later call fails too.
    ///
    /// # Errors
    /// A member would be written outside the directory, or the archive cannot be read the way
    /// tar would read it.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        if self.state == State::Refused {
            return Err("the upload was already refused".to_owned());
        }
        let result = (|| {
            while !bytes.is_empty() {
                match self.state {
                    State::Header => {
                        let take = (BLOCK - self.buf.len()).min(bytes.len());
                        self.buf.extend_from_slice(&bytes[..take]);
                        bytes = &bytes[take..];
                        if self.buf.len() == BLOCK {
                            let block = std::mem::take(&mut self.buf);
                            self.header(&block)?;
                        }
                    }
                    State::Skip(left) => {
                        let take = left.min(bytes.len() as u64);
                        bytes = &bytes[to_usize(take)..];
                        self.state = if take == left {
                            State::Header
                        } else {
                            State::Skip(left - take)
                        };
                    }
                    State::Meta { kind, left, pad } => {
                        let take = left.min(bytes.len() as u64);
                        self.buf.extend_from_slice(&bytes[..to_usize(take)]);
                        bytes = &bytes[to_usize(take)..];
                        if take == left {
                            let record = std::mem::take(&mut self.buf);
                            self.meta(kind, &record)?;
                            self.state = if pad == 0 {
                                State::Header
                            } else {
                                State::Skip(pad)
                            };
                        } else {
                            self.state = State::Meta {
                                kind,
                                left: left - take,
                                pad,
                            };
                        }
                    }
                    State::End => {
                        if bytes.iter().any(|b| *b != 0) {
                            return Err(
                                "data follows the end of the archive, which tar could read as \
                                 more members"
                                    .to_owned(),
                            );
                        }
                        bytes = &[];
                    }
                    State::Refused => unreachable!("checked above"),
                }
            }
            Ok(())
        })();
        result.map_err(|why| {
            self.state = State::Refused;
            format!(
                "upload into {} refused after {} member(s): {why}; nothing from that member on \
                 was written",
                self.dir, self.members
            )
        })
    }

    fn header(&mut self, block: &[u8]) -> Result<(), String> {
        if block.iter().all(|b| *b == 0) {
            self.state = State::End;
            return Ok(());
        }
        if !checksum_ok(block) {
            return Err(
                "a header's checksum is wrong, so tar would skip ahead and read whatever \
                        looks like the next header"
                    .to_owned(),
            );
        }
        let kind = block[156];
        let size = match self.next_size.take() {
            Some(s) => s,
            None => number(&block[124..136]).ok_or("a header's size field is not a number")?,
        };
        let padded = size
            .checked_add((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64)
            .ok_or("a member's size is out of range")?;
        match kind {
            b'x' | b'L' | b'K' => {
                if self.next_name.is_some() && kind == b'L'
                    || self.next_link.is_some() && kind == b'K'
                {
                    return Err("two long names for one member".to_owned());
                }
                if size > MAX_META {
                    return Err(format!(
                        "a metadata record of {size} bytes (at most {MAX_META} are read)"
                    ));
                }
                let meta = match kind {
                    b'x' => Meta::Pax,
                    b'L' => Meta::LongName,
                    _ => Meta::LongLink,
                };
                self.state = if size == 0 {
                    State::Header
                } else {
                    State::Meta {
                        kind: meta,
                        left: size,
                        pad: padded - size,
                    }
                };
                return Ok(());
            }
            b'g' => return Err("a global PAX header, which jitgate does not read".to_owned()),
            _ => {}
        }
        let name = match self.next_name.take() {
            Some(n) => n,
            None => header_name(block),
        };
        let link = self
            .next_link
            .take()
            .unwrap_or_else(|| cstr(&block[157..257]).to_vec());
        let shown = String::from_utf8_lossy(&name).into_owned();
        let path = self.inside(&name, "member")?;
        match kind {
            b'0' | 0 | b'7' | b'5' => {}
            b'2' => {
                if link.first() == Some(&b'/') {
                    return Err(format!(
                        "the symbolic link {shown} points to the absolute path {}",
                        String::from_utf8_lossy(&link)
                    ));
                }
                // Only links that descend: `..` resolves through whatever the components
                // before it are in the container (`d -> .` makes `d/..` the parent), so it
                // cannot be checked from names alone, and links built on links could climb out.
                if link.split(|b| *b == b'/').any(|part| part == b"..") {
                    return Err(format!(
                        "the symbolic link {shown} points to {}, with `..`, which could lead \
                         outside {} (only links that stay below their own directory are \
                         uploaded)",
                        String::from_utf8_lossy(&link),
                        self.dir
                    ));
                }
                self.symlinks.insert(path.clone());
            }
            b'1' => {
                self.inside(&link, "hard link target")
                    .map_err(|why| format!("the hard link {shown}: {why}"))?;
            }
            b'3' | b'4' => return Err(format!("{shown} is a device node")),
            b'6' => return Err(format!("{shown} is a FIFO")),
            b'S' => {
                return Err(format!(
                    "{shown} is a sparse file, which jitgate does not read"
                ));
            }
            other => {
                return Err(format!(
                    "{shown} has the member type {:?}, which jitgate does not know",
                    char::from(other)
                ));
            }
        }
        self.members += 1;
        self.state = if padded == 0 {
            State::Header
        } else {
            State::Skip(padded)
        };
        Ok(())
    }

    /// A name relative to the directory, normalised, that stays inside it and passes no
    /// symbolic link of this archive.
    fn inside(&self, name: &[u8], what: &str) -> Result<Vec<u8>, String> {
        let shown = String::from_utf8_lossy(name);
        if name.is_empty() || name.contains(&0) {
            return Err(format!("a {what} with an empty or broken name"));
        }
        if name.first() == Some(&b'/') {
            return Err(format!("the {what} {shown} is an absolute path"));
        }
        let mut parts: Vec<&[u8]> = Vec::new();
        for part in name.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => return Err(format!("the {what} {shown} climbs out with `..`")),
                p => parts.push(p),
            }
        }
        // tar would write through a link an earlier member of this upload placed.
        for end in 1..parts.len() {
            let above = parts[..end].join(&b'/');
            if self.symlinks.contains(&above) {
                return Err(format!(
                    "the {what} {shown} lies below the symbolic link {} of the same upload",
                    String::from_utf8_lossy(&above)
                ));
            }
        }
        if parts.is_empty() {
            return Err(format!("the {what} {shown} names no file"));
        }
        Ok(parts.join(&b'/'))
    }

    fn meta(&mut self, kind: Meta, record: &[u8]) -> Result<(), String> {
        match kind {
            Meta::LongName => self.next_name = Some(cstr(record).to_vec()),
            Meta::LongLink => self.next_link = Some(cstr(record).to_vec()),
            Meta::Pax => {
                let mut rest = record;
                while !rest.is_empty() {
                    let space = rest
                        .iter()
                        .position(|b| *b == b' ')
                        .ok_or("a PAX record without its length")?;
                    let len: usize = std::str::from_utf8(&rest[..space])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .filter(|len| *len > space + 1 && *len <= rest.len())
                        .ok_or("a PAX record with a broken length")?;
                    let body = &rest[space + 1..len];
                    let body = body
                        .strip_suffix(b"\n")
                        .ok_or("a PAX record without its newline")?;
                    let eq = body
                        .iter()
                        .position(|b| *b == b'=')
                        .ok_or("a PAX record without `=`")?;
                    let (key, value) = (&body[..eq], &body[eq + 1..]);
                    match key {
                        b"path" => self.next_name = Some(value.to_vec()),
                        b"linkpath" => self.next_link = Some(value.to_vec()),
                        b"size" => {
                            self.next_size = Some(
                                std::str::from_utf8(value)
                                    .ok()
                                    .and_then(|s| s.parse().ok())
                                    .ok_or("a PAX size that is not a number")?,
                            );
                        }
                        k if k.starts_with(b"GNU.sparse") => {
                            return Err("a sparse file, which jitgate does not read".to_owned());
                        }
                        _ => {}
                    }
                    rest = &rest[len..];
                }
            }
        }
        Ok(())
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The bytes before the first NUL.
fn cstr(field: &[u8]) -> &[u8] {
    field.split(|b| *b == 0).next().unwrap_or_default()
}

/// The name field, with the USTAR prefix when the header is POSIX USTAR (GNU headers use that
/// area for other fields).
fn header_name(block: &[u8]) -> Vec<u8> {
    let name = cstr(&block[0..100]);
    let ustar = &block[257..263] == b"ustar\0";
    let prefix = cstr(&block[345..500]);
    if ustar && !prefix.is_empty() {
        [prefix, b"/", name].concat()
    } else {
        name.to_vec()
    }
}

/// An octal field (spaces and NULs around it), or GNU's base-256 form.
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut value: u64 = u64::from(field[0] & 0x3f);
        for b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(value);
    }
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c| c == ' ' || c == '\0');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn checksum_ok(block: &[u8]) -> bool {
    let Some(stored) = number(&block[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header block in the USTAR layout, checksummed.
    fn header(name: &str, kind: u8, size: u64, link: &str) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[100..108].copy_from_slice(b"0000644\0");
        b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        b[156] = kind;
        b[157..157 + link.len()].copy_from_slice(link.as_bytes());
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        let sum: u64 = b
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(*x)
                }
            })
            .sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        b
    }

    fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = header(name, b'0', data.len() as u64, "");
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    fn pax(records: &[(&str, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (k, v) in records {
            let tail = format!(" {k}={v}\n");
            let mut len = tail.len() + 1;
            while format!("{len}").len() + tail.len() != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len}{tail}").as_bytes());
        }
        let mut out = header("PaxHeaders/x", b'x', body.len() as u64, "");
        out.extend_from_slice(&body);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    fn end() -> Vec<u8> {
        vec![0u8; 2 * BLOCK]
    }

    /// Fed in every chunking — one byte at a time, 7 bytes, whole — the verdict is the same.
    fn verdict(archive: &[u8]) -> Result<u64, String> {
        let mut results = Vec::new();
        for chunk in [1, 7, 511, 513, archive.len().max(1)] {
            let mut w = UploadWatch::new("/tmp/d");
            let r = archive
                .chunks(chunk)
                .try_for_each(|c| w.push(c))
                .map(|()| w.members());
            results.push(r);
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
        results.remove(0)
    }

    #[test]
    fn kubectl_uploads_pass() {
        let archive = [
            header("dir/", b'5', 0, ""),
            member("dir/f", b"hello"),
            header("dir/rel", b'2', 0, "f"),
            header("dir/here", b'2', 0, "./sub/f"),
            header("dir/hard", b'1', 0, "dir/f"),
            pax(&[
                ("path", &format!("dir/{}", "n".repeat(150))),
                ("mtime", "1.5"),
            ]),
            member("ignored-short-name", &[7u8; 1000]),
            end(),
        ]
        .concat();
        assert_eq!(verdict(&archive), Ok(6));
    }

    #[test]
    fn members_that_leave_the_directory_are_refused() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (member("../escape", b"x"), "climbs out with `..`"),
            (member("a/../../escape", b"x"), "climbs out"),
            (member("/etc/passwd", b"x"), "is an absolute path"),
            (
                header("l", b'2', 0, "/etc"),
                "points to the absolute path /etc",
            ),
            (
                header("d/l", b'2', 0, "../../etc"),
                "with `..`, which could lead outside /tmp/d",
            ),
            // `d -> .` then `x -> d/..`: names alone say inside, the kernel says the parent.
            (
                [header("d", b'2', 0, "."), header("x", b'2', 0, "d/..")].concat(),
                "the symbolic link x points to d/.., with `..`",
            ),
            (
                header("h", b'1', 0, "/etc/shadow"),
                "the hard link h: the hard link target /etc/shadow is an absolute path",
            ),
            (header("h", b'1', 0, "../x"), "climbs out"),
            (
                [header("l", b'2', 0, "sub"), member("l/passwd", b"x")].concat(),
                "lies below the symbolic link l",
            ),
            (
                [
                    pax(&[("path", "../../etc/cron.d/x")]),
                    member("innocent", b"x"),
                ]
                .concat(),
                "the member ../../etc/cron.d/x climbs out",
            ),
            (
                [
                    pax(&[("linkpath", "/etc/shadow")]),
                    header("h", b'1', 0, "ok"),
                ]
                .concat(),
                "is an absolute path",
            ),
            (header("dev", b'3', 0, ""), "is a device node"),
            (header("fifo", b'6', 0, ""), "is a FIFO"),
            (header("g", b'g', 0, ""), "global PAX header"),
            (header("odd", b'Z', 0, ""), "member type 'Z'"),
            (
                [member("f", b"x"), end(), member("../late", b"x")].concat(),
                "data follows the end",
            ),
        ];
        for (archive, needle) in cases {
            let err = verdict(&archive).expect_err(needle);
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(err.starts_with("upload into /tmp/d refused"), "{err}");
        }
    }

    #[test]
    fn a_header_tar_would_not_trust_is_refused() {
        let mut broken = member("f", b"x");
        broken[0] = b'g';
        let err = verdict(&broken).expect_err("bad checksum");
        assert!(err.contains("checksum is wrong"), "{err}");
    }

    proptest::proptest! {
        /// Any stream, cut anywhere, is decided without a panic; headers with valid checksums
        /// and arbitrary fields reach the deeper checks.
        #[test]
        fn any_stream_is_decided(
            members in proptest::collection::vec(
                (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
                 proptest::prelude::any::<u8>(),
                 0u64..2000,
                 proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)),
                0..6,
            ),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            chunk in 1usize..700,
        ) {
            let mut archive = Vec::new();
            for (name, kind, size, link) in &members {
                let mut b = header("", *kind, *size, "");
                b[..name.len()].copy_from_slice(name);
                b[157..157 + link.len()].copy_from_slice(link);
                let sum: u64 = b
                    .iter()
                    .enumerate()
                    .map(|(i, x)| if (148..156).contains(&i) { 32 } else { u64::from(*x) })
                    .sum();
                b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
                archive.extend_from_slice(&b);
                archive.extend(std::iter::repeat_n(b'x', usize::try_from(*size).unwrap_or(0)));
            }
            archive.extend_from_slice(&noise);
            let mut w = UploadWatch::new("/tmp/d");
            for c in archive.chunks(chunk) {
                if w.push(c).is_err() {
                    proptest::prop_assert!(w.push(b"more").is_err());
                    break;
                }
            }
        }
    }

    /// The refusal comes with the block that completes the bad header, not later: nothing of
    /// the member reaches tar, and every later push fails.
    #[test]
    fn the_refusal_comes_before_the_bad_header_is_complete() {
        let good = member("ok", b"fine");
        let bad = member("../bad", b"x");
        let mut w = UploadWatch::new("/tmp/d");
        assert!(w.push(&good).is_ok());
        assert!(
            w.push(&bad[..511]).is_ok(),
            "an incomplete header is harmless"
        );
        assert!(w.push(&bad[511..512]).is_err());
        assert!(w.push(&[0u8; 10]).is_err());
    }
}
