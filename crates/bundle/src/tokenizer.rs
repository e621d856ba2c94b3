//! The model's tokenizer: a `tokenizers::Tokenizer` (loaded from the bundle's `tokenizer.json`
//! text, natively and in wasm32) plus the lead encoding every scorer and the trainer share.
//!
//! Special tokens are never produced from text: a dialogue that literally contains
//! `<|endoftext|>` is tokenized as ordinary text, and the only EOS in a sequence is the one
//! [`LeadTokenizer::encode_lead`] appends.

use std::collections::HashSet;
use std::fmt;

use leadladder_core::dataset::{Lead, Schema};
use leadladder_core::prompt::{self, TokenCounter};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{Error, Result};

/// End-of-sequence token (Qwen's `<|endoftext|>`, also its padding token).
pub const EOS_TOKEN: &str = "<|endoftext|>";
/// Padding token of tokenizers trained by [`train_bpe`]; Qwen tokenizers pad with [`EOS_TOKEN`].
pub const PAD_TOKEN: &str = "<|pad|>";

/// The smallest vocabulary [`train_bpe`] accepts: 256 byte symbols and the two special tokens.
pub const MIN_TRAINED_VOCAB: usize = 258;

/// A tokenizer with its EOS and pad ids resolved.
#[derive(Clone)]
pub struct LeadTokenizer {
    inner: Tokenizer,
    eos: u32,
    pad: u32,
    vocab_size: usize,
}

impl fmt::Debug for LeadTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeadTokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("eos", &self.eos)
            .field("pad", &self.pad)
            .finish_non_exhaustive()
    }
}

/// One lead as model input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids; always ends with the EOS id; at most `max_tokens` long.
    pub ids: Vec<u32>,
    /// Parallel to `ids`: 1 on tokens of the dialogue section (everything after the field
    /// block: section header, omitted-turns marker and turns; the LM loss), 0 on the field block
    /// and on the EOS.
    pub text_mask: Vec<u8>,
    /// Dialogue turns kept (the newest).
    pub turns_kept: usize,
    /// Dialogue turns in the lead.
    pub turns_total: usize,
    /// True when the field block alone exceeded the budget and was cut to its first tokens.
    pub truncated: bool,
}

fn tok_err(e: impl fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

impl LeadTokenizer {
    /// Loads a `tokenizer.json` text (e.g. Qwen's, or one written by [`train_bpe`]).
    ///
    /// EOS is [`EOS_TOKEN`]; pad is [`PAD_TOKEN`] when present, else EOS. Fails if the
    /// tokenizer has no [`EOS_TOKEN`].
    pub fn from_json(json: &str) -> Result<Self> {
        // Parse the JSON text first and hand `tokenizers` a parsed value: its decoder
        // deserialiser panics (`expect("Helper")`) on a syntax error inside the `decoder` object
        // when reading from text, and a panic would kill a browser page.
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::Tokenizer(format!("tokenizer.json is not valid JSON: {e}")))?;
        let inner: Tokenizer =
            serde_json::from_value(value).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Self::from_tokenizer(inner)
    }

    fn from_tokenizer(mut inner: Tokenizer) -> Result<Self> {
        inner.with_padding(None);
        inner.with_truncation(None).map_err(tok_err)?;
        inner.set_encode_special_tokens(true);
        let eos = inner
            .token_to_id(EOS_TOKEN)
            .ok_or_else(|| Error::Tokenizer(format!("the tokenizer has no `{EOS_TOKEN}` token")))?;
        let pad = inner.token_to_id(PAD_TOKEN).unwrap_or(eos);
        let vocab_size = inner
            .get_vocab(true)
            .values()
            .max()
            .map_or(0, |&m| m as usize + 1);
        Ok(Self {
            inner,
            eos,
            pad,
            vocab_size,
        })
    }

    /// The `tokenizer.json` text (compact).
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(false).map_err(tok_err)
    }

    /// Number of token ids: the largest id (base vocabulary or added token) plus one. The
    /// model's `vocab_size` must be at least this.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Size of the base vocabulary, without added/special tokens (151,643 for Qwen2/3).
    pub fn base_vocab_size(&self) -> usize {
        self.inner.get_vocab_size(false)
    }

    /// End-of-sequence id ([`EOS_TOKEN`]).
    pub fn eos_id(&self) -> u32 {
        self.eos
    }

    /// Padding id ([`PAD_TOKEN`] if the tokenizer has it, else EOS).
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// The id of a token, if the vocabulary (or added tokens) has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Token ids of `text`, no special tokens added (special-token strings in `text` are
    /// tokenized as plain text).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(tok_err)
    }

    /// Renders a lead with [`leadladder_core::prompt::render`] (counting with this tokenizer,
    /// budget `max_tokens - 1`), encodes it and appends EOS. The oldest dialogue turns are
    /// dropped first; only when the field block alone exceeds the budget is the sequence cut
    /// (first `max_tokens - 1` tokens kept, then EOS). `max_tokens` must be at least 2.
    pub fn encode_lead(
        &self,
        schema: &Schema,
        lead: &Lead,
        turn_separator: &str,
        max_tokens: usize,
    ) -> Result<Encoded> {
        if max_tokens < 2 {
            return Err(Error::InvalidArgument(format!(
                "max_tokens must be at least 2 (one token and EOS), got {max_tokens}"
            )));
        }
        let budget = max_tokens - 1;
        let rendered = prompt::render(schema, lead, turn_separator, self, budget);
        let fields = prompt::field_block(schema, lead);
        if !rendered.text.starts_with(&fields) {
            return Err(Error::Tokenizer(
                "the rendered prompt does not start with the field block".into(),
            ));
        }
        let encoding = self
            .inner
            .encode(rendered.text.as_str(), false)
            .map_err(tok_err)?;
        let mut ids = encoding.get_ids().to_vec();
        let mut text_mask: Vec<u8> = encoding
            .get_offsets()
            .iter()
            .map(|&(start, _)| u8::from(start >= fields.len()))
            .collect();
        let truncated = ids.len() > budget;
        ids.truncate(budget);
        text_mask.truncate(budget);
        ids.push(self.eos);
        text_mask.push(0);
        Ok(Encoded {
            ids,
            text_mask,
            turns_kept: rendered.turns_kept,
            turns_total: rendered.turns_total,
            truncated,
        })
    }
}

impl TokenCounter for LeadTokenizer {
    /// Tokens of `text` without special tokens. Should encoding fail, the byte length is
    /// returned (an upper bound for byte-level BPE), so budgets stay safe.
    fn count(&self, text: &str) -> usize {
        self.inner
            .encode(text, false)
            .map_or(text.len(), |e| e.get_ids().len())
    }
}

/// Trains a byte-level BPE tokenizer (NFC normalizer, GPT-2 style ByteLevel pre-tokenizer
/// without prefix space, ByteLevel decoder) with the special tokens [`EOS_TOKEN`] (id 0) and
/// [`PAD_TOKEN`] (id 1). `vocab_size` counts the specials and must be at least
/// [`MIN_TRAINED_VOCAB`]. Deterministic: the same texts give the same `tokenizer.json`.
///
/// Training may use the `tokenizers` rayon pool natively (set `TOKENIZERS_PARALLELISM=false`
/// to avoid it); encoding never does.
pub fn train_bpe(
    texts: impl Iterator<Item = String> + Send,
    vocab_size: usize,
) -> Result<LeadTokenizer> {
    if vocab_size < MIN_TRAINED_VOCAB {
        return Err(Error::InvalidArgument(format!(
            "vocab_size must be at least {MIN_TRAINED_VOCAB} (256 bytes + 2 specials), got \
             {vocab_size}"
        )));
    }
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(vec![
            AddedToken::from(EOS_TOKEN, true),
            AddedToken::from(PAD_TOKEN, true),
        ])
        .initial_alphabet(alphabet)
        .build();
    let mut trainer = TrainerWrapper::BpeTrainer(trainer);
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_normalizer(Some(NFC)).map_err(tok_err)?;
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, false, true)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, false, true)));
    tokenizer.train(&mut trainer, texts).map_err(tok_err)?;
    // Round-trip through JSON so the result is exactly what a loader will see.
    let json = tokenizer.to_string(false).map_err(tok_err)?;
    LeadTokenizer::from_json(&json)
}
