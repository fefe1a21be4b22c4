//! Node, cluster and job IDs: generation and the node-ID rules (spec §1).

/// Random alphanumeric string starting with a letter (node IDs, cluster UUID, job IDs).
pub fn random_id(len: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; len];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if ok.is_err() {
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7)
            ^ (u64::from(std::process::id()) << 32);
        for b in &mut bytes {
            x = engine::hrw::mix(x);
            *b = x as u8;
        }
    }
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| if i == 0 { LETTERS[*b as usize % LETTERS.len()] } else { ALNUM[*b as usize % ALNUM.len()] } as char)
        .collect()
}

/// Node ID rules (spec §1): at least 8 chars, starts with a letter, alphanumeric plus `-_`.
pub fn valid_node_id(id: &str) -> bool {
    id.len() >= 8
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphabetic()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids() {
        for _ in 0..100 {
            assert!(valid_node_id(&random_id(8)));
        }
        assert!(!valid_node_id("1abcdefg"));
        assert!(!valid_node_id("short"));
        assert!(!valid_node_id("abc def gh"));
    }
}
