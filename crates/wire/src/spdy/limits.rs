//! Size limits on everything a SPDY peer controls.

/// The largest length a frame header can express (24 bits, §2.2).
pub const MAX_FRAME_LEN: u32 = 0x00ff_ffff;

/// Limits the decoder enforces on what the peer sends, and the encoder on what it writes (so an
/// encoder and a decoder with the same limits always agree).
///
/// The defaults fit Kubernetes streams with a wide margin: kubectl's SYN_STREAMs carry one to
/// three short headers, and its DATA frames are at most 32 KiB (an `io.Copy` buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest DATA payload. Default: [`MAX_FRAME_LEN`] (16 MiB − 1), all the wire can express;
    /// the decoder holds at most one frame, so this is also its buffering bound.
    pub max_data_frame_len: u32,
    /// Largest control frame payload (SYN_STREAM and friends, compressed). Default 64 KiB.
    pub max_control_frame_len: u32,
    /// Largest header block after decompression. Default 256 KiB.
    pub max_header_block_len: u32,
    /// Most name/value pairs in one header block. Default 100.
    pub max_headers: u32,
    /// Longest header name. Default 256 bytes.
    pub max_header_name_len: u32,
    /// Longest header value (all its NUL-separated values together). Default 64 KiB.
    pub max_header_value_len: u32,
}

impl Limits {
    /// The default limits.
    pub const DEFAULT: Limits = Limits {
        max_data_frame_len: MAX_FRAME_LEN,
        max_control_frame_len: 64 * 1024,
        max_header_block_len: 256 * 1024,
        max_headers: 100,
        max_header_name_len: 256,
        max_header_value_len: 64 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
