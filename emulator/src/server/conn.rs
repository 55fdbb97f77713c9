//! Accepting connections: per-origin counting, TLS or plain HTTP, one hyper connection each.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::peer::Peer;
use super::routes::{api, download_origin, foreign};
use super::shaping::{Bucket, Shaped};
use super::{Role, State};

pub(crate) async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    role: Role,
    tls: Option<TlsAcceptor>,
) {
    // The origin's own caps, shared by all its connections.
    let origin_up = state.settings.upload_rate.map(Bucket::new);
    let origin_down = state.settings.download_rate.map(Bucket::new);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // Out of file descriptors or similar: back off a little.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let Ok((tcp, peer)) = with_peer(tcp) else {
            continue;
        };
        match role {
            Role::Api => &state.stats.conn_api,
            Role::Download => &state.stats.conn_download,
            Role::Foreign => &state.stats.conn_foreign,
        }
        .fetch_add(1, Relaxed);
        // A connection's bytes pass its origin's bucket and its own.
        let up = buckets(&origin_up, state.settings.conn_upload_rate);
        let down = buckets(&origin_down, state.settings.conn_download_rate);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            // Connection set-up costs a round trip before the client can be served.
            if !state.settings.rtt.is_zero() {
                tokio::time::sleep(state.settings.rtt).await;
            }
            match tls {
                Some(acceptor) => {
                    if role == Role::Foreign && !starts_with_tls(&tcp).await {
                        // The foreign listener also speaks plain HTTP (the redirect-http target).
                        serve(Shaped::new(tcp, up, down), state, role, peer).await;
                        return;
                    }
                    let tcp = Shaped::new(tcp, up, down);
                    let accepted =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
                    if let Ok(Ok(stream)) = accepted {
                        state.stats.tls_handshakes.fetch_add(1, Relaxed);
                        serve(stream, state, role, peer).await;
                    }
                }
                None => serve(Shaped::new(tcp, up, down), state, role, peer).await,
            }
        });
    }
}

fn buckets(origin: &Option<Arc<Bucket>>, conn_rate: Option<u64>) -> Vec<Arc<Bucket>> {
    origin
        .iter()
        .cloned()
        .chain(conn_rate.map(Bucket::new))
        .collect()
}

/// Pairs a connection with a [`Peer`] on a duplicate of its socket (without one if the process
/// is out of descriptors).
fn with_peer(tcp: TcpStream) -> std::io::Result<(TcpStream, Arc<Peer>)> {
    let std = tcp.into_std()?;
    let dup = std.try_clone().ok();
    Ok((TcpStream::from_std(std)?, Arc::new(Peer::new(dup))))
}

/// Whether the first byte the client sends is a TLS handshake record.
async fn starts_with_tls(tcp: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), tcp.peek(&mut b)).await,
        Ok(Ok(1)) if b[0] == 0x16
    )
}

async fn serve<S>(io: S, state: Arc<State>, role: Role, peer: Arc<Peer>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let state = state.clone();
        // Handlers that hold an answer (the stall fault) ask it whether the client is still there.
        req.extensions_mut().insert(peer.clone());
        async move {
            let rtt = state.settings.rtt;
            let answer = match role {
                Role::Api => api(state, req).await,
                Role::Download => download_origin(state, req).await,
                Role::Foreign => foreign(state, req).await,
            };
            // A round trip passes between the request and the first byte of its answer.
            if !rtt.is_zero() && answer.is_ok() {
                tokio::time::sleep(rtt).await;
            }
            answer
        }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}
