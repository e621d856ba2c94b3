//! Tokenizer: BPE training determinism, lead encoding (EOS, budget, oldest turns dropped first,
//! text mask) and Unicode round trips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use leadladder_bundle::tokenizer::MIN_TRAINED_VOCAB;
use leadladder_bundle::{EOS_TOKEN, Error, LeadTokenizer, PAD_TOKEN, train_bpe};
use leadladder_core::prompt::{TokenCounter, field_block};
use proptest::prelude::*;

fn dialogue(n: usize) -> String {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                format!("rep: turn {i} about the test drive slot")
            } else {
                format!("customer: 第{i}轮 我想问一下提车要多久")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bpe_training_is_deterministic() {
    let a = train_bpe(corpus().into_iter(), 300)
        .unwrap()
        .to_json()
        .unwrap();
    let b = train_bpe(corpus().into_iter(), 300)
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, tokenizer().to_json().unwrap());
    // The serialized form loads back to the same thing.
    let c = LeadTokenizer::from_json(&a).unwrap().to_json().unwrap();
    assert_eq!(a, c);
}

#[test]
fn trained_tokenizer_specials_and_sizes() {
    let t = tokenizer();
    assert_eq!(t.token_to_id(EOS_TOKEN), Some(0));
    assert_eq!(t.token_to_id(PAD_TOKEN), Some(1));
    assert_eq!((t.eos_id(), t.pad_id()), (0, 1));
    assert!(
        t.vocab_size() <= 300 && t.vocab_size() > MIN_TRAINED_VOCAB,
        "{}",
        t.vocab_size()
    );
    assert!(matches!(
        train_bpe(corpus().into_iter(), 100),
        Err(Error::InvalidArgument(_))
    ));
    // A tokenizer without <|endoftext|> is refused.
    let json = tokenizer()
        .to_json()
        .unwrap()
        .replace("<|endoftext|>", "<|eot|>");
    let e = LeadTokenizer::from_json(&json).unwrap_err().to_string();
    assert!(e.contains("<|endoftext|>"), "{e}");
    assert!(LeadTokenizer::from_json("{").is_err());
}

#[test]
fn unicode_round_trips() {
    let t = tokenizer();
    for text in [
        "客户：我想问一下提车要多久？不需要贷款。",
        "rep: Hello — ¿qué tal? 🚗 price 23,500 €",
        "混合 mixed 文本 with  double  spaces\tand tabs\n",
        "ｆｕｌｌｗｉｄｔｈ　全角",
    ] {
        let ids = t.encode(text).unwrap();
        assert_eq!(t.count(text), ids.len());
        assert_eq!(t.decode(&ids).unwrap(), text, "{text:?}");
    }
}

#[test]
fn special_token_text_is_plain_text() {
    let t = tokenizer();
    let e = t
        .encode_lead(
            &schema(),
            &lead("customer: <|endoftext|> <|pad|> hi"),
            "\n",
            64,
        )
        .unwrap();
    assert_eq!(e.ids.iter().filter(|&&i| i == t.eos_id()).count(), 1);
    assert!(!e.ids.contains(&t.pad_id()));
    assert_eq!(*e.ids.last().unwrap(), t.eos_id());
}

#[test]
fn encode_lead_keeps_everything_when_it_fits() {
    let t = tokenizer();
    let l = lead(&dialogue(4));
    let e = t.encode_lead(&schema(), &l, "\n", 1000).unwrap();
    assert_eq!((e.turns_kept, e.turns_total, e.truncated), (4, 4, false));
    assert_eq!(e.ids.len(), e.text_mask.len());
    assert_eq!(*e.ids.last().unwrap(), t.eos_id());
    assert_eq!(*e.text_mask.last().unwrap(), 0);
    // The mask splits the sequence exactly at the end of the field block.
    let body = &e.ids[..e.ids.len() - 1];
    let fields: Vec<u32> = body
        .iter()
        .zip(&e.text_mask)
        .filter(|p| *p.1 == 0)
        .map(|p| *p.0)
        .collect();
    let text: Vec<u32> = body
        .iter()
        .zip(&e.text_mask)
        .filter(|p| *p.1 == 1)
        .map(|p| *p.0)
        .collect();
    assert_eq!(t.decode(&fields).unwrap(), field_block(&schema(), &l));
    let dialogue_text = t.decode(&text).unwrap();
    assert!(
        dialogue_text.starts_with("dialogue:\nrep: turn 0"),
        "{dialogue_text}"
    );
    assert!(dialogue_text.ends_with("提车要多久\n"));
    // Mask is 0…0 1…1 0 (EOS).
    let first_one = e.text_mask.iter().position(|&m| m == 1).unwrap();
    assert!(
        e.text_mask[first_one..e.text_mask.len() - 1]
            .iter()
            .all(|&m| m == 1)
    );
}

#[test]
fn oldest_turns_are_dropped_first() {
    let t = tokenizer();
    let l = lead(&dialogue(12));
    let full = t.encode_lead(&schema(), &l, "\n", 10_000).unwrap();
    let mut last_kept = usize::MAX;
    for budget in (8..full.ids.len()).rev().step_by(7) {
        let e = t.encode_lead(&schema(), &l, "\n", budget).unwrap();
        assert!(e.ids.len() <= budget);
        assert!(e.turns_kept <= last_kept, "fewer tokens, never more turns");
        last_kept = e.turns_kept;
        let text = t.decode(&e.ids).unwrap();
        for i in 0..12 {
            let kept = text.contains(&format!("turn {i} ")) || text.contains(&format!("第{i}轮"));
            assert_eq!(
                kept,
                i >= 12 - e.turns_kept,
                "budget {budget}: turn {i} in {text:?}"
            );
        }
        if e.turns_kept < 12 && e.turns_kept > 0 {
            assert!(text.contains("earlier turn"), "{text}");
        }
    }
}

#[test]
fn field_block_over_budget_is_cut_then_eos() {
    let t = tokenizer();
    let e = t
        .encode_lead(&schema(), &lead(&dialogue(3)), "\n", 3)
        .unwrap();
    assert_eq!(e.ids.len(), 3);
    assert!(e.truncated);
    assert_eq!((e.turns_kept, e.turns_total), (0, 3));
    assert_eq!(e.ids[2], t.eos_id());
    assert!(e.text_mask.iter().all(|&m| m == 0));
    for bad in [0, 1] {
        assert!(matches!(
            t.encode_lead(&schema(), &lead("x"), "\n", bad),
            Err(Error::InvalidArgument(_))
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn encode_lead_invariants(turns in prop::collection::vec("[a-z 提车贷款客户？]{0,30}", 0..20), max_tokens in 2usize..200) {
        let t = tokenizer();
        let d = turns.join("\n");
        let e = t.encode_lead(&schema(), &lead(&d), "\n", max_tokens).unwrap();
        prop_assert!(e.ids.len() <= max_tokens);
        prop_assert_eq!(e.ids.len(), e.text_mask.len());
        prop_assert_eq!(*e.ids.last().unwrap(), t.eos_id());
        prop_assert_eq!(e.ids.iter().filter(|&&i| i == t.eos_id()).count(), 1);
        prop_assert!(e.text_mask.iter().all(|&m| m <= 1));
        prop_assert!(e.turns_kept <= e.turns_total);
        if !e.truncated {
            // Without a hard cut, everything but EOS decodes back to a prefix-intact prompt.
            let text = t.decode(&e.ids).unwrap();
            prop_assert!(text.starts_with(&field_block(&schema(), &lead(&d))));
        }
    }
}
