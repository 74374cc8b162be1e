//! `baton --cli COMMAND -S ADDR`: a tiny master CLI client shipped in the binary, so the
//! systemd unit's `ExecReload` needs no socat. It prints the answer and exits 1 when the
//! answer to `reload` says `Success=0` (so `systemctl reload` fails on a bad configuration),
//! 0 otherwise.

use std::io::{Read, Write};
use std::time::Duration;

/// How long to wait for an answer (a reload answers when the new worker serves).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// A connected master CLI stream, UNIX or TCP.
fn connect(address: &str) -> std::io::Result<Box<dyn ReadWrite>> {
    // A bare file name (no '/', '@' or ':') is a UNIX socket in the current directory here.
    let address = if address.contains(['/', '@', ':']) {
        address.to_string()
    } else {
        format!("./{address}")
    };
    let spec = crate::mworker::console::parse_spec(&address)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    match spec.address {
        baton_config::model::ListenAddress::Unix(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)?;
            s.set_read_timeout(Some(ANSWER_TIMEOUT))?;
            Ok(Box::new(s))
        }
        other => {
            let addr = baton_runtime::listener::socket_addr(&other).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to connect to")
            })?;
            let s = std::net::TcpStream::connect(addr)?;
            s.set_read_timeout(Some(ANSWER_TIMEOUT))?;
            Ok(Box::new(s))
        }
    }
}

/// A stream the client can read and write.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Sends `command`, prints the answer; returns the exit code.
pub fn run(address: &str, command: &str) -> i32 {
    let result = (|| -> std::io::Result<String> {
        let mut stream = connect(address)?;
        stream.write_all(command.trim_end_matches('\n').as_bytes())?;
        stream.write_all(b"\n")?;
        let mut answer = Vec::new();
        stream.take(64 << 20).read_to_end(&mut answer)?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    })();
    match result {
        Ok(answer) => {
            print!("{answer}");
            let _ = std::io::stdout().flush();
            if answer.starts_with("Success=0") || answer.starts_with("Permission denied") {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("baton --cli: cannot talk to the master CLI at {address}: {e}");
            1
        }
    }
}
