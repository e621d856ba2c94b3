//! [`LeadEncoder`]: the one function from a lead to the model's token ids, shared by the trainer,
//! `leadladder rank` and the browser. A bundle's `prompt_version` says which encoding it uses:
//!
//! * `leadladder-prompt/1` ([`PROMPT_VERSION`]): the whole lead as text (`name: value` lines,
//!   then the dialogue), byte-level BPE, EOS. Kept for the `qwen2-lora` preset (a pretrained
//!   model reads text) and for bundles written before field tokens.
//! * `leadladder-prompt/2` ([`FIELD_PROMPT_VERSION`]): one field token per structured input
//!   ([`FieldCodec`], fitted on the fit period and stored in the bundle's `fields` metadata),
//!   then the dialogue section as BPE, then EOS. Field token `k` of the codec has id
//!   `tokenizer.vocab_size() + k`, after every BPE id.
//! * `leadladder-prompt/3` ([`FIELD_RANGE_PROMPT_VERSION`]): as `/2`, with a `below` and an
//!   `above` token per numeric field for values outside the range it was fitted on.

use leadladder_core::dataset::{Lead, Schema};
use leadladder_core::fields::{FIELD_PROMPT_VERSION, FIELD_RANGE_PROMPT_VERSION, FieldCodec};
use leadladder_core::prompt::{self, PROMPT_VERSION};

use crate::error::{Error, Result};
use crate::tokenizer::{Encoded, LeadTokenizer};

/// A tokenizer plus, for `leadladder-prompt/2`, the field codec.
#[derive(Debug, Clone)]
pub struct LeadEncoder {
    tokenizer: LeadTokenizer,
    fields: Option<FieldCodec>,
}

impl LeadEncoder {
    /// The text encoding (`leadladder-prompt/1`).
    pub fn text(tokenizer: LeadTokenizer) -> Self {
        Self {
            tokenizer,
            fields: None,
        }
    }

    /// The field-token encoding (`leadladder-prompt/2`).
    pub fn with_fields(tokenizer: LeadTokenizer, fields: FieldCodec) -> Self {
        Self {
            tokenizer,
            fields: Some(fields),
        }
    }

    /// The encoding a bundle declares: `prompt_version` and its `fields` metadata (required for
    /// `leadladder-prompt/2`, refused for `/1`). Errors name the version.
    pub fn for_version(
        prompt_version: &str,
        tokenizer: LeadTokenizer,
        fields: Option<FieldCodec>,
    ) -> Result<Self> {
        match (prompt_version, fields) {
            (PROMPT_VERSION, None) => Ok(Self::text(tokenizer)),
            (v @ (FIELD_PROMPT_VERSION | FIELD_RANGE_PROMPT_VERSION), Some(f)) => {
                if f.prompt_version() != v {
                    return Err(Error::InvalidArgument(format!(
                        "prompt version {v:?} does not match the bundle's `fields` tables, \
                         which are {:?} (out-of-range tokens {})",
                        f.prompt_version(),
                        if f.has_out_of_range() {
                            "present"
                        } else {
                            "absent"
                        }
                    )));
                }
                Ok(Self::with_fields(tokenizer, f))
            }
            (PROMPT_VERSION, Some(_)) => Err(Error::InvalidArgument(format!(
                "prompt version {PROMPT_VERSION:?} renders fields as text and takes no field tables"
            ))),
            (v @ (FIELD_PROMPT_VERSION | FIELD_RANGE_PROMPT_VERSION), None) => {
                Err(Error::InvalidArgument(format!(
                    "prompt version {v:?} needs the bundle's `fields` tables"
                )))
            }
            (other, _) => Err(Error::InvalidArgument(format!(
                "prompt version {other:?} is not one this build reads ({PROMPT_VERSION:?}, \
                 {FIELD_PROMPT_VERSION:?}, {FIELD_RANGE_PROMPT_VERSION:?})"
            ))),
        }
    }

    /// `leadladder-prompt/1`, `/2` or `/3` (see the module docs).
    pub fn prompt_version(&self) -> &'static str {
        match &self.fields {
            Some(f) => f.prompt_version(),
            None => PROMPT_VERSION,
        }
    }

    /// The BPE tokenizer (dialogue text, EOS and padding).
    pub fn tokenizer(&self) -> &LeadTokenizer {
        &self.tokenizer
    }

    /// The field codec of a `leadladder-prompt/2` encoding.
    pub fn fields(&self) -> Option<&FieldCodec> {
        self.fields.as_ref()
    }

    /// Ids this encoding produces: the tokenizer's plus the field tokens. The model's
    /// `vocab_size` must be at least this.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.vocab_size() + self.fields.as_ref().map_or(0, FieldCodec::len)
    }

    /// Padding id.
    pub fn pad_id(&self) -> u32 {
        self.tokenizer.pad_id()
    }

    /// End-of-sequence id.
    pub fn eos_id(&self) -> u32 {
        self.tokenizer.eos_id()
    }

    /// Checks once per file that `schema` has the input fields the model was trained on (by
    /// name, kind and order; `leadladder-prompt/2` only). The error names the field.
    pub fn check_schema(&self, schema: &Schema) -> Result<()> {
        match &self.fields {
            Some(f) => f
                .check(schema)
                .map_err(|e| Error::InvalidArgument(e.to_string())),
            None => Ok(()),
        }
    }

    /// A readable name of token `id` (a field token's `field=value`, or the BPE piece).
    pub fn token_name(&self, id: u32) -> String {
        let base = self.tokenizer.vocab_size();
        match &self.fields {
            Some(f) if id as usize >= base => f
                .token_name(id as usize - base)
                .unwrap_or_else(|| format!("<id {id}>")),
            _ => self
                .tokenizer
                .inner()
                .id_to_token(id)
                .unwrap_or_else(|| format!("<id {id}>")),
        }
    }

    /// Encodes a lead within `max_tokens` (EOS included; at least 2). Text encoding: see
    /// [`LeadTokenizer::encode_lead`]. Field encoding: the field tokens (kept whole), then the
    /// dialogue section with its oldest turns dropped first to fit, then EOS; only when the
    /// field tokens alone exceed the budget is the sequence cut (flagged `truncated`).
    /// `text_mask` is 1 on the dialogue tokens.
    pub fn encode_lead(
        &self,
        schema: &Schema,
        lead: &Lead,
        turn_separator: &str,
        max_tokens: usize,
    ) -> Result<Encoded> {
        let Some(codec) = &self.fields else {
            return self
                .tokenizer
                .encode_lead(schema, lead, turn_separator, max_tokens);
        };
        if max_tokens < 2 {
            return Err(Error::InvalidArgument(format!(
                "max_tokens must be at least 2 (one token and EOS), got {max_tokens}"
            )));
        }
        let budget = max_tokens - 1;
        let base = self.tokenizer.vocab_size() as u32;
        let mut ids: Vec<u32> = codec
            .encode(schema, lead)
            .into_iter()
            .map(|k| base + k)
            .collect();
        let mut text_mask = vec![0u8; ids.len()];
        let (mut turns_kept, mut turns_total, mut truncated) = (0, 0, false);
        if ids.len() >= budget {
            truncated = ids.len() > budget;
            ids.truncate(budget);
            text_mask.truncate(budget);
        } else {
            let room = budget - ids.len();
            let rendered =
                prompt::render_dialogue(schema, lead, turn_separator, &self.tokenizer, room);
            turns_total = rendered.turns_total;
            turns_kept = rendered.turns_kept;
            let mut text = self.tokenizer.encode(&rendered.text)?;
            if text.len() > room {
                text.truncate(room);
                truncated = true;
            }
            text_mask.extend(std::iter::repeat_n(1u8, text.len()));
            ids.extend(text);
        }
        ids.push(self.tokenizer.eos_id());
        text_mask.push(0);
        Ok(Encoded {
            ids,
            text_mask,
            turns_kept,
            turns_total,
            truncated,
        })
    }
}
