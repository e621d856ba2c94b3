//! `leadladder train --preset qwen2-lora --base <hf-dir>` end to end on the trainer's tiny random
//! Qwen2 checkpoint, and the errors of `--base`, `--device` and `--precision`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use leadladder_bundle::Bundle;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leadladder"))
}

fn base() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../trainer/tests/fixtures/tiny_qwen2/untied")
}

fn train(dir: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["train", "--input"])
        .arg(dir.join("leads.csv"))
        .arg("--ladder")
        .arg(dir.join("leads.toml"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn qwen2_lora_trains_and_writes_bundle_and_peft_adapter() {
    let dir = std::env::temp_dir().join(format!("leadladder-cli-lora-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let synth = bin()
        .args(["synth", "--leads", "900", "--seed", "4", "--out"])
        .arg(dir.join("leads.csv"))
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", stderr(&synth));

    let out = dir.join("q.safetensors");
    let base = base();
    let o = train(
        &dir,
        &out,
        &[
            "--preset",
            "qwen2-lora",
            "--base",
            base.to_str().unwrap(),
            "--lora-rank",
            "4",
            "--lora-alpha",
            "8",
            "--lora-targets",
            "q_proj,v_proj",
            "--train-sample",
            "48",
            "--batch-size",
            "16",
            "--max-tokens",
            "96",
            "--bootstrap",
            "0",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bundle = Bundle::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let tokenizer = std::fs::read_to_string(base.join("tokenizer.json")).unwrap();
    assert_eq!(
        bundle.meta.tokenizer_json,
        leadladder_bundle::LeadTokenizer::from_json(&tokenizer)
            .unwrap()
            .to_json()
            .unwrap(),
        "the bundle carries the base's tokenizer"
    );
    assert!(bundle.tensors.keys().all(|n| !n.contains("lora_")));
    let report = std::fs::read_to_string(dir.join("q.safetensors.report.md")).unwrap();
    assert!(report.contains("leadladder qwen2-lora"), "{report}");

    let peft = dir.join("q.safetensors.peft");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(peft.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 4);
    assert_eq!(cfg["lora_alpha"], 8);
    assert_eq!(
        cfg["target_modules"],
        serde_json::json!(["q_proj", "v_proj"])
    );
    let adapter = std::fs::read(peft.join("adapter_model.safetensors")).unwrap();
    let st = safetensors_names(&adapter);
    assert_eq!(st.len(), 2 * 2 * 2, "{st:?}");
    assert!(st.contains(&"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".into()));
    assert!(peft.join("score_heads.safetensors").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tensor names in a safetensors file's header.
fn safetensors_names(bytes: &[u8]) -> Vec<String> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

#[test]
fn base_device_and_precision_errors_say_what_to_do() {
    let dir = std::env::temp_dir().join(format!("leadladder-cli-lora-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("x.safetensors");
    // The input is never read: each of these fails on its arguments first or on the missing file.
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--preset".into(), "qwen2-lora".into()], "--base"),
        (
            vec![
                "--preset".into(),
                "tiny".into(),
                "--base".into(),
                base().display().to_string(),
            ],
            "qwen2-lora",
        ),
        (vec!["--precision".into(), "bf16".into()], "frozen base"),
        (vec!["--device".into(), "tpu".into()], "cuda:N"),
        // This test binary is built without the trainer's cuda feature.
        (vec!["--device".into(), "cuda:0".into()], "--features cuda"),
    ];
    std::fs::write(dir.join("leads.csv"), "lead_id\n").unwrap();
    std::fs::write(dir.join("leads.toml"), "").unwrap();
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = train(&dir, &out, &args);
        assert!(!o.status.success(), "{args:?} should fail");
        let e = stderr(&o);
        assert!(e.contains(want), "{args:?}: wanted `{want}` in: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
