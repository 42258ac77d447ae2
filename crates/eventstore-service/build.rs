//! Compiles `proto/eventstore.proto` with protox (a protobuf compiler in
//! Rust), so that building needs no `protoc` installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/eventstore.proto");
    let fds = protox::compile(["proto/eventstore.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .bytes(".eventstore.v1")
        .codec_path("crate::codec::SizedCodec")
        .compile_fds(fds)?;
    Ok(())
}
