//! The dialogue log: rep/customer turns whose content reflects the latents with noise.
//!
//! The dialogue of lead `i` uses its own stream, `Rng::derive(seed ^ DIALOGUE_SALT, i)`, and every
//! wording choice consumes exactly one draw whatever the language, so the English and Chinese
//! dialogues of a lead are translations of the same conversation and the other columns do not
//! depend on the language.

use leadladder_core::rng::Rng;

use crate::Lang;
use crate::model::{Lead, MODELS, sigmoid};
use crate::phrases::{self as p, Phrase};

/// Salt separating the dialogue stream from the lead's main stream.
const DIALOGUE_SALT: u64 = 0x0D1A_7061_5E55_A17E;

/// Conversation topics a customer may bring up (or be asked about) in an answered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    Urgency,
    Price,
    Delivery,
    TestDrive,
    TradeIn,
    Finance,
    Competitor,
    Family,
    Interest,
    Hedge,
    Chitchat,
    App,
}

const TOPICS: [Topic; 12] = [
    Topic::Urgency,
    Topic::Price,
    Topic::Delivery,
    Topic::TestDrive,
    Topic::TradeIn,
    Topic::Finance,
    Topic::Competitor,
    Topic::Family,
    Topic::Interest,
    Topic::Hedge,
    Topic::Chitchat,
    Topic::App,
];

/// Uniform index below `n` from one draw (multiply-shift; the bias is negligible for tiny `n`).
#[inline]
fn pick(rng: &mut Rng, n: usize) -> usize {
    (((rng.next_u64() >> 32) * n as u64) >> 32) as usize
}

/// Appends `s` with `"` doubled (the dialogue is written inside a quoted CSV cell).
#[inline]
fn push_escaped(out: &mut String, s: &str) {
    if s.contains('"') {
        for (k, part) in s.split('"').enumerate() {
            if k > 0 {
                out.push_str("\"\"");
            }
            out.push_str(part);
        }
    } else {
        out.push_str(s);
    }
}

struct Writer<'a> {
    out: &'a mut String,
    rng: Rng,
    zh: bool,
    model: &'static str,
    competitor: &'static str,
    rep_name: &'static str,
    turns: usize,
}

impl Writer<'_> {
    fn turn(&mut self, rep: bool, phrase: &Phrase) {
        let variants = if self.zh { phrase.zh } else { phrase.en };
        let tpl = variants[pick(&mut self.rng, variants.len())];
        if self.turns > 0 {
            self.out.push('\n');
        }
        self.turns += 1;
        self.out.push_str(match (self.zh, rep) {
            (false, true) => "rep: ",
            (false, false) => "customer: ",
            (true, true) => "销售：",
            (true, false) => "客户：",
        });
        let mut rest = tpl;
        while let Some(at) = rest.find(['@', '#', '$']) {
            push_escaped(self.out, &rest[..at]);
            self.out.push_str(match rest.as_bytes()[at] {
                b'@' => self.model,
                b'#' => self.competitor,
                _ => self.rep_name,
            });
            rest = &rest[at + 1..];
        }
        push_escaped(self.out, rest);
    }

    fn rep(&mut self, phrase: &Phrase) {
        self.turn(true, phrase);
    }

    fn customer(&mut self, phrase: &Phrase) {
        self.turn(false, phrase);
    }

    fn chance(&mut self, prob: f64) -> bool {
        self.rng.chance(prob)
    }

    fn noise(&mut self, sd: f64) -> f64 {
        sd * self.rng.normal()
    }
}

/// Writes the dialogue of `lead` (number `i`) into `out`, CSV-escaped but without the enclosing
/// quotes. Writes nothing for a lead nobody has contacted yet.
pub(crate) fn write(out: &mut String, lead: &Lead, seed: u64, i: u64, lang: Lang) {
    let mut rng = Rng::derive(seed ^ DIALOGUE_SALT, i);
    let zh_if_mixed = rng.chance(0.5);
    let competitor = p::COMPETITORS[pick(&mut rng, p::COMPETITORS.len())];
    let (rep_en, rep_zh) = p::REPS[pick(&mut rng, p::REPS.len())];
    let zh = match lang {
        Lang::En => false,
        Lang::Zh => true,
        Lang::Mixed => zh_if_mixed,
    };
    let mut w = Writer {
        out,
        rng,
        zh,
        model: MODELS[lead.model].0,
        competitor,
        rep_name: if zh { rep_zh } else { rep_en },
        turns: 0,
    };
    let z = lead.z;
    let u = lead.urgency;
    let e = lead.engagement;

    if lead.calls == 0 {
        if w.chance(0.5) {
            w.rep(&p::SMS_FIRST);
        }
        return;
    }
    let mut used = [false; TOPICS.len()];
    let mut answered_before = false;
    'calls: for &secs in &lead.call_secs[..lead.calls] {
        if secs == 0 {
            w.rep(&p::NOT_ANSWERED);
            continue;
        }
        w.rep(if answered_before {
            &p::GREET_AGAIN
        } else {
            &p::GREET_FIRST
        });
        answered_before = true;
        if secs < 40 && w.chance(0.6) {
            w.customer(&p::BUSY);
            continue;
        }
        if w.chance(0.6) {
            w.customer(&p::CUST_HELLO);
        }
        // The customer's stance in this call: a noisy reading of intent.
        let s = z + w.noise(0.8);
        let n_topics = 1 + (secs / 100).min(3) as usize;
        for _ in 0..n_topics {
            let weights = TOPICS.map(|t| {
                let base = match t {
                    Topic::Urgency => 1.0,
                    Topic::Price => 1.0,
                    Topic::Delivery => 0.5,
                    Topic::TestDrive => 0.8,
                    Topic::TradeIn if lead.trade_in => 0.7,
                    Topic::TradeIn => 0.0,
                    Topic::Finance => 0.6,
                    Topic::Competitor => 0.6,
                    Topic::Family => 0.5,
                    Topic::Interest => 0.6,
                    Topic::Hedge => 0.4,
                    Topic::Chitchat => 0.6,
                    Topic::App if lead.app_sessions >= 2 => 0.5,
                    Topic::App => 0.0,
                };
                let repeatable = t == Topic::Chitchat;
                if used[t as usize] && !repeatable {
                    0.0
                } else {
                    base
                }
            });
            let topic = TOPICS[w.rng.weighted(&weights)];
            used[topic as usize] = true;
            match topic {
                Topic::Urgency => {
                    if w.chance(0.6) {
                        w.rep(&p::REP_WHEN);
                    }
                    let v = u + w.noise(0.6);
                    w.customer(if v > 0.5 {
                        &p::HURRY
                    } else if v < -0.5 {
                        &p::NO_HURRY
                    } else {
                        &p::SOMETIME
                    });
                }
                Topic::Price => {
                    w.customer(&p::PRICE_OBJECTION);
                    w.rep(&p::REP_OFFER);
                    let r = s + 0.4 * u + w.noise(0.7);
                    if r > 0.2 {
                        w.customer(&p::PRICE_RESOLVED);
                        // Asking about delivery once the price is settled: urgency shows.
                        if !used[Topic::Delivery as usize] && w.chance(sigmoid(1.5 * u)) {
                            used[Topic::Delivery as usize] = true;
                            w.customer(&p::DELIVERY_ASK);
                            w.rep(&p::DELIVERY_ANSWER);
                        }
                    } else {
                        w.customer(&p::PRICE_UNRESOLVED);
                    }
                }
                Topic::Delivery => {
                    // Curiosity about delivery before the price is discussed: weakly informative,
                    // and a price objection that follows is rarely resolved.
                    w.customer(&p::DELIVERY_ASK);
                    w.rep(&p::DELIVERY_ANSWER);
                    if !used[Topic::Price as usize] && w.chance(0.8 * sigmoid(-s)) {
                        used[Topic::Price as usize] = true;
                        w.customer(&p::PRICE_OBJECTION);
                        w.rep(&p::REP_OFFER);
                        let r = s - 0.5 + w.noise(0.7);
                        w.customer(if r > 0.2 {
                            &p::PRICE_RESOLVED
                        } else {
                            &p::PRICE_UNRESOLVED
                        });
                    }
                }
                Topic::TestDrive => {
                    let t = 0.6 * s + 0.6 * e + w.noise(0.7);
                    if t > 0.5 {
                        w.customer(&p::TEST_DRIVE_ASK);
                        w.rep(&p::TEST_DRIVE_SLOT);
                    } else {
                        w.rep(&p::TEST_DRIVE_INVITE);
                        w.customer(if t < -0.5 {
                            &p::TEST_DRIVE_NO
                        } else {
                            &p::TEST_DRIVE_MAYBE
                        });
                    }
                }
                Topic::TradeIn => {
                    if s + w.noise(0.8) > -0.3 {
                        w.customer(&p::TRADE_IN_ASK);
                        w.rep(&p::TRADE_IN_ANSWER);
                    } else {
                        w.customer(&p::TRADE_IN_UNSURE);
                    }
                }
                Topic::Finance => match lead.financing {
                    Some(true) => {
                        w.customer(&p::FINANCE_YES);
                        w.rep(&p::REP_CHITCHAT);
                    }
                    Some(false) => {
                        if w.chance(0.5) {
                            w.rep(&p::REP_FINANCE);
                        }
                        w.customer(&p::FINANCE_NO);
                    }
                    None => {
                        w.rep(&p::REP_FINANCE);
                        w.customer(&p::FINANCE_UNSURE);
                    }
                },
                Topic::Competitor => {
                    let c = s + w.noise(0.6);
                    if c < -1.7 {
                        w.customer(&p::COMPETITOR_DEPOSIT);
                        w.rep(&p::REP_UNDERSTOOD);
                        continue 'calls;
                    } else if c < -0.2 {
                        w.customer(&p::COMPETITOR_COMPARE);
                    } else {
                        w.customer(&p::NO_DEPOSIT_YET);
                    }
                }
                Topic::Family => {
                    let f = s + w.noise(0.8);
                    w.customer(if f > 0.9 {
                        &p::FAMILY_AGREED
                    } else {
                        &p::ASK_FAMILY
                    });
                }
                Topic::Interest => {
                    let v = s + w.noise(0.6);
                    if v > 0.6 {
                        w.customer(&p::VERY_INTERESTED);
                        if v > 2.0 {
                            w.customer(&p::OWN_DEPOSIT);
                        }
                    } else if v < -1.3 {
                        w.customer(&p::NOT_INTERESTED);
                        w.rep(&p::REP_UNDERSTOOD);
                        continue 'calls;
                    } else {
                        w.customer(&p::CHITCHAT);
                    }
                }
                Topic::Hedge => {
                    if s + w.noise(0.8) < 0.2 {
                        w.customer(&p::JUST_LOOKING);
                    } else {
                        w.customer(&p::CHITCHAT);
                        w.rep(&p::REP_CHITCHAT);
                    }
                }
                Topic::Chitchat => {
                    w.customer(&p::CHITCHAT);
                    if w.chance(0.7) {
                        w.rep(&p::REP_CHITCHAT);
                    }
                }
                Topic::App => w.customer(&p::APP_USED),
            }
        }
        w.rep(&p::REP_CLOSE);
        if w.chance(0.5) {
            w.customer(&p::CUST_BYE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_doubles_quotes() {
        let mut s = String::new();
        push_escaped(&mut s, r#"a "b" c"#);
        assert_eq!(s, r#"a ""b"" c"#);
    }

    #[test]
    fn every_phrase_has_matching_translations() {
        for (k, ph) in p::ALL.iter().enumerate() {
            assert_eq!(ph.en.len(), ph.zh.len(), "phrase {k}");
            for t in ph.en.iter().chain(ph.zh.iter()) {
                assert!(!t.contains('\n') && !t.trim().is_empty(), "{t}");
            }
        }
    }
}
