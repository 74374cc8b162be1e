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

/// HAProxy 2.6's built-in page for a status that rules generate (`deny_status`, `auth`,
/// `http-response deny`): head without the final blank line and without a `Connection`
/// header (the session adds what the client's connection needs), then the body.
pub fn rule_page(code: u16) -> (Vec<u8>, Vec<u8>) {
    let (reason, message) = match code {
        200 => ("OK", "Service ready."),
        400 => ("Bad request", "Your browser sent an invalid request."),
        401 | 407 => (
            "Unauthorized",
            "You need a valid user and password to access this content.",
        ),
        403 => ("Forbidden", "Request forbidden by administrative rules."),
        404 => ("Not Found", "The resource could not be found."),
        405 => (
            "Method Not Allowed",
            "A request was made of a resource using a request method not supported by that resource",
        ),
        408 => (
            "Request Time-out",
            "Your browser didn't send a complete request in time.",
        ),
        410 => (
            "Gone",
            "The resource is no longer available and will not be available again.",
        ),
        413 => (
            "Payload Too Large",
            "The request entity exceeds the maximum allowed.",
        ),
        425 => ("Too Early", "Your browser sent early data."),
        429 => (
            "Too Many Requests",
            "You have sent too many requests in a given amount of time.",
        ),
        500 => ("Internal Server Error", "An internal server error occurred."),
        501 => (
            "Not Implemented",
            ".The server does not support the functionality required to fulfill the request.",
        ),
        502 => (
            "Bad Gateway",
            "The server returned an invalid or incomplete response.",
        ),
        503 => (
            "Service Unavailable",
            "No server is available to handle this request.",
        ),
        504 => ("Gateway Time-out", "The server didn't respond in time."),
        _ => (reason(code), ""),
    };
    let body = format!("<html><body><h1>{code} {reason}</h1>\n{message}\n</body></html>\n");
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n",
        body.len()
    );
    (head.into_bytes(), body.into_bytes())
}

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
    fn rule_pages_match_haproxy() {
        let (head, body) = rule_page(403);
        let mut page = head;
        page.extend_from_slice(b"\r\n");
        page.extend_from_slice(&body);
        // As Debian's haproxy 2.6 sends it for `http-request deny`.
        assert_eq!(
            page,
            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"
        );
        assert_eq!(rule_page(501).1.len(), 136);
        assert_eq!(rule_page(405).1.len(), 146);
    }

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
