//! Many services on one host, against real FRR: 1,200 services with one check each. What
//! is asserted is behaviour, not speed (the figures are `make bench`'s): every check is
//! polled again and again, the daemon stays one thread, router A ends up with exactly the
//! healthy services' prefixes, a burst of failures withdraws exactly those, and a stop
//! leaves nothing behind.

use crate::cabourotte::{Api, Behavior, Cabourotte};
use crate::harness::{Anycastd, TempDir, threads, wait_until};
use crate::lab::{Lab, LabOptions};
use std::collections::BTreeSet;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);
const SERVICES: usize = 1200;

fn prefix(k: usize) -> String {
    format!("10.{}.{}.0/24", 100 + k / 256, k % 256)
}

fn a_prefixes(lab: &Lab) -> BTreeSet<String> {
    lab.a_networks()
        .into_iter()
        .filter(|(vrf, p)| vrf.is_none() && p.starts_with("10."))
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn twelve_hundred_checks_are_all_polled_by_one_thread_and_frr_follows_health() {
    let Some(lab) = Lab::start(LabOptions {
        vrf: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = TempDir::new("scale");
    let cab = Cabourotte::start(Api::V2);
    let mut cfg = String::from("[global]\nreconcile_interval = \"2s\"\n");
    for k in 0..SERVICES {
        // Even services are healthy, odd ones fail.
        let b = if k % 2 == 0 {
            Behavior::Success
        } else {
            Behavior::Failure("down".into())
        };
        cab.set(&format!("c{k}"), b);
        cfg += &format!(
            "[services.s{k}]\nprefixes.frrouting = [{{ prefix = \"{}\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"c{k}\", url = \"{}\", interval = \"2s\" }}]\n",
            prefix(k),
            lab.vtysh_a().display(),
            cab.url()
        );
    }
    let healthy: BTreeSet<String> = (0..SERVICES).step_by(2).map(prefix).collect();
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(
        wait_until(30 * SEC, || a_prefixes(&lab) == healthy),
        "A does not have exactly the {} healthy prefixes: {} of ours there",
        healthy.len(),
        a_prefixes(&lab).len()
    );
    assert_eq!(threads(d.pid()), Some(1), "the daemon is one thread");

    // Every check keeps being polled: at 2 s, at least 3 polls each in 8 s.
    let before: Vec<u32> = (0..SERVICES).map(|k| cab.count(&format!("c{k}"))).collect();
    // Sampled all along, not once: a helper thread that comes and goes is a thread too.
    let end = std::time::Instant::now() + 8 * SEC;
    let mut most = 0;
    while std::time::Instant::now() < end {
        most = most.max(threads(d.pid()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(most, 1, "the daemon ran {most} threads at once");
    let starved: Vec<String> = (0..SERVICES)
        .filter(|&k| cab.count(&format!("c{k}")) < before[k] + 3)
        .map(|k| format!("c{k}: {}", cab.count(&format!("c{k}")) - before[k]))
        .collect();
    assert!(
        starved.is_empty(),
        "{} of {SERVICES} checks polled fewer than 3 times in 8 s: {:?}",
        starved.len(),
        &starved[..starved.len().min(10)]
    );

    // A burst: 200 healthy services fail at once; exactly their prefixes go.
    for k in (0..400).step_by(2) {
        cab.set(&format!("c{k}"), Behavior::Failure("burst".into()));
    }
    let left: BTreeSet<String> = (400..SERVICES).step_by(2).map(prefix).collect();
    let mut most = 0;
    assert!(
        wait_until(20 * SEC, || {
            most = most.max(threads(d.pid()).unwrap_or(0));
            a_prefixes(&lab) == left
        }),
        "after the burst A has {} of ours, expected {}",
        a_prefixes(&lab).len(),
        left.len()
    );
    assert_eq!(
        most, 1,
        "the daemon ran {most} threads at once during the burst"
    );

    assert_eq!(
        d.stop("TERM"),
        0,
        "{}",
        d.log()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        a_prefixes(&lab).is_empty(),
        "prefixes left on A after the stop"
    );
}
