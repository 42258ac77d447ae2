//! A real server on 127.0.0.1:0 in its own runtime thread.
#![allow(dead_code)]

use eventstore_service::{Client, ClientOptions, Server, ServerOptions};
use std::path::PathBuf;

pub struct TestServer {
    pub addr: String,
    pub data: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(opts: ServerOptions) -> TestServer {
        let data = opts.host.data.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let s = Server::bind("127.0.0.1:0", opts).await.unwrap();
                addr_tx.send(s.local_addr().unwrap()).unwrap();
                s.run(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap().to_string();
        TestServer {
            addr,
            data,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.addr, ClientOptions::default())
            .await
            .unwrap()
    }

    pub async fn client_with(&self, opts: ClientOptions) -> eventstore_service::Result<Client> {
        Client::connect(&self.addr, opts).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
