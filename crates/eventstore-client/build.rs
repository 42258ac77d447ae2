//! Generates the client half of the EventStore service from the protocol
//! crate's `eventstore.proto`, against that crate's messages and codec.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../eventstore-protocol/proto";
    println!("cargo:rerun-if-changed={proto}/eventstore.proto");
    let fds = protox::compile([format!("{proto}/eventstore.proto")], [proto])?;
    tonic_prost_build::configure()
        .build_server(false)
        .extern_path(".eventstore.v1", "::eventstore_protocol::proto")
        .codec_path("::eventstore_protocol::codec::SizedCodec")
        .compile_fds(fds)?;
    Ok(())
}
