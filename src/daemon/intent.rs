//! What should be announced, per prefix: health (every service that lists a prefix must
//! be healthy), drains (withdrawn while any listing service is drained, held during a
//! drain time), a graceful stop (everything held), and the route-map an announcement goes
//! out through (its own, or `drain_route_map` while held). Pure over the daemon's state.

use super::*;

impl Daemon<'_> {
    /// Service `si`'s prefixes are to be planned again: marked dirty; the instances they
    /// are on, each once. Cost: that service's prefixes.
    pub(super) fn touch(&mut self, si: usize) -> Vec<usize> {
        let mut touched: Vec<usize> = Vec::new();
        for (i, key) in &self.svc_prefixes[si] {
            self.instances[*i].dirty.insert(key.clone());
            if !touched.contains(i) {
                touched.push(*i);
            }
        }
        touched
    }

    pub(super) fn intents(&self, i: usize) -> Intents {
        let inst = &self.instances[i];
        let mut intents: Intents = inst
            .managed
            .iter()
            .map(|(key, svcs)| (key.clone(), self.intent_for(svcs)))
            .collect();
        for key in &inst.retiring {
            intents.insert(key.clone(), Intent::Withdraw);
        }
        intents
    }

    /// What health and drains say of a prefix listed by these services: withdrawn while
    /// any of them is drained, except during the drain time of every one of them, where
    /// it is held (kept if FRR has it, through `drain_route_map`, never announced anew).
    /// During a graceful stop everything is held. Health wins: an unhealthy service
    /// withdraws at once.
    pub(super) fn intent_for(&self, svcs: &[usize]) -> Intent {
        let base = reconcile::intent(svcs.iter().map(|&s| self.services[s].health));
        if base == Intent::Withdraw {
            return base;
        }
        if self.stopping.is_some() {
            return Intent::Hold;
        }
        let mut drained = svcs.iter().filter(|&&s| self.is_drained(s)).peekable();
        if drained.peek().is_none() {
            return base;
        }
        if drained.all(|&s| self.in_hold(s)) {
            return Intent::Hold;
        }
        Intent::Withdraw
    }

    /// The route-map the announcement of `key` goes out through now: `drain_route_map`
    /// while it is held (a drain time, a graceful stop), else its own, if any.
    pub(super) fn route_map_of(&self, i: usize, key: &(Vrf, IpNetwork)) -> Option<String> {
        let inst = &self.instances[i];
        let normal = inst.route_maps.get(key).cloned();
        let held = self.stopping.is_some()
            || inst
                .managed
                .get(key)
                .is_some_and(|svcs| svcs.iter().any(|&s| self.in_hold(s)));
        match (&self.config.global.drain_route_map, held) {
            (Some(rm), true) => Some(rm.clone()),
            _ => normal,
        }
    }

    /// The route-maps of the announcements of `intents`.
    pub(super) fn route_maps(
        &self,
        i: usize,
        intents: &Intents,
    ) -> BTreeMap<(Vrf, IpNetwork), String> {
        intents
            .iter()
            .filter(|(_, it)| matches!(**it, Intent::Announce | Intent::Hold))
            .filter_map(|(k, _)| self.route_map_of(i, k).map(|rm| (k.clone(), rm)))
            .collect()
    }

    pub(super) fn is_drained(&self, si: usize) -> bool {
        !self.drains.is_empty() && self.drains.contains_key(&self.services[si].name)
    }

    /// What health says of one prefix of instance `i` (retiring: withdraw).
    pub(super) fn intent_of(&self, i: usize, key: &(Vrf, IpNetwork)) -> Intent {
        match self.instances[i].managed.get(key) {
            Some(svcs) => self.intent_for(svcs),
            None => Intent::Withdraw,
        }
    }

    /// Every prefix this daemon may have announced through instance `i`.
    pub(super) fn ours(&self, i: usize) -> Vec<(Vrf, IpNetwork)> {
        let inst = &self.instances[i];
        inst.managed
            .keys()
            .chain(inst.retiring.iter())
            .cloned()
            .collect()
    }
}
