//! Shared fixtures: a tiny Qwen2 ranker, a small trained tokenizer, a ladder spec, and helpers
//! to take a bundle apart and put it back together (through the `safetensors` crate).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use leadladder_bundle::{
    BundleConfig, BundleMeta, LeadTokenizer, ModelConfig, Provenance, StoreDtype, train_bpe,
    write_bundle,
};
use leadladder_core::dataset::{Column, Lead, Schema};
use leadladder_core::spec::{CellKind, Role, Spec};
use leadladder_core::value::Value;
use safetensors::{Dtype, SafeTensors, View};

pub const SPEC_TOML: &str = r#"
name = "t"
[columns]
id = "lead_id"
created_at = "created_at"
categorical = ["channel"]
numeric = ["calls_so_far"]
boolean = ["visit_booked"]
text = ["dialogue"]

[label]
column = "outcome"
equals = "locked_in"
"#;

pub fn spec() -> Spec {
    Spec::from_toml(SPEC_TOML).unwrap()
}

/// English and Chinese dealership chatter for tokenizer training.
pub fn corpus() -> Vec<String> {
    let mut out = Vec::new();
    let en = [
        "rep: Hello, this is Anna from Aurora Motors.",
        "customer: When could I book a test drive?",
        "rep: We have slots on Saturday morning.",
        "customer: Do you offer financing for the long range model?",
        "channel: referral\ncalls_so_far: 3\nvisit_booked: yes\n",
        "customer: I want to trade in my old car first.",
    ];
    let zh = [
        "销售：您好，我是小王",
        "客户：我想问一下提车要多久",
        "客户：不需要贷款",
        "销售：周六上午可以试驾",
        "客户：置换补贴有多少？",
    ];
    for i in 0..40 {
        out.push(format!("{} {}", en[i % en.len()], zh[i % zh.len()]));
    }
    out
}

/// A byte-level BPE with 300 ids (trained once per test binary).
pub fn tokenizer() -> &'static LeadTokenizer {
    static T: OnceLock<LeadTokenizer> = OnceLock::new();
    T.get_or_init(|| train_bpe(corpus().into_iter(), 300).unwrap())
}

pub fn model_config(tie: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: 320,
        hidden_size: 16,
        intermediate_size: 24,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 256,
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: tie,
    }
}

pub fn bundle_config(tie: bool) -> BundleConfig {
    let t = tokenizer();
    BundleConfig::new(model_config(tie), 64, t.pad_id(), t.eos_id())
}

pub fn provenance() -> Provenance {
    Provenance {
        data_hash: "sha256:0000".into(),
        seed: 7,
        code_version: "test".into(),
        preset: "tiny".into(),
        created: "2026-01-01T00:00:00Z".into(),
    }
}

pub fn meta(config: &BundleConfig) -> BundleMeta {
    BundleMeta::new(
        config,
        &leadladder_bundle::LeadEncoder::text(tokenizer().clone()),
        &spec(),
        r#"{"auc": 0.5}"#.into(),
        &provenance(),
    )
    .unwrap()
}

/// Deterministic pseudo-random weights (normal-ish, some rows zero) for every expected tensor.
pub fn weights(config: &ModelConfig, seed: u64) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 / (1u64 << 53) as f64) as f32 * 2.0 - 1.0
    };
    config
        .expected_tensors()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let cols = *shape.last().unwrap();
            let mut v: Vec<f32> = (0..n).map(|_| next() * 0.5).collect();
            if shape.len() == 2 && shape[0] > 3 {
                // One all-zero row and one row with a large outlier.
                v[cols..2 * cols].iter_mut().for_each(|x| *x = 0.0);
                v[2 * cols] = 37.5;
            }
            (name, shape, v)
        })
        .collect()
}

pub fn good_bundle(dtype: StoreDtype) -> Vec<u8> {
    let c = bundle_config(false);
    write_bundle(&weights(&c.model, 1), &meta(&c), dtype).unwrap()
}

/// One tensor taken out of a container.
#[derive(Debug, Clone)]
pub struct Raw {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// A container taken apart with the official `safetensors` reader.
pub struct Parts {
    pub meta: HashMap<String, String>,
    pub tensors: Vec<(String, Raw)>,
}

pub fn split(bytes: &[u8]) -> Parts {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, m) = SafeTensors::read_metadata(bytes).unwrap();
    let meta = m.metadata().clone().unwrap_or_default();
    let mut tensors: Vec<(String, Raw)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            (
                n,
                Raw {
                    dtype: v.dtype(),
                    shape: v.shape().to_vec(),
                    data: v.data().to_vec(),
                },
            )
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Parts { meta, tensors }
}

/// Re-serialises with the official `safetensors` writer.
pub fn join(parts: &Parts) -> Vec<u8> {
    safetensors::serialize(
        parts.tensors.iter().map(|(n, r)| (n.as_str(), r)),
        Some(parts.meta.clone()),
    )
    .unwrap()
}

impl Parts {
    pub fn get_mut(&mut self, name: &str) -> &mut Raw {
        &mut self.tensors.iter_mut().find(|(n, _)| n == name).unwrap().1
    }
    pub fn remove(&mut self, name: &str) {
        let before = self.tensors.len();
        self.tensors.retain(|(n, _)| n != name);
        assert_eq!(before, self.tensors.len() + 1, "no tensor {name}");
    }
}

pub fn schema() -> Schema {
    let col = |name: &str, role| Column {
        name: name.into(),
        header: name.into(),
        role,
        kind: CellKind::Str,
    };
    Schema {
        columns: vec![
            col("channel", Role::Categorical),
            col("calls_so_far", Role::Numeric),
            col("visit_booked", Role::Boolean),
            col("dialogue", Role::Text),
            col("outcome", Role::Outcome),
        ],
    }
}

pub fn lead(dialogue: &str) -> Lead {
    Lead {
        id: "L1".into(),
        created_at: 0,
        values: vec![
            Value::Str("referral".into()),
            Value::Num(3.0),
            Value::Bool(true),
            Value::Str(dialogue.into()),
            Value::Str("locked_in".into()),
        ]
        .into_boxed_slice(),
        row: 1,
    }
}
