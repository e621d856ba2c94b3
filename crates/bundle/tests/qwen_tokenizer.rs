//! Qwen's real tokenizer.json (fetched by `tests/fetch_qwen_tokenizer.sh`, not committed): loads,
//! counts, encodes English and Chinese leads, and rides in a bundle. Skips with a message when
//! the file is absent and
//! LEADLADDER_QWEN_TOKENIZER is unset (`scripts/test.sh` fetches it and sets the variable).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::*;
use leadladder_bundle::{
    Bundle, BundleConfig, Error, LeadTokenizer, ModelConfig, StoreDtype, write_bundle,
};
use leadladder_core::prompt::TokenCounter;

fn qwen_json() -> Option<String> {
    let path = std::env::var_os("LEADLADDER_QWEN_TOKENIZER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/qwen-tokenizer/tokenizer.json")
        });
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        // The test script fetches the file and names it: then it must be there.
        Err(e) if std::env::var_os("LEADLADDER_QWEN_TOKENIZER").is_some() => {
            panic!("LEADLADDER_QWEN_TOKENIZER={}: {e}", path.display())
        }
        Err(_) => {
            eprintln!(
                "SKIPPED: Qwen tokenizer not found at {} (run crates/bundle/tests/fetch_qwen_tokenizer.sh \
                 or set LEADLADDER_QWEN_TOKENIZER)",
                path.display()
            );
            None
        }
    }
}

#[test]
fn qwen_tokenizer_loads_counts_encodes_and_bundles() {
    let Some(json) = qwen_json() else { return };
    let t0 = Instant::now();
    let t = LeadTokenizer::from_json(&json).unwrap();
    eprintln!("Qwen tokenizer loaded in {:?}", t0.elapsed());
    assert_eq!(t.base_vocab_size(), 151_643);
    assert_eq!(t.eos_id(), 151_643, "<|endoftext|>");
    assert_eq!(t.pad_id(), 151_643, "Qwen pads with <|endoftext|>");
    assert!(
        (151_665..=151_936).contains(&t.vocab_size()),
        "{}",
        t.vocab_size()
    );

    // Known ids (identical in Qwen2, 2.5 and 3).
    assert_eq!(t.encode("Hello world").unwrap(), vec![9707, 1879]);
    for text in [
        "客户：我想问一下提车要多久？不需要贷款。",
        "rep: Hello, this is Anna from Aurora Motors. 🚗",
    ] {
        let ids = t.encode(text).unwrap();
        assert_eq!(t.count(text), ids.len());
        assert_eq!(t.decode(&ids).unwrap(), text);
        assert!(
            ids.len() < text.chars().count(),
            "BPE merges: {text:?} → {} ids",
            ids.len()
        );
    }
    // Special-token text in a dialogue is plain text.
    assert!(!t.encode("<|im_start|>user").unwrap().contains(&151_644));

    for d in [
        "rep: Hello, this is Anna from Aurora Motors.\ncustomer: When could I book a test drive?\nrep: Saturday works.",
        "销售：您好，我是小王\n客户：我想问一下提车要多久\n客户：不需要贷款\n销售：周六上午可以试驾",
    ] {
        let full = t.encode_lead(&schema(), &lead(d), "\n", 512).unwrap();
        assert_eq!(
            (full.turns_kept, full.turns_total),
            (full.turns_total, d.lines().count())
        );
        assert_eq!(*full.ids.last().unwrap(), 151_643);
        let cut = t
            .encode_lead(&schema(), &lead(d), "\n", full.ids.len() - 4)
            .unwrap();
        assert!(cut.ids.len() <= full.ids.len() - 4);
        assert!(cut.turns_kept < cut.turns_total);
        let text = t.decode(&cut.ids).unwrap();
        assert!(
            text.contains(d.lines().last().unwrap()),
            "newest turn kept: {text}"
        );
        assert!(
            !text.contains(d.lines().next().unwrap()),
            "oldest turn dropped: {text}"
        );
    }

    // In a bundle: Qwen's embedding has 151,936 rows.
    let model = ModelConfig {
        vocab_size: 151_936,
        hidden_size: 8,
        intermediate_size: 8,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        max_position_embeddings: 1024,
        rope_theta: 1e6,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
    };
    let config = BundleConfig::new(model, 512, t.pad_id(), t.eos_id());
    let meta = leadladder_bundle::BundleMeta::new(
        &config,
        &leadladder_bundle::LeadEncoder::text(t.clone()),
        &spec(),
        "{}".into(),
        &provenance(),
    )
    .unwrap();
    let t0 = Instant::now();
    let bytes = write_bundle(&weights(&config.model, 5), &meta, StoreDtype::Int8).unwrap();
    let b = Bundle::from_bytes(&bytes).unwrap();
    eprintln!(
        "Qwen-tokenizer bundle ({} bytes) written and loaded in {:?}",
        bytes.len(),
        t0.elapsed()
    );
    assert_eq!(b.encoder.tokenizer().vocab_size(), t.vocab_size());
    // The same tokenizer with a smaller embedding is refused.
    let mut small = config.clone();
    small.model.vocab_size = 151_660;
    let mut m = meta.clone();
    m.config_json = small.to_json().unwrap();
    let e = write_bundle(&weights(&small.model, 5), &m, StoreDtype::Int8).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TokenizerVocab {
                config: 151_660,
                ..
            }
        ),
        "{e}"
    );
}
