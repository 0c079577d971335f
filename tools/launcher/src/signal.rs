//! How the platform's own tools are asked to stop.

/// Resolves at the first SIGINT (Ctrl-C) or SIGTERM after its first poll.
pub async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind| async move {
        match signal(kind) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            // A signal that cannot be listened to never arrives.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = listen(SignalKind::interrupt()) => {}
        () = listen(SignalKind::terminate()) => {}
    }
}
