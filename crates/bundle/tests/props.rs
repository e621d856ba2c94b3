//! `Bundle::from_bytes` on random bytes and on random mutations of good bundles: it may accept
//! or reject, but never panics, and whatever it accepts is complete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use common::*;
use leadladder_bundle::{Bundle, StoreDtype};
use proptest::prelude::*;
use proptest::sample::Index;

fn goods() -> &'static [Vec<u8>; 3] {
    static G: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    G.get_or_init(|| {
        [
            good_bundle(StoreDtype::F32),
            good_bundle(StoreDtype::F16),
            good_bundle(StoreDtype::Int8),
        ]
    })
}

#[derive(Debug, Clone)]
enum Op {
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    HeaderLen(u64),
    /// Replace one ASCII digit of the JSON header with another (keeps the JSON well-formed, so
    /// shapes, offsets and config numbers change).
    Digit(Index, u8),
    /// Swap two bytes of the JSON header.
    SwapHeader(Index, Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Op::Flip(i, x)),
        any::<Index>().prop_map(Op::Truncate),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Op::Insert(i, v)),
        (any::<Index>(), 1..64usize).prop_map(|(i, n)| Op::Delete(i, n)),
        any::<u64>().prop_map(Op::HeaderLen),
        (any::<Index>(), 0..10u8).prop_map(|(i, d)| Op::Digit(i, d)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Op::SwapHeader(a, b)),
    ]
}

fn header_len(b: &[u8]) -> usize {
    b.get(..8)
        .map(|h| u64::from_le_bytes(h.try_into().unwrap()) as usize)
        .unwrap_or(0)
        .min(b.len().saturating_sub(8))
}

fn apply(bytes: &mut Vec<u8>, op: &Op) {
    if bytes.is_empty() {
        return;
    }
    match op {
        Op::Flip(i, x) => {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        Op::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Op::Insert(i, v) => {
            let i = i.index(bytes.len() + 1);
            bytes.splice(i..i, v.iter().copied());
        }
        Op::Delete(i, n) => {
            let i = i.index(bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Op::HeaderLen(n) => {
            if bytes.len() >= 8 {
                bytes[..8].copy_from_slice(&n.to_le_bytes());
            }
        }
        Op::Digit(i, d) => {
            let n = header_len(bytes);
            let digits: Vec<usize> = (8..8 + n).filter(|&j| bytes[j].is_ascii_digit()).collect();
            if !digits.is_empty() {
                bytes[digits[i.index(digits.len())]] = b'0' + d;
            }
        }
        Op::SwapHeader(a, b) => {
            let n = header_len(bytes);
            if n > 0 {
                bytes.swap(8 + a.index(n), 8 + b.index(n));
            }
        }
    }
}

fn check(bytes: &[u8]) {
    if let Ok(b) = Bundle::from_bytes(bytes) {
        assert_eq!(b.tensors.len(), b.config.model.expected_tensors().len());
        for (shape, values) in b.tensors.to_f32().values() {
            assert_eq!(shape.iter().product::<usize>(), values.len());
            assert!(values.iter().all(|x| x.is_finite()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        prop_assert!(Bundle::from_bytes(&bytes).is_err());
    }

    #[test]
    fn random_header_never_panics(len in 0u64..512, body in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend_from_slice(&body);
        check(&bytes);
    }

    #[test]
    fn mutated_bundles_never_panic(which in 0..3usize, ops in prop::collection::vec(op(), 1..6)) {
        let mut bytes = goods()[which].clone();
        for o in &ops {
            apply(&mut bytes, o);
        }
        check(&bytes);
    }
}
