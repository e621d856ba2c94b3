//! The ladder spec: which columns a CRM export has, what role each plays, which condition is the
//! binary label, the funnel's rungs (highest first) and the hand tier sort.
//!
//! ```toml
//! name = "nev-retail"
//!
//! [columns]
//! id = "lead_id"
//! created_at = "created_at"
//! categorical = ["channel", "city_tier"]
//! numeric = ["calls_so_far"]
//! boolean = ["visit_booked"]
//! text = ["dialogue"]
//! score = ["crm_score"]
//! ignore = ["latent_intent"]
//!
//! [label]
//! column = "outcome"
//! equals = "locked_in"
//!
//! [[rung]]
//! name = "global_dominance"
//! margin = 1.0
//! better = { column = "outcome", equals = "locked_in" }
//! worse = { column = "outcome", equals = "defeated" }
//!
//! [[tier]]
//! name = "visit booked"
//! when = { column = "visit_booked", equals = true }
//! ```
//!
//! Columns used by the label or a rung are *outcomes*; declaring one as an input is refused as
//! leakage. Tier conditions describe what is observed before scoring, so they may only use inputs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::value::{DateOrder, Value, parse_bool, parse_number};

/// The whole spec, as written in TOML (and embedded as JSON in model bundles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Human name of the dataset/funnel.
    #[serde(default)]
    pub name: String,
    pub columns: Columns,
    /// The binary conversion label (e.g. `outcome == locked_in`).
    pub label: Condition,
    /// Funnel rungs, highest first.
    #[serde(default, rename = "rung")]
    pub rungs: Vec<Rung>,
    /// The hand tier sort ("Monday move"), highest tier first; leads matching no tier come last.
    #[serde(default, rename = "tier")]
    pub tiers: Vec<Tier>,
    #[serde(default)]
    pub parse: ParseOptions,
}

/// Column roles. Every name is matched against the file's header case-, space- and
/// BOM-insensitively (see [`normalize_name`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub id: String,
    pub created_at: String,
    #[serde(default)]
    pub categorical: Vec<String>,
    #[serde(default)]
    pub numeric: Vec<String>,
    #[serde(default)]
    pub boolean: Vec<String>,
    /// Dialogue/notes columns; each cell holds turns separated by `parse.turn_separator`.
    #[serde(default)]
    pub text: Vec<String>,
    /// Existing scores (e.g. the CRM's own lead score): audited, never fed to the model.
    #[serde(default)]
    pub score: Vec<String>,
    /// Columns known to be present and deliberately unused (reported, never read).
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// Parsing options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseOptions {
    /// How to read ambiguous dates like `03/04/2025`.
    #[serde(default)]
    pub date_order: DateOrder,
    /// Separator between dialogue turns inside a text cell.
    #[serde(default = "default_turn_separator")]
    pub turn_separator: String,
}

fn default_turn_separator() -> String {
    "\n".to_string()
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            date_order: DateOrder::default(),
            turn_separator: default_turn_separator(),
        }
    }
}

/// One rung of the funnel ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    pub name: String,
    /// Bradley-Terry margin `m` for pairs formed at this rung.
    pub margin: f64,
    pub better: Condition,
    pub worse: Condition,
}

/// One tier of the hand tier sort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    pub when: Condition,
}

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Num(f64),
    Str(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Num(x) => write!(f, "{x}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A condition on one column, or a combination of conditions.
///
/// Exactly one test is given: `equals`, `in`, `gte`/`gt`/`lte`/`lt` (these may be combined for a
/// range), `missing`, `any`, `all` or `not`. Column tests need `column`. String comparison is
/// case-insensitive and ignores surrounding spaces.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Scalar>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Scalar>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Condition>>,
}

/// A condition as a rep reads it: `outcome = "locked_in"`, `visits ≥ 2`, `a or (b and not c)`.
impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let col = self.column.as_deref().unwrap_or("?");
        let join = |parts: &[Condition], word: &str| {
            parts
                .iter()
                .map(|p| {
                    if p.any.is_some() || p.all.is_some() {
                        format!("({p})")
                    } else {
                        p.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(word)
        };
        let mut tests = Vec::new();
        if let Some(v) = &self.equals {
            tests.push(format!("{col} = {v}"));
        }
        if let Some(vs) = &self.one_of {
            let vs: Vec<String> = vs.iter().map(ToString::to_string).collect();
            tests.push(format!("{col} in {{{}}}", vs.join(", ")));
        }
        for (op, v) in [
            ("≥", self.gte),
            (">", self.gt),
            ("≤", self.lte),
            ("<", self.lt),
        ] {
            if let Some(v) = v {
                tests.push(format!("{col} {op} {v}"));
            }
        }
        match self.missing {
            Some(true) => tests.push(format!("{col} is missing")),
            Some(false) => tests.push(format!("{col} is present")),
            None => {}
        }
        if let Some(any) = &self.any {
            tests.push(join(any, " or "));
        }
        if let Some(all) = &self.all {
            tests.push(join(all, " and "));
        }
        if let Some(not) = &self.not {
            tests.push(format!("not ({not})"));
        }
        f.write_str(&tests.join(" and "))
    }
}

/// What a column must hold for the conditions that read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    Bool,
    Num,
    Str,
}

/// The role a column plays once the spec is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Id,
    CreatedAt,
    Categorical,
    Numeric,
    Boolean,
    Text,
    Score,
    /// Read only by the label, rungs or tiers, never an input.
    Outcome,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Id => "id",
            Role::CreatedAt => "created_at",
            Role::Categorical => "categorical",
            Role::Numeric => "numeric",
            Role::Boolean => "boolean",
            Role::Text => "text",
            Role::Score => "score",
            Role::Outcome => "outcome",
        }
    }

    /// True for the roles the model reads (rendered into the prompt).
    pub fn is_model_input(self) -> bool {
        matches!(
            self,
            Role::Categorical | Role::Numeric | Role::Boolean | Role::Text
        )
    }
}

/// Normalises a column name for matching: strips a BOM, trims, lowercases, and treats runs of
/// spaces, `_`, `-` and `.` as one `_`.
pub fn normalize_name(name: &str) -> String {
    let trimmed = name.trim_start_matches('\u{feff}').trim();
    let mut out = String::with_capacity(trimmed.len());
    let mut pending_sep = false;
    for c in trimmed.chars() {
        if c.is_whitespace() || matches!(c, '_' | '-' | '.') {
            pending_sep = !out.is_empty();
        } else {
            if pending_sep {
                out.push('_');
                pending_sep = false;
            }
            out.extend(c.to_lowercase());
        }
    }
    out
}

impl Condition {
    /// Shorthand for `column == value`.
    pub fn equals(column: &str, value: Scalar) -> Self {
        Self {
            column: Some(column.to_string()),
            equals: Some(value),
            ..Self::default()
        }
    }

    fn tests(&self) -> Vec<&'static str> {
        let mut t = Vec::new();
        if self.equals.is_some() {
            t.push("equals");
        }
        if self.one_of.is_some() {
            t.push("in");
        }
        if self.gte.is_some() || self.gt.is_some() || self.lte.is_some() || self.lt.is_some() {
            t.push("range");
        }
        if self.missing.is_some() {
            t.push("missing");
        }
        if self.any.is_some() {
            t.push("any");
        }
        if self.all.is_some() {
            t.push("all");
        }
        if self.not.is_some() {
            t.push("not");
        }
        t
    }

    /// Checks the condition's shape; `at` names where it sits in the spec.
    pub fn validate(&self, at: &str) -> Result<()> {
        let tests = self.tests();
        if tests.len() != 1 {
            return Err(Error::Spec(format!(
                "{at}: a condition needs exactly one test (equals, in, gte/gt/lte/lt, missing, any, \
                 all, not); found {}",
                if tests.is_empty() {
                    "none".to_string()
                } else {
                    tests.join(", ")
                }
            )));
        }
        let composite = matches!(tests[0], "any" | "all" | "not");
        match (&self.column, composite) {
            (None, false) => {
                return Err(Error::Spec(format!(
                    "{at}: `{}` needs a `column`",
                    tests[0]
                )));
            }
            (Some(c), true) => {
                return Err(Error::Spec(format!(
                    "{at}: `{}` combines conditions and takes no `column` (found `{c}`)",
                    tests[0]
                )));
            }
            (Some(c), false) if c.trim().is_empty() => {
                return Err(Error::Spec(format!("{at}: empty column name")));
            }
            _ => {}
        }
        for (name, bound) in [
            ("gte", self.gte),
            ("gt", self.gt),
            ("lte", self.lte),
            ("lt", self.lt),
        ] {
            if bound.is_some_and(|b| !b.is_finite()) {
                return Err(Error::Spec(format!(
                    "{at}: `{name}` must be a finite number"
                )));
            }
        }
        if let Some(list) = &self.one_of
            && list.is_empty()
        {
            return Err(Error::Spec(format!("{at}: `in` needs at least one value")));
        }
        for (key, list) in [("any", &self.any), ("all", &self.all)] {
            if let Some(list) = list {
                if list.is_empty() {
                    return Err(Error::Spec(format!(
                        "{at}: `{key}` needs at least one condition"
                    )));
                }
                for (i, c) in list.iter().enumerate() {
                    c.validate(&format!("{at}.{key}[{i}]"))?;
                }
            }
        }
        if let Some(c) = &self.not {
            c.validate(&format!("{at}.not"))?;
        }
        Ok(())
    }

    /// Every column this condition reads, with the kind of value it needs.
    pub fn columns(&self, out: &mut Vec<(String, CellKind)>) {
        if let Some(col) = &self.column {
            let kind = if self.gte.is_some()
                || self.gt.is_some()
                || self.lte.is_some()
                || self.lt.is_some()
            {
                CellKind::Num
            } else if let Some(v) = &self.equals {
                scalar_kind(v)
            } else if let Some(list) = &self.one_of {
                list.iter().map(scalar_kind).max().unwrap_or(CellKind::Str)
            } else {
                CellKind::Str
            };
            out.push((col.clone(), kind));
        }
        for list in [&self.any, &self.all].into_iter().flatten() {
            for c in list {
                c.columns(out);
            }
        }
        if let Some(c) = &self.not {
            c.columns(out);
        }
    }

    /// Evaluates the condition; `lookup` maps a column name to its value for one lead.
    /// A value of the wrong kind (never produced by ingest) counts as not matching.
    pub fn eval<'a>(&self, lookup: &impl Fn(&str) -> Option<&'a Value>) -> bool {
        if let Some(list) = &self.any {
            return list.iter().any(|c| c.eval(lookup));
        }
        if let Some(list) = &self.all {
            return list.iter().all(|c| c.eval(lookup));
        }
        if let Some(c) = &self.not {
            return !c.eval(lookup);
        }
        let Some(col) = &self.column else {
            return false;
        };
        let missing_value = Value::Missing;
        let v = lookup(col).unwrap_or(&missing_value);
        if let Some(want) = self.missing {
            return v.is_missing() == want;
        }
        if v.is_missing() {
            return false;
        }
        if let Some(s) = &self.equals {
            return scalar_matches(s, v);
        }
        if let Some(list) = &self.one_of {
            return list.iter().any(|s| scalar_matches(s, v));
        }
        let Some(x) = v.as_f64() else { return false };
        self.gte.is_none_or(|b| x >= b)
            && self.gt.is_none_or(|b| x > b)
            && self.lte.is_none_or(|b| x <= b)
            && self.lt.is_none_or(|b| x < b)
    }
}

fn scalar_kind(s: &Scalar) -> CellKind {
    match s {
        Scalar::Bool(_) => CellKind::Bool,
        Scalar::Num(_) => CellKind::Num,
        Scalar::Str(_) => CellKind::Str,
    }
}

fn scalar_matches(s: &Scalar, v: &Value) -> bool {
    match s {
        Scalar::Bool(b) => v.as_bool() == Some(*b),
        Scalar::Num(x) => v.as_f64() == Some(*x),
        Scalar::Str(want) => match v {
            Value::Str(got) => got.trim().to_lowercase() == want.trim().to_lowercase(),
            Value::Bool(b) => parse_bool(want) == Some(*b),
            Value::Num(x) => parse_number(want) == Some(*x),
            _ => v.render().to_lowercase() == want.trim().to_lowercase(),
        },
    }
}

/// One column the spec asks ingest to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnUse {
    /// Name as written in the spec.
    pub name: String,
    pub role: Role,
    /// For outcome columns: the kind of value the conditions need.
    pub kind: CellKind,
}

impl Spec {
    /// Parses and validates a TOML spec.
    pub fn from_toml(text: &str) -> Result<Self> {
        let spec: Spec = toml::from_str(text).map_err(|e| Error::Spec(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Parses and validates a spec serialised as JSON (as embedded in bundles).
    pub fn from_json(text: &str) -> Result<Self> {
        let spec: Spec = serde_json::from_str(text).map_err(|e| Error::Spec(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Serialises the spec as JSON (the form bundles carry).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// The spec reduced to what scoring reads: id, created_at and the model's input columns. A
    /// file of new leads has no outcomes yet, and existing scores are never model inputs.
    pub fn scoring(&self) -> Spec {
        Spec {
            columns: Columns {
                score: Vec::new(),
                ..self.columns.clone()
            },
            label: Condition::default(),
            rungs: Vec::new(),
            tiers: Vec::new(),
            ..self.clone()
        }
    }

    /// The columns the label and the rungs read (each once, first use order).
    pub fn outcome_columns(&self) -> Vec<String> {
        self.column_uses()
            .into_iter()
            .filter(|u| u.role == Role::Outcome)
            .map(|u| u.name)
            .collect()
    }

    /// The declared input roles, in spec order: categorical, numeric, boolean, then text.
    pub fn input_columns(&self) -> Vec<(String, Role)> {
        let c = &self.columns;
        let mut out = Vec::new();
        out.extend(c.categorical.iter().map(|n| (n.clone(), Role::Categorical)));
        out.extend(c.numeric.iter().map(|n| (n.clone(), Role::Numeric)));
        out.extend(c.boolean.iter().map(|n| (n.clone(), Role::Boolean)));
        out.extend(c.text.iter().map(|n| (n.clone(), Role::Text)));
        out
    }

    /// Every column ingest must read, in a fixed order: inputs (spec order), scores, then the
    /// outcome columns read by the label and rungs (first use order). Id and created_at are
    /// handled separately and are not listed.
    pub fn column_uses(&self) -> Vec<ColumnUse> {
        let mut out: Vec<ColumnUse> = self
            .input_columns()
            .into_iter()
            .map(|(name, role)| ColumnUse {
                name,
                role,
                kind: CellKind::Str,
            })
            .collect();
        out.extend(self.columns.score.iter().map(|n| ColumnUse {
            name: n.clone(),
            role: Role::Score,
            kind: CellKind::Num,
        }));
        let mut outcome_kinds: Vec<(String, CellKind)> = Vec::new();
        for (name, kind) in self.outcome_reads() {
            let key = normalize_name(&name);
            match outcome_kinds
                .iter_mut()
                .find(|(n, _)| normalize_name(n) == key)
            {
                // A column read both as a string and as a bool/number stays a string.
                Some((_, k)) => *k = (*k).max(kind),
                None => outcome_kinds.push((name, kind)),
            }
        }
        out.extend(outcome_kinds.into_iter().map(|(name, kind)| ColumnUse {
            name,
            role: Role::Outcome,
            kind,
        }));
        out
    }

    /// Columns read by the label and the rungs (may repeat).
    fn outcome_reads(&self) -> Vec<(String, CellKind)> {
        let mut reads = Vec::new();
        self.label.columns(&mut reads);
        for r in &self.rungs {
            r.better.columns(&mut reads);
            r.worse.columns(&mut reads);
        }
        reads
    }

    /// Validates shapes, names and the leakage rule.
    pub fn validate(&self) -> Result<()> {
        let c = &self.columns;
        if c.id.trim().is_empty() || c.created_at.trim().is_empty() {
            return Err(Error::Spec(
                "columns.id and columns.created_at must name columns".into(),
            ));
        }
        // Each column plays one declared role.
        let mut roles: BTreeMap<String, (String, &'static str)> = BTreeMap::new();
        let declared = [
            ("id", std::slice::from_ref(&c.id)),
            ("created_at", std::slice::from_ref(&c.created_at)),
            ("categorical", &c.categorical[..]),
            ("numeric", &c.numeric[..]),
            ("boolean", &c.boolean[..]),
            ("text", &c.text[..]),
            ("score", &c.score[..]),
            ("ignore", &c.ignore[..]),
        ];
        for (role, names) in declared {
            for n in names {
                let key = normalize_name(n);
                if key.is_empty() {
                    return Err(Error::Spec(format!("columns.{role}: empty column name")));
                }
                if let Some((_, prev)) = roles.insert(key, (n.clone(), role)) {
                    return Err(Error::Spec(format!(
                        "column `{n}` is declared twice (as {prev} and as {role})"
                    )));
                }
            }
        }
        self.label.validate("label")?;
        let mut names = BTreeSet::new();
        for (i, r) in self.rungs.iter().enumerate() {
            let at = format!("rung[{i}] `{}`", r.name);
            if r.name.trim().is_empty() {
                return Err(Error::Spec(format!("rung[{i}]: a rung needs a name")));
            }
            if !names.insert(r.name.clone()) {
                return Err(Error::Spec(format!("{at}: duplicate rung name")));
            }
            if !r.margin.is_finite() || r.margin < 0.0 {
                return Err(Error::Spec(format!(
                    "{at}: margin must be a finite number >= 0 (found {})",
                    r.margin
                )));
            }
            r.better.validate(&format!("{at}.better"))?;
            r.worse.validate(&format!("{at}.worse"))?;
            if r.better == r.worse {
                return Err(Error::Spec(format!(
                    "{at}: `better` and `worse` are the same condition"
                )));
            }
        }
        for (i, t) in self.tiers.iter().enumerate() {
            if t.name.trim().is_empty() {
                return Err(Error::Spec(format!("tier[{i}]: a tier needs a name")));
            }
            t.when.validate(&format!("tier[{i}] `{}`.when", t.name))?;
        }
        if self.parse.turn_separator.is_empty() {
            return Err(Error::Spec("parse.turn_separator must not be empty".into()));
        }
        // Leakage: outcomes may not be inputs (or id/time/score/ignored columns).
        let mut used_by: Vec<(String, String)> = Vec::new();
        let mut reads = Vec::new();
        self.label.columns(&mut reads);
        used_by.extend(reads.drain(..).map(|(c, _)| (c, "the label".to_string())));
        for r in &self.rungs {
            r.better.columns(&mut reads);
            r.worse.columns(&mut reads);
            used_by.extend(
                reads
                    .drain(..)
                    .map(|(c, _)| (c, format!("rung `{}`", r.name))),
            );
        }
        for (col, by) in &used_by {
            // `ignore` means "deliberately not an input", which an outcome column is: listing
            // it there is accepted; every other declared role would make it an input.
            if let Some((name, role)) = roles
                .get(&normalize_name(col))
                .filter(|(_, role)| *role != "ignore")
            {
                return Err(Error::Leakage {
                    column: name.clone(),
                    role: (*role).to_string(),
                    used_by: by.clone(),
                });
            }
        }
        // Tiers read what is observed before scoring: inputs only, never outcomes.
        let outcome_names: BTreeSet<String> =
            used_by.iter().map(|(c, _)| normalize_name(c)).collect();
        for t in &self.tiers {
            t.when.columns(&mut reads);
            for (col, _) in reads.drain(..) {
                let key = normalize_name(&col);
                if outcome_names.contains(&key) {
                    return Err(Error::Leakage {
                        column: col,
                        role: format!("hand tier `{}`", t.name),
                        used_by: "the label or a rung".to_string(),
                    });
                }
                match roles.get(&key) {
                    Some((_, role))
                        if matches!(*role, "categorical" | "numeric" | "boolean" | "text") => {}
                    Some((_, role)) => {
                        return Err(Error::Spec(format!(
                            "tier `{}` reads column `{col}`, which is declared as {role}; tiers may \
                             read only input columns",
                            t.name
                        )));
                    }
                    None => {
                        return Err(Error::Spec(format!(
                            "tier `{}` reads column `{col}`, which is not declared as an input",
                            t.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The columns a spec reads, by role, and its label in words: what a page shows about a model's
/// spec (`BundleInfo.spec`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecInfo {
    pub name: String,
    pub id: String,
    pub created_at: String,
    pub categorical: Vec<String>,
    pub numeric: Vec<String>,
    pub boolean: Vec<String>,
    pub text: Vec<String>,
    /// Every model input, in prompt order (categorical, numeric, boolean, text).
    pub inputs: Vec<String>,
    pub score: Vec<String>,
    pub outcome_columns: Vec<String>,
    /// The label condition in words ([`Condition`]'s `Display`).
    pub label: String,
    /// Hand tier names, best first.
    pub tiers: Vec<String>,
    /// Each tier's rule in words, in the order of `tiers`.
    pub tier_rules: Vec<String>,
    /// The ladder's rungs, highest first, their conditions in words.
    pub rungs: Vec<RungInfo>,
}

/// A rung as a page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RungInfo {
    pub name: String,
    pub margin: f64,
    pub better: String,
    pub worse: String,
}

impl SpecInfo {
    pub fn new(spec: &Spec) -> Self {
        let c = &spec.columns;
        Self {
            name: spec.name.clone(),
            id: c.id.clone(),
            created_at: c.created_at.clone(),
            categorical: c.categorical.clone(),
            numeric: c.numeric.clone(),
            boolean: c.boolean.clone(),
            text: c.text.clone(),
            inputs: spec.input_columns().into_iter().map(|(n, _)| n).collect(),
            score: c.score.clone(),
            outcome_columns: spec.outcome_columns(),
            label: spec.label.to_string(),
            tiers: spec.tiers.iter().map(|t| t.name.clone()).collect(),
            tier_rules: spec.tiers.iter().map(|t| t.when.to_string()).collect(),
            rungs: spec
                .rungs
                .iter()
                .map(|r| RungInfo {
                    name: r.name.clone(),
                    margin: r.margin,
                    better: r.better.to_string(),
                    worse: r.worse.to_string(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SPEC: &str = r#"
name = "t"
[columns]
id = "Lead ID"
created_at = "created_at"
categorical = ["channel"]
numeric = ["calls_so_far"]
boolean = ["visit_booked"]
text = ["dialogue"]
score = ["crm_score"]

[label]
column = "outcome"
equals = "locked_in"

[[rung]]
name = "global"
margin = 1.0
better = { column = "outcome", equals = "locked_in" }
worse = { column = "outcome", equals = "defeated" }

[[rung]]
name = "key"
margin = 0.5
better = { column = "test_drive", equals = true }
worse = { column = "test_drive", equals = false }

[[tier]]
name = "visit"
when = { column = "visit_booked", equals = true }
[[tier]]
name = "engaged"
when = { any = [{ column = "calls_so_far", gte = 2 }] }
"#;

    #[test]
    fn parses_and_lists_uses() {
        let s = Spec::from_toml(SPEC).unwrap();
        assert_eq!(s.rungs.len(), 2);
        let uses = s.column_uses();
        let outcome: Vec<_> = uses
            .iter()
            .filter(|u| u.role == Role::Outcome)
            .map(|u| (u.name.as_str(), u.kind))
            .collect();
        assert_eq!(
            outcome,
            vec![("outcome", CellKind::Str), ("test_drive", CellKind::Bool)]
        );
        let back = Spec::from_json(&s.to_json().unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn leakage_is_refused_naming_the_column() {
        let bad = SPEC.replace(
            r#"boolean = ["visit_booked"]"#,
            r#"boolean = ["visit_booked", "Test Drive"]"#,
        );
        let err = Spec::from_toml(&bad).unwrap_err();
        match err {
            Error::Leakage {
                column,
                role,
                used_by,
            } => {
                assert_eq!(column, "Test Drive");
                assert_eq!(role, "boolean");
                assert_eq!(used_by, "rung `key`");
            }
            e => panic!("{e}"),
        }
        let bad = SPEC.replace(
            r#"when = { column = "visit_booked", equals = true }"#,
            r#"when = { column = "outcome", equals = "x" }"#,
        );
        assert!(matches!(Spec::from_toml(&bad), Err(Error::Leakage { .. })));
    }

    #[test]
    fn an_outcome_listed_under_ignore_is_not_an_input() {
        // `ignore` = deliberately unused as an input, which an outcome column is.
        let ok = SPEC.replace(
            r#"score = ["crm_score"]"#,
            "score = [\"crm_score\"]\nignore = [\"Test Drive\", \"notes\"]",
        );
        let s = Spec::from_toml(&ok).unwrap();
        assert!(s.input_columns().iter().all(|(n, _)| n != "Test Drive"));
        assert!(
            s.column_uses()
                .iter()
                .any(|u| u.name == "test_drive" && u.role == Role::Outcome),
            "the rung still reads it as an outcome"
        );
        // As an input role it is still refused (leakage_is_refused_naming_the_column).
    }

    #[test]
    fn bad_conditions_are_named() {
        let bad = SPEC.replace(
            r#"worse = { column = "outcome", equals = "defeated" }"#,
            r#"worse = { column = "outcome" }"#,
        );
        let msg = Spec::from_toml(&bad).unwrap_err().to_string();
        assert!(msg.contains("rung[0] `global`.worse"), "{msg}");
        let bad = SPEC.replace("margin = 0.5", "margin = -1");
        assert!(
            Spec::from_toml(&bad)
                .unwrap_err()
                .to_string()
                .contains("margin")
        );
        let bad = SPEC.replace("name = \"t\"", "name = \"t\"\nbogus = 1");
        assert!(
            Spec::from_toml(&bad)
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_name("\u{feff} Lead  ID "), "lead_id");
        assert_eq!(normalize_name("Created-At"), "created_at");
        assert_eq!(normalize_name("线索ID"), "线索id");
    }

    #[test]
    fn conditions_evaluate() {
        let v_true = Value::Bool(true);
        let v_str = Value::Str("Locked_In ".into());
        let v_num = Value::Num(3.0);
        let lookup = |c: &str| match c {
            "b" => Some(&v_true),
            "s" => Some(&v_str),
            "n" => Some(&v_num),
            _ => None,
        };
        assert!(Condition::equals("b", Scalar::Bool(true)).eval(&lookup));
        assert!(Condition::equals("s", Scalar::Str("locked_in".into())).eval(&lookup));
        let range = Condition {
            column: Some("n".into()),
            gte: Some(2.0),
            lt: Some(3.5),
            ..Default::default()
        };
        assert!(range.eval(&lookup));
        let miss = Condition {
            column: Some("zz".into()),
            missing: Some(true),
            ..Default::default()
        };
        assert!(miss.eval(&lookup));
        let not = Condition {
            not: Some(Box::new(miss)),
            ..Default::default()
        };
        assert!(!not.eval(&lookup));
    }

    #[test]
    fn conditions_print_as_a_rep_reads_them() {
        let cond: Condition = toml::from_str(
            "any = [{ column = \"a\", gte = 2.0 }, { column = \"b\", missing = true }]",
        )
        .unwrap();
        assert_eq!(cond.to_string(), "a ≥ 2 or b is missing");
        let nested: Condition = toml::from_str(
            "all = [{ column = \"x\", in = [\"p\", 1] }, { any = [{ column = \"y\", equals = true }, { not = { column = \"z\", lt = 3 } }] }]",
        )
        .unwrap();
        assert_eq!(
            nested.to_string(),
            "x in {\"p\", 1} and (y = true or not (z < 3))"
        );
    }

    #[test]
    fn spec_info_names_roles_and_the_scoring_spec_drops_outcomes() {
        let spec = Spec::from_toml(
            r#"
[columns]
id = "lead_id"
created_at = "created_at"
categorical = ["channel"]
score = ["crm_score"]
[label]
column = "outcome"
equals = "won"
[[tier]]
name = "hot"
when = { column = "channel", equals = "web" }
"#,
        )
        .unwrap();
        let info = SpecInfo::new(&spec);
        assert_eq!(info.id, spec.columns.id);
        assert_eq!(info.inputs, vec!["channel"]);
        assert_eq!(info.outcome_columns, vec!["outcome"]);
        assert_eq!(info.label, "outcome = \"won\"");
        assert_eq!(info.tiers, vec!["hot"]);
        let scoring = spec.scoring();
        assert!(scoring.outcome_columns().is_empty());
        assert!(scoring.tiers.is_empty() && scoring.columns.score.is_empty());
        assert_eq!(scoring.input_columns(), spec.input_columns());
    }
}
