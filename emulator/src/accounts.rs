//! Keys, plans and credit accounting.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The built-in deterministic keys, one per plan.
pub const BUILTIN_KEYS: [(&str, &str); 4] = [
    ("free", "flx_live_2d66ab250124b9f72713a4575147eca36d2adb18"),
    (
        "starter",
        "flx_live_779cc5409832a78cdfe6728ad20b037afae98d3d",
    ),
    ("pro", "flx_live_2013767e3acf3d24ae00e76a837e420c6e23a065"),
    (
        "agency",
        "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Starter,
    Pro,
    Agency,
}

impl Plan {
    pub fn parse(s: &str) -> Option<Plan> {
        match s {
            "free" => Some(Plan::Free),
            "starter" => Some(Plan::Starter),
            "pro" => Some(Plan::Pro),
            "agency" => Some(Plan::Agency),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Agency => "agency",
        }
    }

    /// The `compressor_limit` shown by /api/usage (99999 is the "unlimited" sentinel).
    pub fn shown_limit(self) -> u64 {
        match self {
            Plan::Free => 20,
            Plan::Starter => 200,
            Plan::Pro | Plan::Agency => 99_999,
        }
    }

    /// The real number of compressions per billing period.
    pub fn real_cap(self) -> u64 {
        match self {
            Plan::Free => 20,
            Plan::Starter => 200,
            Plan::Pro | Plan::Agency => 50_000,
        }
    }

    pub fn ai_monthly(self) -> u64 {
        match self {
            Plan::Free => 0,
            Plan::Starter => 200,
            Plan::Pro => 1_000,
            Plan::Agency => 10_000,
        }
    }

    pub fn is_paid(self) -> bool {
        self != Plan::Free
    }
}

#[derive(Clone, Debug)]
pub struct Account {
    pub plan: Plan,
    /// The real number of compressions per period (the plan's, unless a keys file says).
    pub cap: u64,
    pub compressor_used: u64,
    pub ia_used: u64,
    pub ia_topup: u64,
    /// Charged since start or the last control reset (stats).
    pub charged_compress: u64,
    pub charged_ai: u64,
}

impl Account {
    pub fn new(plan: Plan) -> Account {
        Account {
            plan,
            cap: plan.real_cap(),
            compressor_used: 0,
            ia_used: 0,
            ia_topup: 0,
            charged_compress: 0,
            charged_ai: 0,
        }
    }

    pub fn compress_left(&self) -> u64 {
        self.cap.saturating_sub(self.compressor_used)
    }

    pub fn ai_left(&self) -> u64 {
        self.plan.ai_monthly().saturating_sub(self.ia_used) + self.ia_topup
    }

    /// Takes `n` compression credits (a reservation; see `refund_compress`).
    pub fn take_compress(&mut self, n: u64) {
        self.compressor_used += n;
        self.charged_compress += n;
    }

    pub fn refund_compress(&mut self, n: u64) {
        self.compressor_used = self.compressor_used.saturating_sub(n);
        self.charged_compress = self.charged_compress.saturating_sub(n);
    }

    /// Takes `n` AI credits: monthly ones first, then top-ups. Returns how many came from
    /// top-ups, so that a refund can give them back to the right pot.
    pub fn take_ai(&mut self, n: u64) -> u64 {
        let monthly = self.plan.ai_monthly().saturating_sub(self.ia_used).min(n);
        self.ia_used += monthly;
        let topup = (n - monthly).min(self.ia_topup);
        self.ia_topup -= topup;
        self.charged_ai += monthly + topup;
        topup
    }

    /// Gives back `n` AI credits, top-ups first (up to `from_topup`).
    pub fn refund_ai(&mut self, n: u64, from_topup: u64) {
        let t = n.min(from_topup);
        self.ia_topup += t;
        let m = (n - t).min(self.ia_used);
        self.ia_used -= m;
        self.charged_ai = self.charged_ai.saturating_sub(t + m);
    }

    /// The /api/usage answer (fields in the documented order).
    pub fn usage(&self) -> Usage {
        let monthly = self.plan.ai_monthly();
        let remaining = (monthly as i64 - self.ia_used as i64 + self.ia_topup as i64).max(0);
        Usage {
            plan: self.plan.as_str(),
            compressor_used: self.compressor_used,
            compressor_limit: self.plan.shown_limit(),
            ia_credits_used: self.ia_used,
            ia_credits_monthly: monthly,
            ia_topup_credits: self.ia_topup,
            ia_credits_remaining: remaining,
            can_compress: self.compress_left() > 0,
            can_use_ia: self.plan.is_paid() && remaining > 0,
            topups: Topups {
                small: "topup_small_500",
                medium: "topup_medium_2000",
                large: "topup_large_10000",
            },
        }
    }
}

#[derive(Serialize)]
pub struct Usage {
    pub plan: &'static str,
    pub compressor_used: u64,
    pub compressor_limit: u64,
    pub ia_credits_used: u64,
    pub ia_credits_monthly: u64,
    pub ia_topup_credits: u64,
    pub ia_credits_remaining: i64,
    #[serde(rename = "canCompress")]
    pub can_compress: bool,
    #[serde(rename = "canUseIA")]
    pub can_use_ia: bool,
    pub topups: Topups,
}

#[derive(Serialize)]
pub struct Topups {
    pub small: &'static str,
    pub medium: &'static str,
    pub large: &'static str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileEntry {
    key: String,
    plan: String,
    #[serde(default)]
    compressor_used: u64,
    #[serde(default)]
    ia_credits_used: u64,
    #[serde(default)]
    ia_topup_credits: u64,
    /// Emulator extension: overrides the real compression cap (e.g. for long benchmarks).
    #[serde(default)]
    compressor_cap: Option<u64>,
}

/// All accounts, plus the state they started in (for a control reset).
pub struct Accounts {
    pub map: HashMap<String, Account>,
    initial: HashMap<String, Account>,
    pub rolled: HashSet<String>,
}

impl Accounts {
    /// The built-in keys, then `fixed` (plan, key) pairs, then the keys file's entries; a later
    /// entry for the same key replaces an earlier one.
    pub fn new(
        keys_file: Option<&Path>,
        fixed: &[(String, String)],
        rolled: &[String],
    ) -> std::io::Result<Accounts> {
        let mut map = HashMap::new();
        for (plan, key) in BUILTIN_KEYS {
            map.insert(
                key.to_string(),
                Account::new(Plan::parse(plan).expect("plan")),
            );
        }
        let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        for (plan, key) in fixed {
            let p = Plan::parse(plan).ok_or_else(|| {
                bad(format!(
                    "unknown plan {plan:?} for key {key} (use free, starter, pro or agency)"
                ))
            })?;
            if !well_formed(key) {
                return Err(bad(format!(
                    "not a key for plan {plan}: {key:?} (a key is flx_live_ followed by 40 hexadecimal digits)"
                )));
            }
            map.insert(key.clone(), Account::new(p));
        }
        if let Some(path) = keys_file {
            let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
            let text = std::fs::read_to_string(path)?;
            let entries: Vec<KeyFileEntry> =
                serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
            for e in entries {
                let plan = Plan::parse(&e.plan)
                    .ok_or_else(|| bad(format!("{}: unknown plan {:?}", path.display(), e.plan)))?;
                let mut a = Account::new(plan);
                a.compressor_used = e.compressor_used;
                a.ia_used = e.ia_credits_used;
                a.ia_topup = e.ia_topup_credits;
                if let Some(cap) = e.compressor_cap {
                    a.cap = cap;
                }
                map.insert(e.key, a);
            }
        }
        Ok(Accounts {
            initial: map.clone(),
            map,
            rolled: rolled.iter().cloned().collect(),
        })
    }

    /// Restores every account to its start-up state.
    pub fn reset(&mut self) {
        self.map = self.initial.clone();
    }
}

/// `flx_live_` followed by 40 hexadecimal characters.
pub fn well_formed(key: &str) -> bool {
    key.len() == 49
        && key.starts_with("flx_live_")
        && key.as_bytes()[9..].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_keys_are_well_formed() {
        for (_, k) in BUILTIN_KEYS {
            assert!(well_formed(k), "{k}");
        }
        assert!(!well_formed("flx_live_abc"));
        assert!(!well_formed(
            "flx_test_2d66ab250124b9f72713a4575147eca36d2adb18"
        ));
    }

    #[test]
    fn ai_credits_monthly_then_topup() {
        let mut a = Account::new(Plan::Starter);
        a.ia_used = 199;
        a.ia_topup = 5;
        assert_eq!(a.ai_left(), 6);
        let from_topup = a.take_ai(3);
        assert_eq!((a.ia_used, a.ia_topup, from_topup), (200, 3, 2));
        assert_eq!(a.usage().ia_credits_remaining, 3);
        a.refund_ai(3, from_topup);
        assert_eq!((a.ia_used, a.ia_topup), (199, 5));
    }

    #[test]
    fn usage_arithmetic() {
        let mut a = Account::new(Plan::Pro);
        a.compressor_used = 45;
        a.ia_used = 120;
        a.ia_topup = 200;
        let u = serde_json::to_value(a.usage()).unwrap();
        assert_eq!(u["compressor_limit"], 99_999);
        assert_eq!(u["ia_credits_remaining"], 1080);
        assert_eq!(u["canCompress"], true);
        assert_eq!(u["canUseIA"], true);
        let f = serde_json::to_value(Account::new(Plan::Free).usage()).unwrap();
        assert_eq!(f["canUseIA"], false);
        assert_eq!(f["compressor_limit"], 20);
    }
}
