//! Random names and payloads, so that concurrent runs never collide and data cannot be faked.

/// `len` random lowercase letters and digits, starting with a letter (valid in DNS labels).
pub fn random_name(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|i| {
            let bound = if i == 0 { 26 } else { ALPHABET.len() };
            char::from(ALPHABET[fastrand::usize(..bound)])
        })
        .collect()
}

/// `len` random bytes.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    fastrand::fill(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_label_safe_and_differ() {
        let a = random_name(8);
        assert_eq!(a.len(), 8);
        assert!(a.starts_with(|c: char| c.is_ascii_lowercase()));
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_ne!(a, random_name(8));
    }

    #[test]
    fn bytes_have_the_length_asked_for() {
        let b = random_bytes(1 << 20);
        assert_eq!(b.len(), 1 << 20);
        assert_ne!(b, vec![0u8; 1 << 20]);
    }
}
