//! Properties of the Burn forward pass itself: causality, padding, input checks, occlusion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::Tensor;
use common::{demo_bundle, synth};
use leadladder_core::value::Value;
use leadladder_model::explain::{FactorKind, occlusions};
use leadladder_model::{DeviceKind, Error, Scorer};

fn values(t: Tensor<3>) -> (Vec<usize>, Vec<f32>) {
    let dims = t.dims().to_vec();
    (dims, t.into_data().try_to_vec::<f32>().unwrap())
}

#[test]
fn a_later_token_never_changes_earlier_hidden_states() {
    let scorer = Scorer::from_bytes(&demo_bundle(), DeviceKind::Cpu).unwrap();
    let pad = scorer.tokenizer().pad_id();
    let a: Vec<u32> = vec![11, 42, 97, 300, 5, 77];
    let mut b = a.clone();
    b[4] = u32::try_from(scorer.config().model.vocab_size - 1).unwrap();
    let (dims, ha) = values(scorer.ranker().hidden_states(&[a], pad).unwrap());
    let (_, hb) = values(scorer.ranker().hidden_states(&[b], pad).unwrap());
    let h = dims[2];
    for pos in 0..dims[1] {
        let row = |v: &[f32]| v[pos * h..(pos + 1) * h].to_vec();
        let max_diff = row(&ha)
            .iter()
            .zip(row(&hb))
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        if pos < 4 {
            assert!(max_diff == 0.0, "position {pos} changed by {max_diff}");
        } else {
            assert!(max_diff > 1e-4, "position {pos} must see the changed token");
        }
    }
}

#[test]
fn padding_in_a_batch_does_not_change_a_score() {
    let scorer = Scorer::from_bytes(&demo_bundle(), DeviceKind::Cpu).unwrap();
    let (_, data) = synth(30, 9);
    let mut ids: Vec<Vec<u32>> = data
        .leads
        .iter()
        .map(|l| scorer.encode(&data.schema, l).unwrap())
        .collect();
    ids.sort_by_key(Vec::len);
    let (short, long) = (ids[0].clone(), ids[ids.len() - 1].clone());
    assert!(long.len() > short.len() + 5, "lengths differ enough to pad");
    let alone = scorer.score_ids(std::slice::from_ref(&short)).unwrap()[0];
    let batched = scorer.score_ids(&[long.clone(), short]).unwrap();
    for (a, b) in [
        (alone.rank, batched[1].rank),
        (alone.logit, batched[1].logit),
        (alone.p_convert, batched[1].p_convert),
    ] {
        assert!((a - b).abs() <= 1e-5, "alone {a}, padded in a batch {b}");
    }
    let long_alone = scorer.score_ids(&[long]).unwrap()[0];
    assert!((long_alone.rank - batched[0].rank).abs() <= 1e-5);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let scorer = Scorer::from_bytes(&demo_bundle(), DeviceKind::Cpu).unwrap();
    let vocab = scorer.config().model.vocab_size as u32;
    assert!(matches!(scorer.score_ids(&[vec![]]), Err(Error::Input(_))));
    assert!(matches!(
        scorer.score_ids(&[vec![1, vocab]]),
        Err(Error::Input(_))
    ));
    let too_long = vec![1u32; scorer.config().model.max_position_embeddings + 1];
    assert!(matches!(
        scorer.score_ids(&[too_long]),
        Err(Error::Input(_))
    ));
    assert!(scorer.score_ids(&[]).unwrap().is_empty());
    assert!(matches!(
        Scorer::from_bytes(b"not a bundle", DeviceKind::Cpu),
        Err(Error::Bundle(_))
    ));
    assert!("tpu".parse::<DeviceKind>().is_err());
    assert_eq!("CPU".parse::<DeviceKind>().unwrap(), DeviceKind::Cpu);
    assert_eq!("wgpu".parse::<DeviceKind>().unwrap(), DeviceKind::Wgpu);
}

#[test]
fn occluding_a_field_changes_the_prompt() {
    let scorer = Scorer::from_bytes(&demo_bundle(), DeviceKind::Cpu).unwrap();
    let (spec, data) = synth(20, 2);
    let lead = &data.leads[0];
    let base = scorer.encode(&data.schema, lead).unwrap();
    let occ = occlusions(&data.schema, lead, &spec.parse.turn_separator);
    assert!(occ.iter().any(|(_, k, _)| *k == FactorKind::Field));
    for (name, _, l) in &occ {
        let ids = scorer.encode(&data.schema, l).unwrap();
        assert_ne!(ids, base, "occluding {name} changes the prompt");
    }
    let factors = scorer.explain(&data.schema, lead, 3).unwrap();
    assert_eq!(factors.len(), 3.min(occ.len()));
    assert!(
        factors
            .windows(2)
            .all(|w| w[0].delta.abs() >= w[1].delta.abs())
    );
}

#[test]
fn a_lead_without_dialogue_has_only_field_factors() {
    let (spec, data) = synth(20, 2);
    let text_cols: Vec<usize> = data
        .schema
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.role == leadladder_core::spec::Role::Text)
        .map(|(i, _)| i)
        .collect();
    assert!(
        !text_cols.is_empty(),
        "the synthetic funnel has a dialogue column"
    );
    let mut lead = data.leads[0].clone();
    let with_turns = occlusions(&data.schema, &lead, &spec.parse.turn_separator);
    assert!(with_turns.iter().any(|(_, k, _)| *k == FactorKind::Turn));
    let mut v = lead.values.to_vec();
    for &c in &text_cols {
        v[c] = Value::Missing;
    }
    lead.values = v.into_boxed_slice();
    let occ = occlusions(&data.schema, &lead, &spec.parse.turn_separator);
    assert!(!occ.is_empty());
    assert!(occ.iter().all(|(_, k, _)| *k == FactorKind::Field));
}
