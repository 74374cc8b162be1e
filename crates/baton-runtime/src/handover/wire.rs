//! The `_getsocks` wire format, byte for byte as HAProxy 2.3+ speaks it (LP #1712925's fix).
//!
//! After the client writes `_getsocks\n` on a stats socket that has `expose-fd listeners`, the
//! server sends: one message with the FD count as a native-endian `i32`; then batches of at most
//! [`MAX_SEND_FD`] descriptors, each one `sendmsg` whose `SCM_RIGHTS` carries the FDs and whose
//! data is, per FD in the same order, `u8 ns_len, ns, u8 if_len, if, i32 options` (options are
//! always 0 since HAProxy 2.3: the receiver reads socket properties from the socket itself).
//! The client acknowledges every message with a 4-byte integer; the server waits for an ack
//! after each batch (and reads the last one too, as HAProxy 3.2+ does).

/// FDs per `sendmsg` (HAProxy 2.6+; older releases used 253, which receivers also accept).
pub const MAX_SEND_FD: usize = 252;

/// The longest namespace or interface name a record can carry.
pub const MAX_NAME: usize = 255;

/// Bytes a receive buffer needs for one worst-case batch of records.
pub const MAX_BATCH_DATA: usize = (MAX_SEND_FD + 1) * (2 + 2 * MAX_NAME + 4);

/// The command that asks for the listeners.
pub const COMMAND: &[u8] = b"_getsocks\n";

/// What travels beside one FD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Network namespace name (baton binds none: always empty when sent by baton).
    pub namespace: String,
    /// `interface` bind option, or empty.
    pub interface: String,
    /// Listener options: 0 from HAProxy 2.3+ and baton; bits of `LI_O_*` from 1.8–2.2.
    pub options: i32,
}

/// A malformed record stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed socket record #{index}: {reason}")]
pub struct RecordError {
    /// Which record (0-based).
    pub index: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// Appends one record to `out`. Names longer than [`MAX_NAME`] are cut (they cannot exist on
/// Linux: interface names are at most 15 bytes).
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    for name in [&record.namespace, &record.interface] {
        let bytes = &name.as_bytes()[..name.len().min(MAX_NAME)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&record.options.to_ne_bytes());
}

/// Parses exactly `count` records from `data`.
pub fn decode(mut data: &[u8], count: usize) -> Result<Vec<Record>, RecordError> {
    let mut records = Vec::with_capacity(count);
    for index in 0..count {
        let name = |data: &mut &[u8]| -> Result<String, RecordError> {
            let (&len, rest) = data.split_first().ok_or(RecordError {
                index,
                reason: "truncated length",
            })?;
            let len = usize::from(len);
            if rest.len() < len {
                return Err(RecordError {
                    index,
                    reason: "truncated name",
                });
            }
            let text = String::from_utf8_lossy(&rest[..len]).into_owned();
            *data = &rest[len..];
            Ok(text)
        };
        let namespace = name(&mut data)?;
        let interface = name(&mut data)?;
        if data.len() < 4 {
            return Err(RecordError {
                index,
                reason: "truncated options",
            });
        }
        let options = i32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
        data = &data[4..];
        records.push(Record {
            namespace,
            interface,
            options,
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let records = vec![
            Record::default(),
            Record {
                interface: "eth0".into(),
                ..Default::default()
            },
            Record {
                namespace: "ns1".into(),
                interface: "lo".into(),
                options: 0x400,
            },
        ];
        let mut data = Vec::new();
        for r in &records {
            encode(r, &mut data);
        }
        assert_eq!(data.len(), 6 + 10 + 11);
        assert_eq!(&data[..6], &[0, 0, 0, 0, 0, 0]);
        assert_eq!(decode(&data, 3).unwrap(), records);
    }

    #[test]
    fn truncation_is_an_error_not_a_panic() {
        let mut data = Vec::new();
        encode(
            &Record {
                interface: "eth0".into(),
                ..Default::default()
            },
            &mut data,
        );
        for cut in 0..data.len() {
            assert!(decode(&data[..cut], 1).is_err(), "cut at {cut}");
        }
        assert!(decode(&[0, 10, b'x'], 1).is_err());
    }
}
