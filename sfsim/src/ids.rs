//! Salesforce-shaped ids and tokens.

use rand::Rng;

const CHECKSUM: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The 18-character form of a 15-character id.
pub fn to18(id15: &str) -> String {
    let mut out = id15.to_owned();
    for chunk in id15.as_bytes().chunks(5) {
        let mut mask = 0usize;
        for (i, b) in chunk.iter().enumerate() {
            if b.is_ascii_uppercase() {
                mask |= 1 << i;
            }
        }
        out.push(char::from(CHECKSUM[mask]));
    }
    out
}

/// Normalises a 15- or 18-character id to 18 characters (no validation beyond length).
pub fn norm18(id: &str) -> String {
    if id.len() == 15 {
        to18(id)
    } else {
        id.to_owned()
    }
}

/// `n` in base 62, left-padded with `0` to `width` digits (wrapping beyond 62^width).
pub fn base62(mut n: usize, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = ALNUM_SORTED[n % 62];
        n /= 62;
    }
    String::from_utf8(out).unwrap_or_default()
}

const ALNUM_SORTED: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random alphanumerics.
pub fn random(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(ALNUM[rng.gen_range(0..ALNUM.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_user_ids_stay_15_characters() {
        for n in [1, 61, 62, 999, 1000, 14_776_335] {
            assert_eq!(super::base62(n, 4).len(), 4);
        }
        assert_eq!(super::base62(62, 4), "0010");
    }

    #[test]
    fn checksum_matches_a_known_id() {
        assert_eq!(super::to18("00D4c0000008cs2"), "00D4c0000008cs2EAA");
    }
}
