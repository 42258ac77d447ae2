//! One file per command.

pub mod audit;
pub mod book;
pub mod client_args;
pub mod compact;
pub mod demo;
pub mod import;
pub mod info;
pub mod ls;
pub mod orders;
pub mod poll;
pub mod publish;
pub mod read;
pub mod record;
pub mod remote_args;
pub mod retain;
pub mod serve;
pub mod subscribe;
pub mod trades;
pub mod upload;
pub mod verify;
pub mod write;
