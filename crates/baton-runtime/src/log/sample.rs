//! `%[expr]` in log formats: the sample fetches a finished stream can still answer (connection
//! addresses and routing names). Converters are refused at start-up rather than ignored.

use super::format::Context;
use super::record::Record;

/// A fetch a log line can evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    /// `src`.
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`.
    Dst,
    /// `dst_port`.
    DstPort,
    /// `fe_name`.
    FeName,
    /// `be_name`.
    BeName,
    /// `srv_name`.
    SrvName,
    /// `status`.
    Status,
}

/// Parses the text between `%[` and `]`.
pub fn parse(text: &str) -> Result<Sample, String> {
    Ok(match text.trim() {
        "src" => Sample::Src,
        "src_port" => Sample::SrcPort,
        "dst" => Sample::Dst,
        "dst_port" => Sample::DstPort,
        "fe_name" => Sample::FeName,
        "be_name" => Sample::BeName,
        "srv_name" => Sample::SrvName,
        "status" => Sample::Status,
        other => {
            return Err(format!(
            "sample fetch '{other}' is not supported in log formats by baton (see docs/logging.md)"
        ))
        }
    })
}

impl Sample {
    /// Whether evaluating it needs the frontend's local address.
    pub fn needs_local_addr(&self) -> bool {
        matches!(self, Sample::Dst | Sample::DstPort)
    }

    /// Its value for this record (`None`: no value, printed `-`).
    pub fn eval(&self, rec: &Record, ctx: &Context<'_>) -> Option<String> {
        Some(match self {
            Sample::Src => rec.client.ip().to_string(),
            Sample::SrcPort => rec.client.port().to_string(),
            Sample::Dst => rec.local?.ip().to_string(),
            Sample::DstPort => rec.local?.port().to_string(),
            Sample::FeName => ctx.frontend.to_string(),
            Sample::BeName => rec.backend.as_deref()?.to_string(),
            Sample::SrvName => rec.server.as_deref()?.to_string(),
            Sample::Status => (rec.status >= 0).then(|| rec.status.to_string())?,
        })
    }
}
