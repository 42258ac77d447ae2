//! The log's integration tests, in one binary (one link instead of ten).

mod common;
mod compact;
mod corruption;
mod disk_full;
mod failed_sync_poisons_writer;
mod failed_syscalls;
mod follow_across_processes;
mod format_v1_fixture;
mod model;
mod power_loss;
mod recover_after_kill;
mod rolls_with_injected_clock;
