//! `fluximage-emulator`: run the emulator as a process (see `--help`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    --key PLAN=KEY          add a fixed key on a plan (free, starter, pro, agency), e.g.
                            --key agency=flx_live_<40 hex digits>; repeatable
    --rolled KEY            mark KEY as rolled (answered 401); repeatable
    --agency-only           only Agency keys may call the API (others get 403)

NETWORK SHAPING (a slow link, without root or tc; applies to all three origins):
    --rtt-ms MS             added round trip: once at connection set-up, once before the
                            first byte of every answer (default 0)
    --upload-rate RATE      client-to-server cap per origin, shared by its connections
    --download-rate RATE    server-to-client cap per origin, shared by its connections
    --conn-upload-rate RATE, --conn-download-rate RATE
                            the same caps for each connection on its own
                            (RATE: bytes per second, or with a unit: 500kB, 8MB, 2MiB,
                            40Mbit, 1Gbit; kB/MB/GB are powers of 1000, KiB/MiB of 1024)
    --work-ms MS            server work time added to each image (default 0)
    --work-jitter-ms MS     vary each image's work time uniformly by up to MS either way
    --encoders N            at most N images worked on at once, across all requests

OTHER:
    --ready-file PATH       once listening, write the URLs as JSON to PATH (atomically):
                            {\"v\":1,\"api\":URL,\"downloads\":URL,\"foreign\":URL,
                             \"control\":BOOL,\"ca_file\":PATH|null,\"pid\":N}
                            removed again when the emulator exits
    --print-keys            print the keys as `PLAN KEY` lines (built-in ones, then those of
                            --key) and exit
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
    let mut print_keys = false;
    let mut ready_file: Option<PathBuf> = None;
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
                "--print-keys" => print_keys = true,
                "--key" => {
                    let v = value(&flag)?;
                    let (plan, key) = v.split_once('=').ok_or_else(|| {
                        format!("--key: PLAN=KEY, e.g. agency=flx_live_<40 hex digits>, not {v}")
                    })?;
                    cfg.keys
                        .push((plan.trim().to_string(), key.trim().to_string()));
                }
                "--ready-file" => ready_file = Some(PathBuf::from(value(&flag)?)),
                "--rtt-ms" | "--work-ms" | "--work-jitter-ms" => {
                    let v = value(&flag)?;
                    let ms: u64 = v
                        .parse()
                        .map_err(|_| format!("{flag}: not a number of milliseconds: {v}"))?;
                    let d = Duration::from_millis(ms);
                    match flag.as_str() {
                        "--rtt-ms" => cfg.rtt = d,
                        "--work-ms" => cfg.work_time = d,
                        _ => cfg.work_jitter = d,
                    }
                }
                "--upload-rate"
                | "--download-rate"
                | "--conn-upload-rate"
                | "--conn-download-rate" => {
                    let v = value(&flag)?;
                    let r = Some(parse_rate(&v).map_err(|e| format!("{flag}: {e}"))?);
                    match flag.as_str() {
                        "--upload-rate" => cfg.upload_rate = r,
                        "--download-rate" => cfg.download_rate = r,
                        "--conn-upload-rate" => cfg.conn_upload_rate = r,
                        _ => cfg.conn_download_rate = r,
                    }
                }
                "--encoders" => {
                    let v = value(&flag)?;
                    let n: usize = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--encoders: not a positive integer: {v}"))?;
                    cfg.encoders = Some(n);
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
            if inline.is_some()
                && matches!(
                    flag.as_str(),
                    "--tls" | "--control" | "--agency-only" | "--print-keys"
                )
            {
                return Err(format!("{flag} takes no value"));
            }
            Ok(())
        })();
        if let Err(e) = result {
            return fail(&e);
        }
    }

    if let Err(e) = check_keys(&cfg.keys) {
        return fail(&e);
    }
    if print_keys {
        let mut out = std::io::stdout().lock();
        let builtin = builtin_keys()
            .iter()
            .map(|(p, k)| (p.to_string(), k.to_string()));
        for (plan, key) in builtin.chain(cfg.keys.iter().cloned()) {
            let _ = writeln!(out, "{plan} {key}");
        }
        return ExitCode::SUCCESS;
    }
    let control = cfg.control;

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
    if let Some(path) = &ready_file {
        if let Err(e) = write_ready_file(path, &emu, control) {
            eprintln!(
                "fluximage-emulator: cannot write the ready file {}: {e}",
                path.display()
            );
            return ExitCode::from(1);
        }
    }
    signals.block_on(stop);
    if let Some(path) = &ready_file {
        let _ = std::fs::remove_file(path);
    }
    drop(emu);
    ExitCode::SUCCESS
}

/// Bytes per second from `8000000`, `500kB`, `8MB`, `2MiB`, `40Mbit` (an optional `/s` too).
fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("not a rate: {s:?} (e.g. 8MB, 40Mbit, 500kB, 1000000)"))?;
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kbit" | "Kbit" => 1e3 / 8.0,
        "Mbit" => 1e6 / 8.0,
        "Gbit" => 1e9 / 8.0,
        other => {
            return Err(format!(
            "unknown unit {other:?} in {s:?} (use B, kB, MB, GB, KiB, MiB, GiB, kbit, Mbit, Gbit)"
        ))
        }
    };
    let bytes = (n * scale).round();
    if bytes < 1.0 || !bytes.is_finite() {
        return Err(format!("not a positive rate: {s:?}"));
    }
    Ok(bytes as u64)
}

/// Refuses unknown plans and malformed keys before anything starts, naming the argument.
fn check_keys(keys: &[(String, String)]) -> Result<(), String> {
    for (plan, key) in keys {
        if !builtin_keys().iter().any(|(p, _)| p == plan) {
            return Err(format!(
                "--key {plan}=...: unknown plan {plan:?} (use free, starter, pro or agency)"
            ));
        }
        let hex = key.strip_prefix("flx_live_").unwrap_or("");
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "--key {plan}={key}: a key is flx_live_ followed by 40 hexadecimal digits"
            ));
        }
    }
    Ok(())
}

/// Writes the ready file next to its final name, then renames it into place, so a reader
/// never sees it half written.
fn write_ready_file(path: &Path, emu: &Emulator, control: bool) -> std::io::Result<()> {
    let doc = serde_json::json!({
        "v": 1,
        "api": emu.base_url(),
        "downloads": emu.download_url(),
        "foreign": emu.foreign_url(),
        "control": control,
        "ca_file": emu.ca_pem_path(),
        "pid": std::process::id(),
    });
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written =
        std::fs::write(&tmp, format!("{doc}\n")).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
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

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates_with_and_without_units() {
        assert_eq!(parse_rate("8000000"), Ok(8_000_000));
        assert_eq!(parse_rate("8MB"), Ok(8_000_000));
        assert_eq!(parse_rate("8MB/s"), Ok(8_000_000));
        assert_eq!(parse_rate("500kB"), Ok(500_000));
        assert_eq!(parse_rate("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_rate("40Mbit"), Ok(5_000_000));
        assert_eq!(parse_rate("1.5MB"), Ok(1_500_000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("8 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("").is_err());
    }
}
