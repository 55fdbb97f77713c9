//! Whether the client of a connection is still there, asked while a handler holds its answer.

use std::io::ErrorKind;
use std::net::TcpStream;

/// A second handle (a duplicated descriptor) on a connection's socket, peeked without blocking.
/// It is dropped with the connection, so it never keeps a closed connection open.
#[derive(Debug)]
pub(crate) struct Peer {
    socket: Option<TcpStream>,
}

impl Peer {
    /// `socket` shares the connection's non-blocking mode; `None` (no descriptor left to
    /// duplicate) means "assume connected".
    pub fn new(socket: Option<TcpStream>) -> Peer {
        Peer { socket }
    }

    /// True once the client closed or reset the connection. Bytes still waiting to be read (a
    /// pipelined request, a TLS alert) count as connected: EOF cannot be seen behind them.
    pub fn gone(&self) -> bool {
        let Some(s) = &self.socket else {
            return false;
        };
        match s.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                false
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn sees_a_closed_client_and_not_a_quiet_one() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let peer = Peer::new(Some(server.try_clone().unwrap()));
        assert!(!peer.gone(), "a connected, quiet client");
        client.write_all(b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!peer.gone(), "unread bytes");
        let mut b = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut &server, &mut b).unwrap(), 1);
        drop(client);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(peer.gone(), "a client that hung up");
        assert!(!Peer::new(None).gone());
    }
}
