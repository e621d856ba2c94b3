//! Prompt rendering: one lead → the text the model reads. Deterministic and versioned: the trainer
//! and every scorer render through this one function, so training and scoring see the same text.
//!
//! Layout (`leadladder-prompt/1`):
//! ```text
//! channel: referral
//! city_tier: 2
//! trade_in: yes
//! financing_interest: unknown
//! dialogue:
//! [2 earlier turns omitted]
//! rep: Hello, this is Anna from Aurora Motors.
//! customer: When could I book a test drive?
//! ```
//! Input fields come first, one `name: value` line each, in spec order (categorical, numeric,
//! boolean); missing values read `unknown`; line breaks inside a field value become spaces. Then
//! each text column as `name:` followed by its turns, one per line (turns are split on the spec's
//! `turn_separator`; blank turns are dropped).
//!
//! Truncation is in tokens of the model's own tokenizer, seen through [`TokenCounter`] so this
//! crate needs no ML dependency: the field block is always kept whole; the dialogue loses its
//! OLDEST turns first, and a marker line says how many were dropped.
//!
//! `leadladder-prompt/2` (the from-scratch presets) keeps the dialogue section of this layout
//! ([`render_dialogue`]) and replaces the field block by one token per field
//! ([`crate::fields`]).

use crate::dataset::{Lead, Schema};
use crate::spec::Role;
use crate::value::Value;

/// Version of the rendering below; stored in model bundles. Bump it on any change to the text.
pub const PROMPT_VERSION: &str = "leadladder-prompt/1";

/// Counts tokens the way the model's tokenizer does.
pub trait TokenCounter {
    fn count(&self, text: &str) -> usize;
}

/// A rough counter (whitespace-separated words, each CJK character one token), for tools that
/// have no tokenizer. Models use their own tokenizer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApproxCounter;

impl TokenCounter for ApproxCounter {
    fn count(&self, text: &str) -> usize {
        let mut n = 0;
        let mut in_word = false;
        for c in text.chars() {
            if is_cjk(c) {
                n += 1;
                in_word = false;
            } else if c.is_whitespace() {
                in_word = false;
            } else if !in_word {
                n += 1;
                in_word = true;
            }
        }
        n
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

/// A rendered prompt and what truncation did to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub text: String,
    /// Dialogue turns in the lead.
    pub turns_total: usize,
    /// Turns kept after truncation (the newest ones).
    pub turns_kept: usize,
    /// Token count of the final text according to the counter.
    pub tokens: usize,
    /// True when even the field block alone exceeds the budget (it is kept anyway).
    pub over_budget: bool,
}

/// The field block: `name: value` lines for every non-text input column, in schema order.
pub fn field_block(schema: &Schema, lead: &Lead) -> String {
    let mut out = String::new();
    for (col, v) in schema.columns.iter().zip(lead.values.iter()) {
        if !matches!(col.role, Role::Categorical | Role::Numeric | Role::Boolean) {
            continue;
        }
        out.push_str(&one_line(&col.name));
        out.push_str(": ");
        match v {
            Value::Missing => out.push_str("unknown"),
            v => out.push_str(&one_line(&v.render())),
        }
        out.push('\n');
    }
    out
}

fn one_line(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect()
}

/// The dialogue turns of a lead: every text column in schema order, split on `turn_separator`,
/// trimmed, blank turns dropped. Returned with the index of the text column each came from.
pub fn turns<'a>(
    schema: &'a Schema,
    lead: &'a Lead,
    turn_separator: &str,
) -> Vec<(usize, &'a str)> {
    let mut out = Vec::new();
    for (ci, (col, v)) in schema.columns.iter().zip(lead.values.iter()).enumerate() {
        if col.role != Role::Text {
            continue;
        }
        if let Value::Str(s) = v {
            out.extend(
                s.split(turn_separator)
                    .map(|t| t.trim_matches(|c: char| c.is_whitespace()))
                    .filter(|t| !t.is_empty())
                    .map(|t| (ci, t)),
            );
        }
    }
    out
}

/// Assembles the prompt from the field block and the turns from `first_kept` on.
fn assemble(schema: &Schema, fields: &str, turns: &[(usize, &str)], first_kept: usize) -> String {
    let mut text = String::with_capacity(fields.len() + 64);
    text.push_str(fields);
    let mut current: Option<usize> = None;
    if first_kept > 0 && first_kept <= turns.len() {
        // The marker belongs to the section of the first dropped turn.
        let col = turns[0].0;
        text.push_str(&one_line(&schema.columns[col].name));
        text.push_str(":\n");
        current = Some(col);
        text.push_str(&format!(
            "[{first_kept} earlier turn{} omitted]\n",
            if first_kept == 1 { "" } else { "s" }
        ));
    }
    for (col, turn) in turns.iter().skip(first_kept) {
        if current != Some(*col) {
            text.push_str(&one_line(&schema.columns[*col].name));
            text.push_str(":\n");
            current = Some(*col);
        }
        for c in turn.chars() {
            text.push(if c == '\n' || c == '\r' { ' ' } else { c });
        }
        text.push('\n');
    }
    text
}

/// Renders a lead within `max_tokens` (counted by `counter`); `max_tokens == 0` means no limit.
pub fn render(
    schema: &Schema,
    lead: &Lead,
    turn_separator: &str,
    counter: &dyn TokenCounter,
    max_tokens: usize,
) -> Prompt {
    render_after(
        schema,
        lead,
        field_block(schema, lead),
        turn_separator,
        counter,
        max_tokens,
    )
}

/// Renders only the dialogue section, within `max_tokens`: the text of a
/// `leadladder-prompt/2` lead, whose structured fields are field tokens
/// ([`crate::fields::FieldCodec`]) placed before it. Truncation works as in [`render`]; when
/// not even the omitted-turns marker fits, the text is empty.
pub fn render_dialogue(
    schema: &Schema,
    lead: &Lead,
    turn_separator: &str,
    counter: &dyn TokenCounter,
    max_tokens: usize,
) -> Prompt {
    render_after(
        schema,
        lead,
        String::new(),
        turn_separator,
        counter,
        max_tokens,
    )
}

/// The prompt `fields` followed by the dialogue, within `max_tokens`.
fn render_after(
    schema: &Schema,
    lead: &Lead,
    fields: String,
    turn_separator: &str,
    counter: &dyn TokenCounter,
    max_tokens: usize,
) -> Prompt {
    let turns = turns(schema, lead, turn_separator);
    let total = turns.len();
    let full = assemble(schema, &fields, &turns, 0);
    let full_tokens = counter.count(&full);
    if max_tokens == 0 || full_tokens <= max_tokens {
        return Prompt {
            text: full,
            turns_total: total,
            turns_kept: total,
            tokens: full_tokens,
            over_budget: false,
        };
    }
    // Fewest dropped turns whose text fits: token counts are monotone in the number of turns
    // kept (up to the marker line), so binary search, then verify by counting the real text.
    let fits = |drop: usize| {
        let t = assemble(schema, &fields, &turns, drop);
        let n = counter.count(&t);
        (n <= max_tokens, t, n)
    };
    let (mut lo, mut hi) = (1, total); // `hi` (all dropped) is the fallback
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid).0 { hi = mid } else { lo = mid + 1 }
    }
    let (ok, text, tokens) = fits(lo);
    if ok {
        return Prompt {
            text,
            turns_total: total,
            turns_kept: total - lo,
            tokens,
            over_budget: false,
        };
    }
    // Not even the field block and the marker fit: keep the field block alone.
    let tokens = counter.count(&fields);
    Prompt {
        text: fields,
        turns_total: total,
        turns_kept: 0,
        tokens,
        over_budget: tokens > max_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Column;
    use crate::spec::CellKind;

    fn schema() -> Schema {
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

    fn lead(dialogue: &str) -> Lead {
        Lead {
            id: "L1".into(),
            created_at: 0,
            values: vec![
                Value::Str("web\nform".into()),
                Value::Num(3.0),
                Value::Missing,
                Value::Str(dialogue.into()),
                Value::Str("locked_in".into()),
            ]
            .into_boxed_slice(),
            row: 1,
        }
    }

    #[test]
    fn renders_fields_then_dialogue_and_never_outcomes() {
        let p = render(
            &schema(),
            &lead("rep: hi\n\ncustomer: hello"),
            "\n",
            &ApproxCounter,
            0,
        );
        assert_eq!(
            p.text,
            "channel: web form\ncalls_so_far: 3\nvisit_booked: unknown\ndialogue:\nrep: hi\ncustomer: hello\n"
        );
        assert!(!p.text.contains("locked_in"));
        assert_eq!((p.turns_total, p.turns_kept), (2, 2));
    }

    #[test]
    fn truncation_drops_oldest_turns_first() {
        let d = "rep: one one one\ncustomer: two two two\nrep: three three three\ncustomer: four four four";
        let full = render(&schema(), &lead(d), "\n", &ApproxCounter, 0);
        let p = render(&schema(), &lead(d), "\n", &ApproxCounter, full.tokens - 3);
        assert!(p.tokens <= full.tokens - 3);
        assert!(p.text.contains("four four four"));
        assert!(!p.text.contains("one one one"));
        assert!(p.text.contains("earlier turn"));
        assert!(
            p.text
                .starts_with("channel: web form\ncalls_so_far: 3\nvisit_booked: unknown\n")
        );
        // Budget below the field block: fields kept whole, flagged.
        let tiny = render(&schema(), &lead(d), "\n", &ApproxCounter, 2);
        assert_eq!(
            tiny.text,
            "channel: web form\ncalls_so_far: 3\nvisit_booked: unknown\n"
        );
        assert!(tiny.over_budget);
    }

    #[test]
    fn chinese_renders_and_counts() {
        let d = "销售：您好，我是小王\n客户：我想问一下提车要多久\n客户：不需要贷款";
        let p = render(&schema(), &lead(d), "\n", &ApproxCounter, 0);
        assert!(p.text.contains("客户：我想问一下提车要多久\n"));
        let cut = render(&schema(), &lead(d), "\n", &ApproxCounter, p.tokens - 8);
        assert!(cut.text.contains("不需要贷款"));
        assert!(!cut.text.contains("小王"));
        assert!(cut.turns_kept < cut.turns_total);
    }

    #[test]
    fn deterministic() {
        let a = render(&schema(), &lead("rep: x"), "\n", &ApproxCounter, 5);
        let b = render(&schema(), &lead("rep: x"), "\n", &ApproxCounter, 5);
        assert_eq!(a, b);
    }
}
