//! One file per command.

pub mod demo;
pub mod info;
pub mod read;
pub mod retain;
pub mod verify;
pub mod write;
