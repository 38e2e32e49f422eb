//! Header block compression (SPDY draft 3 §2.6.10.1, unchanged in 3.1): one zlib stream per
//! direction of a connection, primed with the SPDY/3 dictionary, flushed with `Z_SYNC_FLUSH`
//! after every header block and never reset.
//!
//! Because the stream is stateful, every header block the peer sends must pass through the same
//! [`HeaderDecompressor`] in order, and every block we send through the same
//! [`HeaderCompressor`].

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::SpdyError;
use super::dictionary::{SPDY3_DICTIONARY, SPDY3_DICTIONARY_ID};

/// Output is produced in chunks of this size, so the limit check runs before memory grows.
const CHUNK: usize = 8 * 1024;

/// The sending side's zlib stream.
pub(crate) struct HeaderCompressor {
    zlib: Compress,
}

impl std::fmt::Debug for HeaderCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCompressor")
            .field("total_in", &self.zlib.total_in())
            .field("total_out", &self.zlib.total_out())
            .finish()
    }
}

impl HeaderCompressor {
    pub(crate) fn new() -> Result<HeaderCompressor, SpdyError> {
        let mut zlib = Compress::new(Compression::default(), true);
        zlib.set_dictionary(SPDY3_DICTIONARY)
            .map_err(SpdyError::Compress)?;
        Ok(HeaderCompressor { zlib })
    }

    /// Compresses one header block onto `out`, ending at a sync-flush boundary.
    pub(crate) fn compress(&mut self, block: &[u8], out: &mut Vec<u8>) -> Result<(), SpdyError> {
        let start_in = self.zlib.total_in();
        loop {
            let consumed = usize::try_from(self.zlib.total_in() - start_in).unwrap_or(usize::MAX);
            let rest = block.get(consumed..).unwrap_or_default();
            out.reserve(rest.len() / 2 + 64);
            let (before_in, before_out) = (self.zlib.total_in(), self.zlib.total_out());
            let status = self
                .zlib
                .compress_vec(rest, out, FlushCompress::Sync)
                .map_err(SpdyError::Compress)?;
            let progressed =
                self.zlib.total_in() != before_in || self.zlib.total_out() != before_out;
            let all_in = self.zlib.total_in() - start_in == block.len() as u64;
            // zlib has finished the flush once it stops short of filling the output buffer.
            if all_in && (out.len() < out.capacity() || status == Status::BufError) {
                return Ok(());
            }
            if !progressed {
                return Err(SpdyError::CompressStalled);
            }
        }
    }
}

/// The receiving side's zlib stream.
pub(crate) struct HeaderDecompressor {
    zlib: Decompress,
    chunk: Box<[u8; CHUNK]>,
}

impl std::fmt::Debug for HeaderDecompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDecompressor")
            .field("total_in", &self.zlib.total_in())
            .field("total_out", &self.zlib.total_out())
            .finish()
    }
}

impl HeaderDecompressor {
    pub(crate) fn new() -> HeaderDecompressor {
        HeaderDecompressor {
            zlib: Decompress::new(true),
            chunk: Box::new([0; CHUNK]),
        }
    }

    /// Decompresses one frame's header bytes, refusing to produce more than `limit` bytes.
    pub(crate) fn decompress(&mut self, input: &[u8], limit: usize) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::new();
        let start_in = self.zlib.total_in();
        loop {
            let consumed = usize::try_from(self.zlib.total_in() - start_in).unwrap_or(usize::MAX);
            let rest = input.get(consumed..).unwrap_or_default();
            let (before_in, before_out) = (self.zlib.total_in(), self.zlib.total_out());
            let result = self
                .zlib
                .decompress(rest, &mut self.chunk[..], FlushDecompress::Sync);
            let produced = usize::try_from(self.zlib.total_out() - before_out).unwrap_or(CHUNK);
            let chunk = self.chunk.get(..produced).unwrap_or_default();
            if out.len() + chunk.len() > limit {
                return Err(SpdyError::HeaderBlockTooLarge { max: limit });
            }
            out.extend_from_slice(chunk);
            let progressed = self.zlib.total_in() != before_in || produced != 0;
            match result {
                Ok(Status::Ok | Status::BufError) => {}
                Ok(Status::StreamEnd) => return Err(SpdyError::CompressionStreamEnded),
                Err(err) => match err.needs_dictionary() {
                    Some(SPDY3_DICTIONARY_ID) => {
                        self.zlib
                            .set_dictionary(SPDY3_DICTIONARY)
                            .map_err(SpdyError::Decompress)?;
                        continue;
                    }
                    Some(id) => return Err(SpdyError::WrongDictionary { id }),
                    None => return Err(SpdyError::Decompress(err)),
                },
            }
            let all_in = self.zlib.total_in() - start_in == input.len() as u64;
            // Done once all input is in and zlib had room to spare: nothing is left pending.
            if all_in && produced < CHUNK {
                return Ok(out);
            }
            if !progressed {
                // Input left over that zlib will not take: not a well-formed stream.
                return Err(SpdyError::MalformedHeaderBlock {
                    reason: "compressed bytes that zlib will not consume",
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for byte in data {
            a = (a + u32::from(*byte)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    #[test]
    fn dictionary_is_the_one_kubectl_announces() {
        assert_eq!(SPDY3_DICTIONARY.len(), 1423);
        assert_eq!(adler32(SPDY3_DICTIONARY), SPDY3_DICTIONARY_ID);
        assert!(SPDY3_DICTIONARY.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
        assert!(SPDY3_DICTIONARY.ends_with(b"charset=iso-8859-1,utf-,*,enq=0."));
    }

    #[test]
    fn blocks_share_one_stream() {
        let mut tx = HeaderCompressor::new().expect("compressor");
        let mut rx = HeaderDecompressor::new();
        let blocks: [&[u8]; 3] = [b"first block", b"", b"first block again, cheaper"];
        let mut sizes = Vec::new();
        for block in blocks {
            let mut wire = Vec::new();
            tx.compress(block, &mut wire).expect("compress");
            sizes.push(wire.len());
            assert_eq!(rx.decompress(&wire, 1024).expect("decompress"), block);
        }
        // The first block carries the zlib header with the dictionary id (RFC 1950 FDICT).
        assert!(sizes[0] > 6);
    }

    #[test]
    fn stops_at_the_limit() {
        let mut tx = HeaderCompressor::new().expect("compressor");
        let mut rx = HeaderDecompressor::new();
        let bomb = vec![b'a'; 1 << 20];
        let mut wire = Vec::new();
        tx.compress(&bomb, &mut wire).expect("compress");
        assert!(wire.len() < 4096, "a megabyte of 'a' compresses well");
        assert!(matches!(
            rx.decompress(&wire, 64 * 1024),
            Err(SpdyError::HeaderBlockTooLarge { max: 65536 })
        ));
    }

    #[test]
    fn refuses_other_dictionaries() {
        let mut zlib = Compress::new(Compression::default(), true);
        zlib.set_dictionary(b"not the spdy dictionary")
            .expect("dictionary");
        let mut wire = Vec::with_capacity(256);
        zlib.compress_vec(b"x", &mut wire, FlushCompress::Sync)
            .expect("compress");
        let mut rx = HeaderDecompressor::new();
        assert!(matches!(
            rx.decompress(&wire, 1024),
            Err(SpdyError::WrongDictionary { .. })
        ));
    }
}
