//! One file per command.

pub mod demo;
pub mod info;
pub mod ls;
pub mod poll;
pub mod read;
pub mod remote_args;
pub mod retain;
pub mod upload;
pub mod verify;
pub mod write;
