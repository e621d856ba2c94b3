//! The project's one non-cryptographic hash: 64-bit FNV-1a, streamed.
//!
//! Used where a stable fingerprint is wanted without a dependency: the training data hash in a
//! bundle's provenance, a checkpoint's fingerprint of options and data, the per-parameter random
//! streams of a fresh model, and tests that compare large outputs without keeping them. Stable
//! across platforms and versions; not for anything an adversary chooses.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a over bytes fed in any number of pieces. Also an [`std::io::Write`] sink, so a
/// writer's whole output can be hashed without holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(OFFSET)
    }
}

impl Fnv {
    /// The hash of `bytes` in one go.
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = Self::default();
        h.bytes(bytes);
        h
    }

    /// Feeds bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(PRIME);
        }
    }

    /// Feeds a `u64` as its 8 little-endian bytes.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// The hash value.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// The hash as a tagged hex string, `fnv1a64:` and 16 hex digits (what provenance and
    /// checkpoints store).
    pub fn finish(&self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

impl std::io::Write for Fnv {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Fnv;

    #[test]
    fn known_values_and_streaming() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(Fnv::of(b"").value(), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv::of(b"a").value(), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv::of(b"foobar").value(), 0x8594_4171_f739_67e8);
        let mut h = Fnv::default();
        h.bytes(b"foo");
        h.bytes(b"bar");
        assert_eq!(h, Fnv::of(b"foobar"));
        assert_eq!(h.finish(), "fnv1a64:85944171f73967e8");
        let mut w = Fnv::default();
        std::io::Write::write_all(&mut w, b"foobar").unwrap_or_default();
        assert_eq!(w, h);
        let mut n = Fnv::default();
        n.u64(1);
        assert_eq!(n, Fnv::of(&[1, 0, 0, 0, 0, 0, 0, 0]));
    }
}
