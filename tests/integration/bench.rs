//! `make bench`: figures, not assertions. Each benchmark is an ignored test that prints
//! medians and ratios (the machine is shared and noisy: compare ratios, not absolutes).
//!
//!   cargo test --release --test integration bench -- --ignored --nocapture --test-threads=1

use crate::cabourotte::{Api, Behavior, Cabourotte};
use crate::harness::{Anycastd, FakeFrr, TempDir, wait_until};
use crate::lab::{Lab, LabOptions, Router};
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn time_ms(mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1000.0
}

/// utime + stime of a process, in seconds (clock ticks of 1/100 s on Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// How reading FRR's state scales with a large BGP table: what anycastd reads (bgpd's
/// running config) against what the Python anycastd read before every change
/// (`show bgp detail json`), with 100k IPv6 routes in router A's table.
#[test]
#[ignore = "benchmark: make bench"]
fn bench_reconcile_with_100k_routes() {
    let Some(lab) = Lab::start(LabOptions { vrf: false }) else {
        return;
    };
    let n = 100_000;
    let mut text = format!(
        "router bgp {}\nno bgp network import-check\naddress-family ipv6 unicast\n",
        lab.asn_b()
    );
    for i in 0..n {
        text += &format!(
            "network 2001:db8:{:x}:{:x}::/64\n",
            0x1000 + i / 65536,
            i % 65536
        );
    }
    let file = lab.tmp_dir().join("100k.conf");
    std::fs::write(&file, text).expect("write route file");
    // Loading takes several seconds, longer than the lab's own vtysh deadline.
    let load = time_ms(|| {
        let mut child = std::process::Command::new("vtysh")
            .args(["-N", lab.ps(Router::B), "-f"])
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn vtysh");
        let ok = wait_until(Duration::from_secs(120), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !ok {
            let _ = child.kill();
            let _ = child.wait();
            panic!("loading {n} routes took more than 120 s");
        }
    });
    let received = || {
        let out = lab.vtysh(Router::A, &["-c", "show bgp ipv6 unicast summary json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["peers"]
            .as_object()
            .map(|p| p.values().filter_map(|x| x["pfxRcd"].as_u64()).sum::<u64>())
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(120), || received() >= n as u64),
        "A did not receive {n} routes"
    );
    println!("bench: loaded {n} IPv6 routes on B in {load:.0} ms; A received them all");

    let ours: Vec<f64> = (0..15)
        .map(|_| {
            time_ms(|| {
                let o = lab.vtysh(Router::A, &["-d", "bgpd", "-c", "show running-config"]);
                assert!(o.status.success());
            })
        })
        .collect();
    let mut size = 0;
    let theirs: Vec<f64> = (0..5)
        .map(|_| {
            time_ms(|| {
                let o = lab.vtysh(Router::A, &["-c", "show bgp detail json"]);
                size = o.stdout.len();
            })
        })
        .collect();
    let (a, b) = (median(ours), median(theirs));
    println!("bench: read FRR state, anycastd (`-d bgpd show running-config`): median {a:.1} ms");
    println!(
        "bench: read FRR state, Python anycastd (`show bgp detail json`, {:.0} MB): median {b:.0} ms",
        size as f64 / 1e6
    );
    println!("bench: ratio {:.0}x", b / a);

    // A whole reconcile of the real daemon against this router: its own counters.
    let dir = TempDir::new("bench100k");
    let cab = Cabourotte::start(Api::V2);
    cab.set("dns", Behavior::Success);
    let cfg = format!(
        "[global]\nreconcile_interval = \"500ms\"\nmetrics_file = \"{}\"\n[services.dns]\nprefixes.frrouting = [{{ prefix = \"203.0.113.53\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"dns\", url = \"{}\", interval = \"1s\" }}]\n",
        dir.path().join("m.prom").display(),
        lab.vtysh_a().display(),
        cab.url()
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    std::thread::sleep(Duration::from_secs(10));
    let metrics = std::fs::read_to_string(dir.path().join("m.prom")).unwrap_or_default();
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let calls = value("anycastd_vtysh_calls_total");
    let secs = value("anycastd_vtysh_duration_seconds_total");
    println!(
        "bench: daemon against the 100k-route router: {calls} vtysh calls in 10 s, mean {:.1} ms per call (reconcile = 1 read + 1 import-check query)",
        secs * 1000.0 / calls
    );
    assert_eq!(d.stop("TERM"), 0);
}

/// CPU and memory of the daemon itself: 100 services, one check each at 1 s, against the
/// stand-in vtysh (so FRR's own cost is not counted).
#[test]
#[ignore = "benchmark: make bench"]
fn bench_daemon_footprint() {
    let dir = TempDir::new("benchfoot");
    let cab = Cabourotte::start(Api::V2);
    let frr = FakeFrr::new(dir.path(), &[(None, 65536)]);
    let mut cfg = String::from("[global]\nreconcile_interval = \"5s\"\n");
    for i in 0..100 {
        cab.set(&format!("c{i}"), Behavior::Success);
        cfg += &format!(
            "[services.s{i}]\nprefixes.frrouting = [{{ prefix = \"10.{}.{}.0/24\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"c{i}\", url = \"{}\", interval = \"1s\" }}]\n",
            i / 256,
            i % 256,
            frr.path().display(),
            cab.url()
        );
    }
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(wait_until(Duration::from_secs(20), || frr.networks().len() == 100));
    let pid = d.pid();
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(20));
    let cpu = cpu_seconds(pid) - c0;
    let wall = t0.elapsed().as_secs_f64();
    let polls: u32 = (0..100).map(|i| cab.count(&format!("c{i}"))).sum();
    println!(
        "bench: 100 services at 1 s: {:.2}% of one core ({cpu:.2} s CPU in {wall:.0} s), RSS {} KiB, {polls} polls so far",
        100.0 * cpu / wall,
        rss_kib(pid)
    );
    assert_eq!(d.stop("TERM"), 0);
    let size = std::fs::metadata(crate::harness::bin())
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "bench: binary size {} KiB ({})",
        size / 1024,
        crate::harness::bin()
    );
}

/// From a health change to router B: how long until B has (or has lost) the prefix,
/// over several flips; the daemon's share is the poll interval plus one vtysh process.
#[test]
#[ignore = "benchmark: make bench"]
fn bench_health_change_to_peer() {
    let Some(lab) = Lab::start(LabOptions { vrf: false }) else {
        return;
    };
    let dir = TempDir::new("benchflip");
    let cab = Cabourotte::start(Api::V2);
    cab.set("dns", Behavior::Success);
    let cfg = format!(
        "[services.dns]\nprefixes.frrouting = [{{ prefix = \"203.0.113.53\", vtysh = \"{}\" }}]\nchecks.cabourotte = [{{ name = \"dns\", url = \"{}\", interval = \"100ms\", timeout = \"100ms\" }}]\n",
        lab.vtysh_a().display(),
        cab.url()
    );
    let mut d = Anycastd::start(dir.path(), &cfg);
    assert!(lab.wait_b_has_route("203.0.113.53/32", true, Duration::from_secs(20)));
    let (mut down, mut up) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        cab.set("dns", Behavior::Failure("down".into()));
        let t = Instant::now();
        assert!(lab.wait_b_has_route("203.0.113.53/32", false, Duration::from_secs(20)));
        down.push(t.elapsed().as_secs_f64() * 1000.0);
        cab.set("dns", Behavior::Success);
        let t = Instant::now();
        assert!(lab.wait_b_has_route("203.0.113.53/32", true, Duration::from_secs(20)));
        up.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "bench: check fails -> B loses the prefix: median {:.0} ms; check passes -> B learns it: median {:.0} ms (poll interval 100 ms, 10 flips)",
        median(down),
        median(up)
    );
    let t = Instant::now();
    assert_eq!(d.stop("TERM"), 0);
    println!(
        "bench: SIGTERM -> exit 0 with the prefix withdrawn and confirmed: {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
}
