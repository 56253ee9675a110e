//! FRR through vtysh: `show running-config` of bgpd is what it has, one vtysh process of
//! `network`/`no network` lines applies a change, and `show bgp … json` tells whether a
//! configured prefix is really advertised (BGP's import check). The dialect itself (the
//! parser, the command lines) is [`crate::frr`], shared with `check --frr`.

use super::{Backend, Call, Changes, Fault, FaultKind, RunningConfig, Vrf, process_fault};
use crate::frr;
use crate::vtysh;
use ipnetwork::IpNetwork;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub struct Frr {
    vtysh: PathBuf,
}

impl Frr {
    pub fn new(vtysh: &Path) -> Frr {
        Frr {
            vtysh: vtysh.to_path_buf(),
        }
    }

    fn run(&self, call: &mut Call<'_>, args: &[String]) -> Result<vtysh::Output, Fault> {
        call.run(&self.vtysh, args).map_err(process_fault)
    }
}

/// vtysh's answers that mean bgpd is not there.
fn unreachable(text: &str) -> bool {
    text.contains("failed to connect") || text.contains("is not running")
}

impl Backend for Frr {
    fn name(&self) -> &'static str {
        "FRR"
    }

    fn fault_text(&self, kind: FaultKind) -> &'static str {
        match kind {
            FaultKind::CannotRun => "vtysh cannot be run",
            FaultKind::TimedOut => "vtysh timed out",
            FaultKind::Aborted => "aborted by a termination signal",
            FaultKind::TempFile => "temporary file",
            FaultKind::CutOff => "vtysh's answer was cut off",
            FaultKind::Unreachable => "bgpd is not reachable",
            FaultKind::ReadFailed => "reading the running config failed",
            FaultKind::NotUnderstood => "bgpd's running config is not understood",
            FaultKind::Rejected | FaultKind::Refused => "FRR rejected the change",
            FaultKind::AlreadyGone => "a prefix to withdraw was already gone",
            FaultKind::Busy => "FRR is busy: another session holds its configuration lock",
            FaultKind::NotConfigured => "FRR lacks what the prefixes need",
            FaultKind::FileWrite => "a file could not be written",
        }
    }

    fn route_maps(&self) -> bool {
        true
    }

    /// `vtysh -d bgpd -c 'show running-config'`: asking bgpd alone makes "bgpd is down" an
    /// error instead of a running config with the bgp section silently missing.
    fn read(
        &mut self,
        call: &mut Call<'_>,
        _ours: &BTreeSet<(Vrf, IpNetwork)>,
    ) -> Result<RunningConfig, Fault> {
        let out = self.run(
            call,
            &super::args(&["-d", "bgpd", "-c", "show running-config"]),
        )?;
        if !out.success() {
            let all = format!("{}\n{}", out.stdout, out.stderr);
            let kind = if unreachable(&all) {
                FaultKind::Unreachable
            } else {
                FaultKind::ReadFailed
            };
            return Err(Fault::new(kind, out.summary()));
        }
        frr::parse_running_config(&out.stdout)
            .map_err(|detail| Fault::new(FaultKind::NotUnderstood, detail))
    }

    fn apply(
        &mut self,
        call: &mut Call<'_>,
        running: &RunningConfig,
        changes: &Changes,
    ) -> Result<(), Fault> {
        let args = command_args(running, changes);
        if args.is_empty() {
            return Ok(());
        }
        let out = self.run(call, &args)?;
        if out.success() {
            return Ok(());
        }
        let kind = if out.stdout.contains(frr::NOT_CONFIGURED) {
            // vtysh stops at the failing `no network`: the rest was not applied. The next
            // read shows what FRR really has.
            FaultKind::AlreadyGone
        } else if frr::config_locked(&out.stdout) || frr::config_locked(&out.stderr) {
            FaultKind::Busy
        } else if unreachable(&out.stderr) {
            FaultKind::Unreachable
        } else {
            FaultKind::Rejected
        };
        Err(Fault::new(
            kind,
            format!(
                "{} (commands: {})",
                out.summary(),
                vtysh::shell_words(&args)
            ),
        ))
    }

    fn describe(&self, running: &RunningConfig, changes: &Changes) -> Option<String> {
        let args = command_args(running, changes);
        (!args.is_empty()).then(|| {
            format!(
                "Dry run: not running {} {}",
                self.vtysh.display(),
                vtysh::shell_words(&args)
            )
        })
    }

    /// One vtysh process asks about all of them; anything unexpected means "unknown".
    fn advertised(
        &mut self,
        call: &mut Call<'_>,
        keys: &[&(Vrf, IpNetwork)],
    ) -> Result<Option<Vec<bool>>, Fault> {
        let args: Vec<String> = keys
            .iter()
            .flat_map(|(vrf, net)| ["-c".to_string(), frr::show_prefix_command(vrf, net)])
            .collect();
        let out = self.run(call, &args)?;
        if !out.success() {
            log::debug!("import check query failed: {}", out.summary());
            return Ok(None);
        }
        let flags = frr::parse_advertised(&out.stdout, keys.len());
        if flags.is_none() {
            log::debug!("import check: unexpected output from vtysh");
        }
        Ok(flags)
    }
}

/// The `-c` arguments of the one vtysh process that applies `changes`.
fn command_args(running: &RunningConfig, changes: &Changes) -> Vec<String> {
    frr::build_commands(running, changes)
        .into_iter()
        .flat_map(|c| ["-c".to_string(), c])
        .collect()
}
