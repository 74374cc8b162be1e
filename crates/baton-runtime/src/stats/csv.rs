//! `show stat`: HAProxy 2.6's CSV, with the exact header (column names and order) so tools that
//! parse it by name or by position work unchanged. baton fills the columns it really counts and
//! leaves the others empty, as HAProxy does for columns that do not apply.

use super::ApiContext;
use crate::backend::server::Status;
use crate::counters::Counters;
use baton_config::model::Mode;

/// HAProxy 2.6.12's `show stat` header line (Debian's build), without the leading `# `.
pub const HEADER: &str = "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

/// One CSV row being filled by column name.
struct Row {
    /// Column values in header order.
    values: Vec<String>,
}

impl Row {
    /// An empty row.
    fn new() -> Self {
        Row {
            values: vec![String::new(); HEADER.split(',').count() - 1],
        }
    }

    /// Sets a column.
    fn set(&mut self, column: &str, value: impl ToString) -> &mut Self {
        if let Some(i) = HEADER.split(',').position(|c| c == column) {
            self.values[i] = value.to_string();
        }
        self
    }

    /// Sets the columns a proxy's counters fill.
    fn counters(&mut self, c: &Counters, http: bool) -> &mut Self {
        self.set("scur", Counters::get(&c.cur))
            .set("smax", Counters::get(&c.max))
            .set("stot", Counters::get(&c.total))
            .set("bin", Counters::get(&c.bytes_in))
            .set("bout", Counters::get(&c.bytes_out));
        if http {
            for (i, name) in [
                "hrsp_1xx",
                "hrsp_2xx",
                "hrsp_3xx",
                "hrsp_4xx",
                "hrsp_5xx",
                "hrsp_other",
            ]
            .iter()
            .enumerate()
            {
                self.set(name, Counters::get(&c.responses[i]));
            }
            self.set("req_tot", Counters::get(&c.requests));
        }
        self
    }

    /// The CSV line.
    fn line(&self) -> String {
        let mut out = self.values.join(",");
        out.push_str(",\n");
        out
    }
}

/// The whole `show stat` output.
pub fn show_stat(ctx: &ApiContext) -> String {
    let mut out = format!("# {HEADER}\n");
    for (iid, fe) in &ctx.frontends {
        let http = fe.mode == Mode::Http;
        let mut row = Row::new();
        row.set("pxname", &fe.name)
            .set("svname", "FRONTEND")
            .counters(&fe.counters, http)
            .set("slim", fe.maxconn)
            .set("ereq", Counters::get(&fe.counters.req_errors))
            .set(
                "status",
                if ctx.lifecycle.phase() >= crate::lifecycle::Phase::Draining {
                    "STOP"
                } else {
                    "OPEN"
                },
            )
            .set("pid", 1)
            .set("iid", iid)
            .set("sid", 0)
            .set("type", 0)
            .set("mode", fe.mode.name());
        out.push_str(&row.line());
    }
    let mut names: Vec<&String> = ctx.backends.keys().collect();
    names.sort_by_key(|n| ctx.backend_ids.get(*n).copied().unwrap_or(0));
    for name in names {
        let be = &ctx.backends[name];
        let iid = ctx.backend_ids.get(name).copied().unwrap_or(0);
        let http = be.mode == Mode::Http;
        let (mut act, mut bck, mut weight, mut any_up) = (0, 0, 0, false);
        for (sid, s) in be.servers.iter().enumerate() {
            let up = s.status() == Status::Up;
            any_up |= up;
            if up {
                weight += s.weight();
                if s.options.backup {
                    bck += 1
                } else {
                    act += 1
                }
            }
            let mut row = Row::new();
            row.set("pxname", name)
                .set("svname", &s.name)
                .set("qcur", 0)
                .set("scur", s.active())
                .set("smax", s.max())
                .set(
                    "slim",
                    if s.options.maxconn > 0 {
                        s.options.maxconn.to_string()
                    } else {
                        String::new()
                    },
                )
                .set("stot", s.total())
                .set(
                    "status",
                    match s.status() {
                        Status::Up => "UP",
                        Status::Down => "DOWN",
                        Status::Maint => "MAINT",
                        Status::Drain => "DRAIN",
                    },
                )
                .set("weight", s.weight())
                .set("uweight", s.weight())
                .set("act", u8::from(!s.options.backup))
                .set("bck", u8::from(s.options.backup))
                .set("pid", 1)
                .set("iid", iid)
                .set("sid", sid + 1)
                .set("lbtot", s.total())
                .set("type", 2)
                .set("addr", s.addr)
                .set("mode", be.mode.name());
            row.set("lastchg", s.seconds_since_change());
            if s.options.check {
                row.set("chkfail", s.check_failures())
                    .set("chkdown", s.downs())
                    .set("check_rise", s.options.rise)
                    .set("check_fall", s.options.fall);
                if let Some(check) = s.last_check() {
                    row.set("check_status", check.status)
                        .set(
                            "check_code",
                            check.code.map(|c| c.to_string()).unwrap_or_default(),
                        )
                        .set("check_duration", check.duration_ms);
                }
            }
            out.push_str(&row.line());
        }
        let mut row = Row::new();
        row.set("pxname", name)
            .set("svname", "BACKEND")
            .set("qcur", Counters::get(&be.counters.queued))
            .set("qmax", Counters::get(&be.counters.queued_max))
            .counters(&be.counters, http)
            .set("econ", Counters::get(&be.counters.conn_errors))
            .set("eresp", Counters::get(&be.counters.resp_errors))
            .set("status", if any_up { "UP" } else { "DOWN" })
            .set("weight", weight)
            .set("uweight", weight)
            .set("act", act)
            .set("bck", bck)
            .set("pid", 1)
            .set("iid", iid)
            .set("sid", 0)
            .set("lbtot", be.servers.iter().map(|s| s.total()).sum::<u64>())
            .set("type", 1)
            .set("mode", be.mode.name());
        out.push_str(&row.line());
    }
    out
}
