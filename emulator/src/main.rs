//! `fluximage-emulator`: run the emulator as a process (see `--help`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fluximage_emulator::{builtin_keys, Emulator, EmulatorConfig, Encode, Shape};

const HELP: &str = "\
fluximage-emulator: a local Fluximage-compatible HTTP server

USAGE:
    fluximage-emulator [OPTIONS]

OPTIONS:
    --listen ADDR           API origin address (default 127.0.0.1:0, a free port)
    --download-listen ADDR  signed-download origin address (default 127.0.0.1:0)
    --foreign-listen ADDR   foreign origin address, a redirect target that records
                            Authorization headers (default 127.0.0.1:0)
    --tls                   serve all three origins over HTTPS with a CA generated at start-up
    --tls-dir DIR           where to write ca.pem (default: a new temporary directory)
    --ttl SECS              lifetime of results and their download URLs (default 900)
    --rate N                requests per second per key; more get 429 (default: unlimited)
    --control               enable /__control/fault, /__control/reset, /__control/stats,
                            /__control/delete-results on the API origin
    --shape reference|alt   shape of the compress answer (default reference)
    --encode real|none      real image work, or none = pass-through of the uploaded bytes
                            (default real)
    --keys FILE             JSON list of extra accounts:
                            [{\"key\":\"flx_live_...\",\"plan\":\"pro\",\"compressor_used\":0,
                              \"ia_credits_used\":0,\"ia_topup_credits\":0}]
    --rolled KEY            mark KEY as rolled (answered 401); repeatable
    --agency-only           only Agency keys may call the API (others get 403)
    --print-keys            print the built-in keys as `PLAN KEY` lines and exit
    --help                  print this help and exit

When ready it prints `listening on URL`, then `download on URL`, `foreign on URL` and, with
--tls, `ca file PATH`. It exits with code 0 on SIGTERM or SIGINT.
";

fn fail(msg: &str) -> ExitCode {
    eprintln!("fluximage-emulator: {msg}\n(try --help)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut cfg = EmulatorConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let result: Result<(), String> = (|| {
            match flag.as_str() {
                "--help" | "-h" => {
                    print!("{HELP}");
                    std::process::exit(0);
                }
                "--print-keys" => {
                    for (plan, key) in builtin_keys() {
                        println!("{plan} {key}");
                    }
                    std::process::exit(0);
                }
                "--listen" | "--download-listen" | "--foreign-listen" => {
                    let v = value(&flag)?;
                    let addr: SocketAddr = v
                        .parse()
                        .map_err(|_| format!("{flag}: not an address: {v} (use IP:PORT)"))?;
                    match flag.as_str() {
                        "--listen" => cfg.listen = addr,
                        "--download-listen" => cfg.download_listen = addr,
                        _ => cfg.foreign_listen = addr,
                    }
                }
                "--tls" => cfg.tls = true,
                "--tls-dir" => cfg.tls_dir = Some(PathBuf::from(value(&flag)?)),
                "--ttl" => {
                    let v = value(&flag)?;
                    let s: u64 =
                        v.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                            format!("--ttl: not a positive number of seconds: {v}")
                        })?;
                    cfg.ttl = Duration::from_secs(s);
                }
                "--rate" => {
                    let v = value(&flag)?;
                    let n: u32 = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--rate: not a positive integer: {v}"))?;
                    cfg.rate = Some(n);
                }
                "--control" => cfg.control = true,
                "--shape" => {
                    cfg.shape = match value(&flag)?.as_str() {
                        "reference" => Shape::Reference,
                        "alt" => Shape::Alt,
                        other => return Err(format!("--shape: reference or alt, not {other}")),
                    }
                }
                "--encode" => {
                    cfg.encode = match value(&flag)?.as_str() {
                        "real" => Encode::Real,
                        "none" => Encode::None,
                        other => return Err(format!("--encode: real or none, not {other}")),
                    }
                }
                "--keys" => cfg.keys_file = Some(PathBuf::from(value(&flag)?)),
                "--rolled" => cfg.rolled.push(value(&flag)?),
                "--agency-only" => cfg.agency_only = true,
                other => return Err(format!("unknown argument: {other}")),
            }
            if inline.is_some() && matches!(flag.as_str(), "--tls" | "--control" | "--agency-only")
            {
                return Err(format!("{flag} takes no value"));
            }
            Ok(())
        })();
        if let Err(e) = result {
            return fail(&e);
        }
    }

    let signals = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    // Install the handlers before announcing readiness, so that an early SIGTERM is handled.
    let stop = {
        let _guard = signals.enter();
        match shutdown_signal() {
            Ok(f) => f,
            Err(e) => return fail(&format!("cannot install signal handlers: {e}")),
        }
    };
    let emu = match Emulator::start(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("fluximage-emulator: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", emu.base_url());
        let _ = writeln!(out, "download on {}", emu.download_url());
        let _ = writeln!(out, "foreign on {}", emu.foreign_url());
        if let Some(ca) = emu.ca_pem_path() {
            let _ = writeln!(out, "ca file {}", ca.display());
        }
        let _ = out.flush();
    }
    signals.block_on(stop);
    drop(emu);
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or SIGINT.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
