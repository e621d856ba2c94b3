//! Fixtures shared by the unit tests of the column mapping and the ranked queue.

use crate::spec::Spec;

/// A ladder spec with one column of each kind a queue reads.
pub const SPEC: &str = r#"
[columns]
id = "lead_id"
created_at = "created_at"
categorical = ["channel"]
text = ["dialogue"]
score = ["crm_score"]
[label]
column = "outcome"
equals = "won"
[[tier]]
name = "web first"
when = { column = "channel", equals = "web" }
"#;

#[allow(clippy::unwrap_used)]
pub fn spec() -> Spec {
    Spec::from_toml(SPEC).unwrap()
}

/// `n` leads for [`SPEC`]: channels cycle web, shop, phone; every seventh lead has won; every
/// eleventh dialogue starts like a spreadsheet formula.
pub fn csv(n: usize) -> Vec<u8> {
    let mut out = String::from("lead_id,created_at,channel,dialogue,crm_score,outcome\n");
    for i in 0..n {
        let channel = ["web", "shop", "phone"][i % 3];
        let dialogue = if i % 11 == 0 {
            "=1+1"
        } else {
            "customer: hello"
        };
        let outcome = if i % 7 == 0 { "won" } else { "lost" };
        out += &format!(
            "L{i:03},2025-01-{:02},{channel},\"{dialogue}\",{},{outcome}\n",
            1 + i % 28,
            (i * 13) % 17
        );
    }
    out.into_bytes()
}
