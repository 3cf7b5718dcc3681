//! `cnictl explain SRC DST`: a path hop by hop through the reference dataplane.

use std::process::ExitCode;

use anyhow::Result;
use cnictl_analyzers::explain::{self, ExplainRequest, Verdict};
use cnictl_dataplane::Dataplane;

use crate::args::{ExplainArgs, Output, Proto};
use crate::{out, resolve};

pub fn run(args: ExplainArgs) -> Result<ExitCode> {
    let snap = resolve::load(&args.source)?;
    let dp = Dataplane::new(&snap);
    let req = request(&args);
    let ex = explain::explain(&snap, &dp, &req)?;
    match args.render.output {
        Output::Json => out::print_json(&ex)?,
        Output::Text => out::print(&explain::render_text(&ex))?,
    }
    Ok(exit_code(&ex))
}

pub fn request(args: &ExplainArgs) -> ExplainRequest {
    let mut req = ExplainRequest::new(&args.src, &args.dst);
    req.port = args.port;
    req.proto = args.proto.map(|p| match p {
        Proto::Icmp => cnictl_dataplane::Proto::Icmp,
        Proto::Tcp => cnictl_dataplane::Proto::Tcp,
        Proto::Udp => cnictl_dataplane::Proto::Udp,
    });
    req.size = Some(u32::from(args.size));
    req.no_df = args.no_df;
    req.reverse = args.reverse;
    req
}

/// 0 when the packet (and, with --reverse, its answer) is delivered.
pub fn exit_code(ex: &explain::Explanation) -> ExitCode {
    let back_ok = ex.reverse.as_ref().is_none_or(|r| r.verdict == Verdict::Delivered);
    if ex.verdict == Verdict::Delivered && back_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
