//! Seamless reload: handing the listening sockets from one process to the next (`_getsocks`,
//! `-x`), so both share one accept queue and no connection waiting in it is ever reset.

pub mod client;
pub mod inherited;
pub mod server;
pub mod wire;

#[cfg(test)]
mod tests {
    use super::client::fetch;
    use super::inherited::{Address, InheritedSocket};
    use super::server::{send_sockets, ExportedSocket};
    use super::wire::Record;
    use std::os::unix::net::UnixListener;

    /// Sends `n` listeners through a real UNIX socket and checks each arrives, in order, as the
    /// same listening socket (same address) with its record.
    fn transfer(n: usize) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.sock");
        let stats = UnixListener::bind(&path).unwrap();
        let listeners: Vec<std::net::TcpListener> = (0..n)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let exported: Vec<ExportedSocket> = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| ExportedSocket {
                fd: l.try_clone().unwrap().into(),
                record: Record {
                    interface: if i % 2 == 0 {
                        String::new()
                    } else {
                        "lo".into()
                    },
                    ..Default::default()
                },
            })
            .collect();
        let server = std::thread::spawn(move || {
            let (stream, _) = stats.accept().unwrap();
            let mut command = [0u8; 10];
            std::io::Read::read_exact(&mut &stream, &mut command).unwrap();
            assert_eq!(&command, b"_getsocks\n");
            send_sockets(stream, &exported).unwrap()
        });
        let received = fetch(&path).unwrap();
        assert_eq!(server.join().unwrap(), n);
        assert_eq!(received.len(), n);
        for (i, (fd, record)) in received.into_iter().enumerate() {
            let s = InheritedSocket::inspect(fd, record);
            assert_eq!(s.address, Address::Inet(addrs[i]), "socket {i}");
            assert_eq!(s.interface, if i % 2 == 0 { "" } else { "lo" });
        }
    }

    #[test]
    fn one_batch() {
        transfer(3);
    }

    #[test]
    fn several_batches() {
        transfer(600); // 252 + 252 + 96
    }

    #[test]
    fn nothing_to_send_means_no_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.sock");
        let stats = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = stats.accept().unwrap();
            send_sockets(stream, &[]).unwrap()
        });
        assert!(matches!(
            fetch(&path),
            Err(super::client::FetchError::NoCount)
        ));
        assert_eq!(server.join().unwrap(), 0);
    }
}
