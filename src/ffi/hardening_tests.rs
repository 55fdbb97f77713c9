//! Hardening checks of the C ABI itself (issue 21): what a C caller sees.

use super::batch::flx_batch;
use super::client::{flx_client, flx_client_free, flx_client_new, flx_client_set_proxy};
use super::compress::{flx_compress_buffer, flx_compress_inputs, flx_input};
use super::{flx_last_error, flx_status};
use std::ffi::CStr;
use std::process::Command;

const KEY: &std::ffi::CStr = c"flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3";

fn last_error() -> String {
    // SAFETY: flx_last_error returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(flx_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn new_client() -> *mut flx_client {
    let c = flx_client_new(KEY.as_ptr());
    assert!(!c.is_null(), "{}", last_error());
    c
}

#[test]
fn set_proxy_refuses_socks_and_the_client_keeps_working() {
    let c = new_client();
    for url in [
        c"socks5://127.0.0.1:1080",
        c"socks5h://proxy:1080",
        c"socks4://proxy",
    ] {
        assert_eq!(
            flx_client_set_proxy(c, url.as_ptr()),
            flx_status::FLX_INVALID_ARGUMENT
        );
        assert!(last_error().contains("SOCKS"), "{}", last_error());
    }
    assert_eq!(
        flx_client_set_proxy(c, c"http://user:pa55word-x@127.0.0.1:3128".as_ptr()),
        flx_status::FLX_OK
    );
    assert_eq!(
        flx_client_set_proxy(c, std::ptr::null()),
        flx_status::FLX_OK
    );
    flx_client_free(c);
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Run alone in a child process (the peak is process-wide) by the test below.
#[test]
#[ignore = "run as a child process by a_huge_buffer_is_refused_before_it_is_copied"]
fn child_huge_buffer() {
    const LEN: usize = 256 << 20;
    // Zeroed pages that are never touched stay out of the resident set: only a copy adds them.
    let data = vec![0u8; LEN];
    let c = new_client();
    let before = peak_rss_kib();
    let mut batch: *mut flx_batch = std::ptr::null_mut();
    let s = flx_compress_buffer(
        c,
        data.as_ptr(),
        LEN,
        c"huge.png".as_ptr(),
        std::ptr::null(),
        &mut batch,
    );
    assert_eq!(s, flx_status::FLX_TOO_LARGE, "{}", last_error());
    assert!(
        last_error().contains(&format!("{LEN} bytes")),
        "{}",
        last_error()
    );
    let input = flx_input {
        path: std::ptr::null(),
        data: data.as_ptr(),
        len: LEN,
        name: c"huge.png".as_ptr(),
    };
    let s = flx_compress_inputs(c, &input, 1, std::ptr::null(), &mut batch);
    assert_eq!(s, flx_status::FLX_TOO_LARGE, "{}", last_error());
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(
        grown_mib < 32,
        "the buffer was copied: the peak grew by {grown_mib} MiB"
    );
    flx_client_free(c);
    drop(data);
}

#[test]
fn a_huge_buffer_is_refused_before_it_is_copied() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "ffi::hardening_tests::child_huge_buffer",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}
