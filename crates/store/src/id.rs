//! Minting the ids of stored records (the id types themselves live in `jitgate-ids`).

use crate::StoreError;

/// Four bytes from the operating system's random number generator, for a new id.
pub(crate) fn random_bytes() -> Result<[u8; 4], StoreError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GrantId, RequestId};

    #[test]
    fn minted_ids_parse_back_and_differ() {
        let a = GrantId::from_random_bytes(random_bytes().expect("random"));
        let b = GrantId::from_random_bytes(random_bytes().expect("random"));
        assert_eq!(GrantId::parse(a.as_str()).expect("parses"), a);
        assert_ne!(a, b, "two draws of 32 random bits should differ");
        let r = RequestId::from_random_bytes(random_bytes().expect("random"));
        assert_eq!(RequestId::parse(r.as_str()).expect("parses"), r);
    }
}
