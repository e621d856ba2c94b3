//! `cargo xtask qwen-fixture [--out DIR] [--layers N] [--seed S] [--tokenizer FILE]`: a Hugging
//! Face Qwen2 folder shaped like Qwen2.5-0.5B (hidden 896, MLP 4864, 24 layers, 14 query heads,
//! 2 key/value heads, vocabulary 151,936, tied embeddings, q/k/v biases) with random BF16 weights
//! from a fixed seed, and the real Qwen tokenizer. It exercises every real-size code path (the
//! trainer's `--preset qwen2-lora --base`, int8/f16 bundles of ~0.5 B parameters, `rank`) where
//! the published weights cannot be downloaded. The scores it gives mean nothing.
//!
//! Writes `config.json`, `model.safetensors` (one file, ~0.99 GB with 24 layers),
//! `tokenizer.json` and `fixture.json` (what made it). Every tensor has its own stream, seeded
//! from the seed and the tensor's name, so the bytes do not depend on the writing order and
//! `--layers N` gives the first N layers of the full model. Matrices are normal with std 0.02
//! (`initializer_range`), biases normal with std 0.02, norm weights ones.
//!
//! The tokenizer comes from `--tokenizer`, else `$LEADLADDER_QWEN_TOKENIZER`, else
//! `target/qwen-tokenizer/tokenizer.json`, fetched there by
//! `crates/bundle/tests/fetch_qwen_tokenizer.sh` when missing.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Changes whenever the bytes this command writes change (callers key caches on it).
pub const VERSION: &str = "qwen2.5-0.5b-random v1";

const HIDDEN: usize = 896;
const INTERMEDIATE: usize = 4864;
const LAYERS: usize = 24;
const HEADS: usize = 14;
const KV_HEADS: usize = 2;
const VOCAB: usize = 151_936;
const STD: f64 = 0.02;
const DEFAULT_SEED: u64 = 20_240_919;

/// How a tensor's values are drawn.
#[derive(Clone, Copy)]
enum Init {
    Normal,
    Ones,
}

struct Spec {
    name: String,
    shape: Vec<usize>,
    init: Init,
}

fn spec(name: String, shape: &[usize], init: Init) -> Spec {
    Spec {
        name,
        shape: shape.to_vec(),
        init,
    }
}

/// Every tensor of a tied Qwen2 with `layers` decoder layers, in the HF names.
fn tensors(layers: usize) -> Vec<Spec> {
    let kv = HIDDEN / HEADS * KV_HEADS;
    let mut out = vec![
        spec(
            "model.embed_tokens.weight".into(),
            &[VOCAB, HIDDEN],
            Init::Normal,
        ),
        spec("model.norm.weight".into(), &[HIDDEN], Init::Ones),
    ];
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        out.extend([
            spec(format!("{p}.input_layernorm.weight"), &[HIDDEN], Init::Ones),
            spec(
                format!("{p}.post_attention_layernorm.weight"),
                &[HIDDEN],
                Init::Ones,
            ),
            spec(
                format!("{p}.self_attn.q_proj.weight"),
                &[HIDDEN, HIDDEN],
                Init::Normal,
            ),
            spec(
                format!("{p}.self_attn.q_proj.bias"),
                &[HIDDEN],
                Init::Normal,
            ),
            spec(
                format!("{p}.self_attn.k_proj.weight"),
                &[kv, HIDDEN],
                Init::Normal,
            ),
            spec(format!("{p}.self_attn.k_proj.bias"), &[kv], Init::Normal),
            spec(
                format!("{p}.self_attn.v_proj.weight"),
                &[kv, HIDDEN],
                Init::Normal,
            ),
            spec(format!("{p}.self_attn.v_proj.bias"), &[kv], Init::Normal),
            spec(
                format!("{p}.self_attn.o_proj.weight"),
                &[HIDDEN, HIDDEN],
                Init::Normal,
            ),
            spec(
                format!("{p}.mlp.gate_proj.weight"),
                &[INTERMEDIATE, HIDDEN],
                Init::Normal,
            ),
            spec(
                format!("{p}.mlp.up_proj.weight"),
                &[INTERMEDIATE, HIDDEN],
                Init::Normal,
            ),
            spec(
                format!("{p}.mlp.down_proj.weight"),
                &[HIDDEN, INTERMEDIATE],
                Init::Normal,
            ),
        ]);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn config(layers: usize) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 151_643,
        "eos_token_id": 151_643,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": STD,
        "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": 32_768,
        "max_window_layers": layers,
        "model_type": "qwen2",
        "num_attention_heads": HEADS,
        "num_hidden_layers": layers,
        "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1_000_000.0,
        "sliding_window": 32_768,
        "tie_word_embeddings": true,
        "torch_dtype": "bfloat16",
        "use_cache": true,
        "use_sliding_window": false,
        "vocab_size": VOCAB,
    })
}

/// splitmix64: a tiny, well-mixed 64-bit generator.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// FNV-1a of the name: the tensor's own stream.
fn name_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// f32 → bf16 bits, rounding to nearest even (the values here are finite).
fn bf16(x: f32) -> u16 {
    let b = x.to_bits();
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// Writes the tensor's values as little-endian bf16, in chunks.
fn write_values(w: &mut impl std::io::Write, t: &Spec, seed: u64) -> Result<()> {
    let n: usize = t.shape.iter().product();
    const CHUNK: usize = 1 << 16;
    let mut buf = Vec::with_capacity(2 * CHUNK);
    match t.init {
        Init::Ones => {
            let one = bf16(1.0).to_le_bytes();
            for _ in 0..n {
                buf.extend_from_slice(&one);
            }
            w.write_all(&buf)?;
        }
        Init::Normal => {
            let mut rng = SplitMix(name_seed(seed, &t.name));
            let mut left = n;
            while left > 0 {
                let take = left.min(CHUNK);
                buf.clear();
                let mut i = 0;
                while i < take {
                    // Box-Muller: two normals from two uniforms.
                    let r = (-2.0 * rng.unit().ln()).sqrt() * STD;
                    let (s, c) = (std::f64::consts::TAU * rng.unit()).sin_cos();
                    buf.extend_from_slice(&bf16((r * c) as f32).to_le_bytes());
                    if i + 1 < take {
                        buf.extend_from_slice(&bf16((r * s) as f32).to_le_bytes());
                    }
                    i += 2;
                }
                w.write_all(&buf)?;
                left -= take;
            }
        }
    }
    Ok(())
}

/// The safetensors container: 8-byte little-endian header length, the JSON header (padded with
/// spaces to a multiple of 8), then the tensors' bytes in header order.
fn write_safetensors(path: &Path, specs: &[Spec], seed: u64) -> Result<u64> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt" }));
    let mut offset = 0usize;
    for t in specs {
        let bytes = 2 * t.shape.iter().product::<usize>();
        header.insert(
            t.name.clone(),
            serde_json::json!({
                "dtype": "BF16",
                "shape": t.shape,
                "data_offsets": [offset, offset + bytes],
            }),
        );
        offset += bytes;
    }
    let mut text = serde_json::to_string(&serde_json::Value::Object(header))?.into_bytes();
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let tmp = path.with_extension("safetensors.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    w.write_all(&(text.len() as u64).to_le_bytes())?;
    w.write_all(&text)?;
    for t in specs {
        write_values(&mut w, t, seed).with_context(|| format!("writing {}", t.name))?;
    }
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    Ok(8 + text.len() as u64 + offset as u64)
}

/// The Qwen tokenizer.json: given, from the environment, or fetched into `target/`.
fn tokenizer(root: &Path, given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) =
        given.or_else(|| std::env::var_os("LEADLADDER_QWEN_TOKENIZER").map(PathBuf::from))
    {
        if !p.is_file() {
            bail!("the tokenizer {} does not exist", p.display());
        }
        return Ok(p);
    }
    let p = root.join("target/qwen-tokenizer/tokenizer.json");
    if !p.is_file() {
        crate::run(
            Command::new("bash").arg(root.join("crates/bundle/tests/fetch_qwen_tokenizer.sh")),
        )?;
    }
    Ok(p)
}

pub fn run(root: &Path, args: impl Iterator<Item = String>) -> Result<()> {
    let mut out = root.join("target/qwen2.5-0.5b-random");
    let mut layers = LAYERS;
    let mut seed = DEFAULT_SEED;
    let mut tok: Option<PathBuf> = None;
    let mut args = args;
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--out" => out = PathBuf::from(value()?),
            "--layers" => layers = value()?.parse().context("--layers")?,
            "--seed" => seed = value()?.parse().context("--seed")?,
            "--tokenizer" => tok = Some(PathBuf::from(value()?)),
            _ => bail!(
                "usage: cargo xtask qwen-fixture [--out DIR] [--layers N] [--seed S] [--tokenizer FILE]"
            ),
        }
    }
    if layers == 0 {
        bail!("--layers must be at least 1");
    }
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let tok = tokenizer(root, tok)?;
    std::fs::copy(&tok, out.join("tokenizer.json"))
        .with_context(|| format!("copying {}", tok.display()))?;
    std::fs::write(
        out.join("config.json"),
        serde_json::to_string_pretty(&config(layers))? + "\n",
    )?;
    let specs = tensors(layers);
    let params: usize = specs
        .iter()
        .map(|t| t.shape.iter().product::<usize>())
        .sum();
    let bytes = write_safetensors(&out.join("model.safetensors"), &specs, seed)?;
    let recipe: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
        ("version", VERSION.into()),
        ("layers", layers.into()),
        ("seed", seed.into()),
        ("parameters", params.into()),
        (
            "note",
            "random weights shaped like Qwen2.5-0.5B; not a trained model".into(),
        ),
    ]);
    std::fs::write(
        out.join("fixture.json"),
        serde_json::to_string_pretty(&recipe)? + "\n",
    )?;
    eprintln!(
        "wrote {} ({layers} layers, {:.1} M parameters, {:.2} GB of BF16) in {:.1} s",
        out.display(),
        params as f64 / 1e6,
        bytes as f64 / 1e9,
        started.elapsed().as_secs_f64()
    );
    println!("{}", out.display());
    Ok(())
}
