//! What a reload changes: services added, removed, changed or unchanged, by name. Pure;
//! the daemon uses it for the summary it logs and carries state over by itself.

use crate::config::Config;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

impl Diff {
    pub fn summary(&self) -> String {
        let part = |what: &str, v: &[String]| {
            if v.is_empty() {
                None
            } else {
                Some(format!("{what} {}", v.join(", ")))
            }
        };
        let mut parts: Vec<String> = [
            part("added", &self.added),
            part("removed", &self.removed),
            part("changed", &self.changed),
        ]
        .into_iter()
        .flatten()
        .collect();
        parts.push(format!("{} unchanged", self.unchanged.len()));
        parts.join("; ")
    }
}

pub fn diff(old: &Config, new: &Config) -> Diff {
    let mut d = Diff::default();
    let by_name = |c: &Config| -> HashMap<String, usize> {
        c.services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect()
    };
    let (olds, news) = (by_name(old), by_name(new));
    for s in &new.services {
        match olds.get(&s.name).map(|&i| &old.services[i]) {
            None => d.added.push(s.name.clone()),
            Some(o) if o == s => d.unchanged.push(s.name.clone()),
            Some(_) => d.changed.push(s.name.clone()),
        }
    }
    for o in &old.services {
        if !news.contains_key(&o.name) {
            d.removed.push(o.name.clone());
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(text: &str) -> Config {
        crate::config::parse(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn classifies_services_by_name() {
        let old = cfg(
            "[services.a]\nprefixes.frrouting = [\"203.0.113.1\"]\nchecks.cabourotte = [\"a\"]\n[services.b]\nprefixes.frrouting = [\"203.0.113.2\"]\nchecks.cabourotte = [\"b\"]\n[services.c]\nprefixes.frrouting = [\"203.0.113.3\"]\nchecks.cabourotte = [\"c\"]\n",
        );
        let new = cfg(
            "[services.a]\nprefixes.frrouting = [\"203.0.113.1\"]\nchecks.cabourotte = [\"a\"]\n[services.b]\nprefixes.frrouting = [\"203.0.113.2\"]\nchecks.cabourotte = [{ name = \"b\", interval = 1 }]\n[services.d]\nprefixes.frrouting = [\"203.0.113.4\"]\nchecks.cabourotte = [\"d\"]\n",
        );
        let d = diff(&old, &new);
        assert_eq!(d.added, ["d"]);
        assert_eq!(d.removed, ["c"]);
        assert_eq!(d.changed, ["b"]);
        assert_eq!(d.unchanged, ["a"]);
        assert_eq!(d.summary(), "added d; removed c; changed b; 1 unchanged");
        assert_eq!(diff(&old, &old).summary(), "3 unchanged");
    }
}
