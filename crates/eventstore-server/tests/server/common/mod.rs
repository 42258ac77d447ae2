//! A real server on 127.0.0.1:0, on a thread of its own.
#![allow(dead_code)]

use eventstore_client::{Client, ClientOptions};
use eventstore_server::{BackgroundServer, ServerOptions};
use std::path::PathBuf;

pub struct TestServer {
    pub addr: String,
    pub data: PathBuf,
    _server: BackgroundServer,
}

impl TestServer {
    pub fn start(opts: ServerOptions) -> TestServer {
        let data = opts.host.data.clone();
        let server = BackgroundServer::start("127.0.0.1:0", opts, 2).unwrap();
        TestServer {
            addr: server.addr().to_string(),
            data,
            _server: server,
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.addr, ClientOptions::default())
            .await
            .unwrap()
    }

    pub async fn client_with(&self, opts: ClientOptions) -> eventstore_client::Result<Client> {
        Client::connect(&self.addr, opts).await
    }
}
