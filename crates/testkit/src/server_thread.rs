//! A loopback server on an OS thread of its own, with a current-thread runtime of its own,
//! so that it keeps serving whatever the test's thread does (block in a sync test, run a
//! runtime of its own). Each connection is a task; dropping the handle stops the server
//! and joins its thread, which ends every connection still open.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::net::TcpStream;
use tokio::sync::oneshot;

pub struct ServerThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Serves `listener` (bound already, so that connections made before the thread runs
    /// wait in its queue), each accepted connection by `connection`.
    pub fn spawn<F, Fut>(name: &str, listener: std::net::TcpListener, connection: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("{name}: the listener cannot be made non-blocking: {e}"));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let label = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("{label}: its runtime: {e}"));
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .unwrap_or_else(|e| panic!("{label}: the listener joins its runtime: {e}"));
                    loop {
                        tokio::select! {
                            // Sent, or its sender dropped: either way, stop.
                            _ = &mut stopped => return,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    tokio::spawn(connection(stream));
                                }
                            }
                        }
                    }
                });
            })
            .unwrap_or_else(|e| panic!("{name}: start its thread: {e}"));
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic of the server's thread has been reported already; the test's outcome
            // is decided by its own assertions.
            let _ = thread.join();
        }
    }
}
