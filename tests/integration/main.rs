//! The one integration test binary: the real `anycastd` binary against a Cabourotte
//! stand-in, a stand-in vtysh, and real FRR in network namespaces.

mod bench;
mod bird;
mod cabourotte;
mod checks;
mod config_corpus;
mod core;
mod crash;
mod docs;
mod drain;
mod e2e;
mod faults;
mod frr_pins;
mod harness;
mod lab;
mod operate;
mod scale;
