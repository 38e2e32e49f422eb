//! The zlib dictionary for SPDY/3 header blocks (draft 3, §2.6.10.1): the 1,423 bytes both peers
//! prime their compression contexts with. Data table transcribed from the specification (same bytes
//! as moby/spdystream's `spdy/dictionary.go`); its Adler-32 is the dictionary id kubectl's zlib
//! stream announces (`0xe3c6a7c2`).

/// The SPDY/3 header compression dictionary.
pub const SPDY3_DICTIONARY: &[u8; 1423] = DICTIONARY;

/// Adler-32 of [`SPDY3_DICTIONARY`]: the `DICTID` a zlib stream with a preset SPDY/3 dictionary
/// carries in its header (RFC 1950 §2.2).
pub const SPDY3_DICTIONARY_ID: u32 = 0xe3c6_a7c2;

#[rustfmt::skip]
const DICTIONARY: &[u8; 1423] =
    b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\
      \x00\x00\x00\x03put\x00\x00\x00\x06delete\x00\x00\x00\x05trace\
      \x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-charset\x00\x00\x00\x0faccept-encoding\
      \x00\x00\x00\x0faccept-language\x00\x00\x00\x0daccept-ranges\x00\x00\x00\x03age\
      \x00\x00\x00\x05allow\x00\x00\x00\x0dauthorization\x00\x00\x00\x0dcache-control\
      \x00\x00\x00\x0aconnection\x00\x00\x00\x0ccontent-base\x00\x00\x00\x10content-encodi\
      ng\x00\x00\x00\x10content-language\x00\x00\x00\x0econtent-length\
      \x00\x00\x00\x10content-location\x00\x00\x00\x0bcontent-md5\x00\x00\x00\x0dcontent-r\
      ange\x00\x00\x00\x0ccontent-type\x00\x00\x00\x04date\x00\x00\x00\x04etag\
      \x00\x00\x00\x06expect\x00\x00\x00\x07expires\x00\x00\x00\x04from\
      \x00\x00\x00\x04host\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since\
      \x00\x00\x00\x0dif-none-match\x00\x00\x00\x08if-range\x00\x00\x00\x13if-unmodified-s\
      ince\x00\x00\x00\x0dlast-modified\x00\x00\x00\x08location\x00\x00\x00\x0cmax-forward\
      s\x00\x00\x00\x06pragma\x00\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-autho\
      rization\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretry-after\
      \x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07trailer\
      \x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade\x00\x00\x00\x0auser-agent\
      \x00\x00\x00\x04vary\x00\x00\x00\x03via\x00\x00\x00\x07warning\
      \x00\x00\x00\x10www-authenticate\x00\x00\x00\x06method\x00\x00\x00\x03get\
      \x00\x00\x00\x06status\x00\x00\x00\x06200 OK\x00\x00\x00\x07version\
      \x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url\x00\x00\x00\x06public\
      \x00\x00\x00\x0aset-cookie\x00\x00\x00\x0akeep-alive\x00\x00\x00\x06origin1001012012\
      02205206300302303304305306307402405406407408409410411412413414415416417502504505203 \
      Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 U\
      nauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 \
      Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tu\
      e, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,appli\
      cation/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzi\
      p,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
