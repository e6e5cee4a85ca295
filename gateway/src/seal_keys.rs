//! Keys of native-protocol seal readers (`docs/protocol.md`): one `SEAL=KEY` a line.
//!
//! `SEAL` is the seal id as 16 hex digits or `mmmm-ssssssssssss`, `KEY` its 32-byte key as
//! 64 hex digits; blank lines and lines starting with `#` are skipped. Used by
//! `decode seal --keys` and by the service's `keys_file` for native sources.
//!
//! Invariant: a [`SealKeys`] never shows its keys — its `Debug` prints only the count,
//! so a logged configuration leaks nothing.

/// Native seal keys, as `(seal id, key)`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SealKeys(pub Vec<(u64, [u8; 32])>);

impl std::fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKeys({} keys)", self.0.len())
    }
}

/// Parses one `SEAL=KEY`.
///
/// # Errors
/// A message saying what is wrong with it.
pub fn parse_key(s: &str) -> Result<(u64, [u8; 32]), String> {
    let (seal, key) = s.split_once('=').ok_or("expected SEAL=KEY")?;
    let seal = u64::from_str_radix(&seal.replace('-', ""), 16)
        .map_err(|e| format!("seal id `{seal}`: {e}"))?;
    if key.len() != 64 {
        return Err("the key must be 64 hex digits (32 bytes)".into());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        let hex = key
            .get(2 * i..2 * i + 2)
            .ok_or("the key must be hex digits")?;
        *b = u8::from_str_radix(hex, 16).map_err(|e| format!("key: {e}"))?;
    }
    Ok((seal, out))
}

/// Parses a keys file's text.
///
/// # Errors
/// `line N: …` for the first bad line.
pub fn parse_keys(text: &str) -> Result<SealKeys, String> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(parse_key(line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(SealKeys(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_keys_file_and_redacted_debug() {
        let text = format!(
            "# reader keys\n\n0042-000000001234={}\n0000000000000007={}\n",
            "11".repeat(32),
            "ab".repeat(32)
        );
        let keys = parse_keys(&text).unwrap();
        assert_eq!(keys.0.len(), 2);
        assert_eq!(keys.0[0].0, 0x0042_0000_0000_1234);
        assert_eq!(keys.0[1].1, [0xab; 32]);
        assert_eq!(format!("{keys:?}"), "SealKeys(2 keys)");
        assert_eq!(
            parse_keys("7=12").unwrap_err(),
            "line 1: the key must be 64 hex digits (32 bytes)"
        );
        assert!(
            parse_keys(&format!("x={}", "11".repeat(32)))
                .unwrap_err()
                .starts_with("line 1: seal id `x`")
        );
        assert!(
            parse_keys(&format!("7={}é", "1".repeat(62))).is_err(),
            "no panic on non-ASCII"
        );
    }
}
