//! A service's health: check results in, healthy / unhealthy / undecided out, with a reason.
//!
//! Each check of a service counts as passing or failing. Its first result decides at once
//! (so a restarted daemon keeps a healthy service's prefixes without a flap); after that it
//! takes `rise` consecutive good results to pass again and `fall` consecutive bad ones to
//! fail. A service is healthy when every check passes, and undecided until every check
//! has reported once. Pure: no clock, no I/O.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Undecided,
    Healthy,
    Unhealthy,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Undecided => "undecided",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        })
    }
}

/// One check as seen by one service (rise/fall are per service).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckState {
    /// `None` until the first result.
    pub passing: Option<bool>,
    pub good_streak: u32,
    pub bad_streak: u32,
    /// The text of the last result ("success" or why it failed).
    pub last_reason: String,
}

impl CheckState {
    fn record(&mut self, ok: bool, reason: &str, rise: u32, fall: u32) {
        self.last_reason = reason.to_string();
        if ok {
            self.good_streak = self.good_streak.saturating_add(1);
            self.bad_streak = 0;
        } else {
            self.bad_streak = self.bad_streak.saturating_add(1);
            self.good_streak = 0;
        }
        self.passing = Some(match self.passing {
            None => ok,
            Some(false) => self.good_streak >= rise,
            Some(true) => self.bad_streak < fall,
        });
    }
}

/// A change of a service's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Health,
    pub to: Health,
    /// Why: the first failing check and its reason, or that every check passes.
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct ServiceState {
    pub name: String,
    pub rise: u32,
    pub fall: u32,
    /// Check names, in configuration order, with their state.
    pub checks: Vec<(String, CheckState)>,
    pub health: Health,
}

impl ServiceState {
    pub fn new(name: &str, check_names: &[String], rise: u32, fall: u32) -> ServiceState {
        ServiceState {
            name: name.to_string(),
            rise,
            fall,
            checks: check_names
                .iter()
                .map(|n| (n.clone(), CheckState::default()))
                .collect(),
            health: Health::Undecided,
        }
    }

    /// Feed the result of check number `index`; returns the transition if health changed.
    pub fn record(&mut self, index: usize, ok: bool, reason: &str) -> Option<Transition> {
        let (rise, fall) = (self.rise, self.fall);
        self.checks.get_mut(index)?.1.record(ok, reason, rise, fall);
        let new = self.evaluate();
        if new == self.health {
            return None;
        }
        let t = Transition {
            from: self.health,
            to: new,
            reason: self.reason(),
        };
        self.health = new;
        Some(t)
    }

    /// Re-evaluate after check states were carried over from a previous configuration,
    /// without reporting a transition (the caller logs what it needs).
    pub fn settle(&mut self) {
        self.health = self.evaluate();
    }

    fn evaluate(&self) -> Health {
        let mut all_pass = true;
        for (_, c) in &self.checks {
            match c.passing {
                None => return Health::Undecided,
                Some(p) => all_pass &= p,
            }
        }
        if all_pass {
            Health::Healthy
        } else {
            Health::Unhealthy
        }
    }

    /// The reason for the current evaluation, for logs and status.
    pub fn reason(&self) -> String {
        if let Some((name, c)) = self.checks.iter().find(|(_, c)| c.passing == Some(false)) {
            return format!("check {name}: {}", c.last_reason);
        }
        if let Some((name, _)) = self.checks.iter().find(|(_, c)| c.passing.is_none()) {
            return format!("check {name}: no result yet");
        }
        match self.checks.len() {
            1 => "its check passes".to_string(),
            n => format!("all {n} checks pass"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(checks: &[&str], rise: u32, fall: u32) -> ServiceState {
        let names: Vec<String> = checks.iter().map(|s| s.to_string()).collect();
        ServiceState::new("dns", &names, rise, fall)
    }

    #[test]
    fn undecided_until_every_check_reported() {
        let mut s = svc(&["a", "b"], 1, 1);
        assert_eq!(s.record(0, true, "success"), None);
        assert_eq!(s.health, Health::Undecided);
        assert_eq!(s.reason(), "check b: no result yet");
        let t = s.record(1, true, "success").unwrap();
        assert_eq!((t.from, t.to), (Health::Undecided, Health::Healthy));
        assert_eq!(t.reason, "all 2 checks pass");
    }

    #[test]
    fn first_result_decides_even_with_rise() {
        let mut s = svc(&["a"], 3, 3);
        assert_eq!(s.record(0, true, "success").unwrap().to, Health::Healthy);
        let mut s = svc(&["a"], 3, 3);
        let t = s.record(0, false, "stale result (312 s old)").unwrap();
        assert_eq!(t.to, Health::Unhealthy);
        assert_eq!(t.reason, "check a: stale result (312 s old)");
    }

    #[test]
    fn one_bad_check_makes_the_service_unhealthy() {
        let mut s = svc(&["a", "b"], 1, 1);
        s.record(0, true, "success");
        s.record(1, true, "success");
        let t = s.record(1, false, "timeout").unwrap();
        assert_eq!((t.from, t.to), (Health::Healthy, Health::Unhealthy));
        assert_eq!(t.reason, "check b: timeout");
        assert_eq!(s.record(0, true, "success"), None);
        assert_eq!(s.record(1, true, "success").unwrap().to, Health::Healthy);
    }

    #[test]
    fn rise_and_fall_need_consecutive_results() {
        let mut s = svc(&["a"], 2, 3);
        s.record(0, true, "success");
        assert_eq!(s.record(0, false, "x"), None);
        assert_eq!(s.record(0, false, "x"), None);
        assert_eq!(s.record(0, true, "success"), None); // streak broken
        assert_eq!(s.record(0, false, "x"), None);
        assert_eq!(s.record(0, false, "x"), None);
        assert_eq!(s.record(0, false, "x").unwrap().to, Health::Unhealthy);
        assert_eq!(s.record(0, true, "success"), None);
        assert_eq!(s.record(0, false, "x"), None);
        assert_eq!(s.record(0, true, "success"), None);
        assert_eq!(s.record(0, true, "success").unwrap().to, Health::Healthy);
        assert_eq!(s.checks[0].1.good_streak, 2);
    }

    #[test]
    fn defaults_flip_on_every_change() {
        let mut s = svc(&["a"], 1, 1);
        let mut flips = 0;
        for ok in [true, false, true, false, false, true] {
            if s.record(0, ok, if ok { "success" } else { "bad" })
                .is_some()
            {
                flips += 1;
            }
        }
        assert_eq!(flips, 5);
        assert_eq!(s.record(9, true, "out of range"), None);
    }
}
