//! The responses baton generates itself: HAProxy's error pages and `http-request return`.
//!
//! Clients and monitoring written against HAProxy match on these status lines and bodies, so
//! they are byte-for-byte what HAProxy 2.6 sends (its built-in pages, as Debian also ships them
//! in /etc/haproxy/errors), always with `Connection: close`.

/// The statuses baton answers by itself when something goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStatus {
    /// Malformed request.
    BadRequest = 400,
    /// Refused by a rule.
    Forbidden = 403,
    /// The request head did not arrive within `timeout http-request`.
    RequestTimeout = 408,
    /// Internal failure.
    InternalError = 500,
    /// The server's response was invalid or cut short.
    BadGateway = 502,
    /// No server available (all down, queue timeout, connection failures).
    ServiceUnavailable = 503,
    /// The server did not answer within `timeout server`.
    GatewayTimeout = 504,
}

impl ErrorStatus {
    /// The numeric code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The full response: head and body.
    pub fn response(self) -> &'static [u8] {
        match self {
            ErrorStatus::BadRequest => PAGE_400,
            ErrorStatus::Forbidden => PAGE_403,
            ErrorStatus::RequestTimeout => PAGE_408,
            ErrorStatus::InternalError => PAGE_500,
            ErrorStatus::BadGateway => PAGE_502,
            ErrorStatus::ServiceUnavailable => PAGE_503,
            ErrorStatus::GatewayTimeout => PAGE_504,
        }
    }
}

// The bodies' lengths are checked by the unit test below.
const PAGE_400: &[u8] = b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n";
const PAGE_403: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-length: 93\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n";
const PAGE_408: &[u8] = b"HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";
const PAGE_500: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-length: 97\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n";
const PAGE_502: &[u8] = b"HTTP/1.1 502 Bad Gateway\r\nContent-length: 107\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n";
const PAGE_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-length: 107\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";
const PAGE_504: &[u8] = b"HTTP/1.1 504 Gateway Time-out\r\nContent-length: 92\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n";

/// The reason phrase HAProxy uses for a status it generates (`http-request return`).
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Time-out",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_lengths_are_exact() {
        for status in [
            ErrorStatus::BadRequest,
            ErrorStatus::Forbidden,
            ErrorStatus::RequestTimeout,
            ErrorStatus::InternalError,
            ErrorStatus::BadGateway,
            ErrorStatus::ServiceUnavailable,
            ErrorStatus::GatewayTimeout,
        ] {
            let page = std::str::from_utf8(status.response()).unwrap();
            let (head, body) = page.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", status.code())));
            let declared: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(declared, body.len(), "{}", status.code());
        }
    }
}
